"""The pool's vardiff, ban and share-verification policies: registered by name through
their hooks, selected by ``[stratum]`` keys, and the built-in ``score`` ban and ``sampled``
verification.

Sampled verification is tested twice: on the policy alone, where a scripted cheater
earns trust and then submits fakes many thousands of times (with a stratified RNG the
catch rate is at least the rate exactly; with a seeded one it stays above a binomial
bound that a correct policy misses with probability below 1e-6), and through a served
pool, where every fake's fate must follow the policy's single draw for that share.
"""

from __future__ import annotations

import math
import random
from collections.abc import Callable, Iterator
from typing import Any

import anyio
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from stratum_testkit import BASE_SETS, INSTALLED, MINER_ADDRESS, Client, served_pool

from zion_core import ConfigError
from zion_core.chain.keys import WalletKeys
from zion_hookspecs import hookimpl
from zion_plugin_stratum import protocol
from zion_plugin_stratum.bans import ScoreBan
from zion_plugin_stratum.config import MIN_VERIFY_SAMPLE_RATE, StratumConfig
from zion_plugin_stratum.verification import SampledVerification, VerifyAll

OTHER_ADDRESS = str(WalletKeys.from_seed(bytes([11]) * 32).address("devnet"))
HIGH = ["chain.initial_difficulty=1000000000"]
"""A network difficulty no real share reaches: shares never make blocks."""
SAMPLED = [
    *HIGH,
    "stratum.verification_policy=sampled",
    f"stratum.verify_sample_rate={MIN_VERIFY_SAMPLE_RATE}",
    "stratum.verify_trust_shares=2",
    "stratum.ban_score=0",
]
CANDIDATE = b"\x01" + bytes(31)
"""A claimed result meeting any network difficulty: a block candidate."""


def fake_result(rng: random.Random) -> bytes:
    """A random result meeting share difficulty 1 to 256 but never a block."""
    return rng.randbytes(31) + bytes([rng.randrange(1, 256)])


def stratified(seed: int, block: int = 1000) -> Iterator[float]:
    """Draws in [0, 1) whose every run of ``block`` holds each ``(i + 0.5) / block`` once,
    in a shuffled order: exactly ``rate * block`` of them fall below ``rate``."""
    rng = random.Random(seed)
    while True:
        values = [(i + 0.5) / block for i in range(block)]
        rng.shuffle(values)
        yield from values


# -------------------------------------------------------------------- the policies alone


def test_sampled_verifies_new_miners_until_both_address_and_ip_are_trusted() -> None:
    policy = SampledVerification(0.1, 3, rng=lambda: 0.99)  # the draw never asks
    ask = policy.should_verify
    for _ in range(3):
        assert ask("A", "1.1.1.1", difficulty=5, candidate=False)
        policy.record("A", "1.1.1.1", valid=True)
    assert not ask("A", "1.1.1.1", difficulty=5, candidate=False)
    assert policy.trust("A", "1.1.1.1") == (3, 3)
    # a trusted address from a new IP, and a new address on a trusted IP, are verified
    assert ask("A", "2.2.2.2", difficulty=5, candidate=False)
    assert ask("B", "1.1.1.1", difficulty=5, candidate=False)
    # a block candidate always is
    assert ask("A", "1.1.1.1", difficulty=5, candidate=True)


def test_a_failure_resets_the_trust_of_the_address_and_of_the_ip() -> None:
    policy = SampledVerification(0.1, 2, rng=lambda: 0.99)
    for address, ip in [("A", "ip1"), ("A", "ip1"), ("B", "ip2"), ("B", "ip2")]:
        policy.record(address, ip, valid=True)
    policy.record("C", "ip2", valid=True)
    policy.record("C", "ip1", valid=True)
    policy.record("C", "ip1", valid=True)
    assert policy.trusted("A", "ip2") and policy.trusted("C", "ip2")
    policy.record("A", "ip1", valid=False)
    assert policy.trust("A", "ip1") == (0, 0)
    assert not policy.trusted("A", "ip2")  # the address, from any IP
    assert not policy.trusted("C", "ip1")  # the IP, for any address
    assert policy.trusted("C", "ip2") and policy.trusted("B", "ip2")


def test_sampled_draws_once_per_trusted_share_and_verifies_below_the_rate() -> None:
    draws = iter([0.05, 0.5, 0.25, 0.2499])
    calls: list[float] = []

    def rng() -> float:
        calls.append(next(draws))
        return calls[-1]

    policy = SampledVerification(0.25, 0, rng=rng)  # trusted at once
    answers = [policy.should_verify("A", "ip", difficulty=1, candidate=False) for _ in range(4)]
    assert answers == [True, False, False, True] and len(calls) == 4
    assert policy.should_verify("A", "ip", difficulty=1, candidate=True)
    assert len(calls) == 4  # no draw for a candidate


def test_trust_is_bounded() -> None:
    policy = SampledVerification(0.5, 1, rng=lambda: 0.99, max_tracked=2)
    for n in range(5):
        policy.record(f"A{n}", f"ip{n}", valid=True)
    assert policy.trusted("A4", "ip4") and policy.trusted("A3", "ip3")
    assert not policy.trusted("A0", "ip0")  # forgotten: untrusted again


def test_the_floor_is_enforced() -> None:
    with pytest.raises(ValueError, match=r"between 0\.1 and 1"):
        SampledVerification(0.05, 10)
    with pytest.raises(ValueError, match=r"verify_sample_rate must be a fraction from 0\.1"):
        StratumConfig(verify_sample_rate=0.09)
    with pytest.raises(ValueError, match="verify_sample_rate"):
        StratumConfig(verify_sample_rate=1.5)
    assert StratumConfig(verify_sample_rate=0.1).verify_sample_rate == 0.1


def test_the_floor_is_a_config_error(make_node: Callable[..., Any]) -> None:
    with pytest.raises(ConfigError, match="verify_sample_rate"):
        make_node({}, installed=INSTALLED, sets=[*BASE_SETS, "stratum.verify_sample_rate=0.01"])


def cheat(policy: SampledVerification, fakes: int) -> int:
    """A miner that earns trust with good shares, then submits fakes until one is caught,
    over and over; the number of its ``fakes`` that were caught."""
    caught = submitted = 0
    while submitted < fakes:
        while not policy.trusted("cheat", "6.6.6.6"):
            assert policy.should_verify("cheat", "6.6.6.6", difficulty=1, candidate=False)
            policy.record("cheat", "6.6.6.6", valid=True)
        while submitted < fakes:
            submitted += 1
            if policy.should_verify("cheat", "6.6.6.6", difficulty=1, candidate=False):
                caught += 1
                policy.record("cheat", "6.6.6.6", valid=False)
                break
    return caught


@pytest.mark.parametrize("rate", [MIN_VERIFY_SAMPLE_RATE, 0.25, 0.5, 1.0])
def test_fakes_are_caught_at_least_at_the_rate_with_stratified_draws(rate: float) -> None:
    draws = stratified(seed=7)
    policy = SampledVerification(rate, 20, rng=lambda: next(draws))
    fakes = 20_000  # a multiple of the stratification block: no rounding in the cheater's favour
    assert cheat(policy, fakes) / fakes >= rate


@settings(max_examples=20, deadline=None, derandomize=True)
@given(seed=st.integers(0, 2**32 - 1), rate=st.sampled_from([MIN_VERIFY_SAMPLE_RATE, 0.3]))
def test_fakes_are_caught_at_the_rate_within_binomial_bounds(seed: int, rate: float) -> None:
    policy = SampledVerification(rate, 5, rng=random.Random(seed).random)
    fakes = 5_000
    # Each fake is verified with probability >= rate, independently: the catches dominate
    # Binomial(fakes, rate), which falls 5 standard deviations short with p < 1e-6.
    bound = fakes * rate - 5 * math.sqrt(fakes * rate * (1 - rate))
    assert cheat(policy, fakes) >= bound


def test_verify_all_verifies_everything() -> None:
    policy = VerifyAll()
    assert policy.should_verify("A", "ip", difficulty=1, candidate=False)
    policy.record("A", "ip", valid=False)
    assert policy.should_verify("A", "ip", difficulty=1, candidate=False)


def test_score_ban_counts_faults_then_bans_for_a_time() -> None:
    bans = ScoreBan(3, 60.0)
    assert bans.admit("ip", 0.0)
    assert not bans.fault("ip", 1.0, "Invalid share")
    assert not bans.fault("ip", 2.0, "malformed")
    bans.accepted("ip", 2.5)  # does not forgive
    assert bans.fault("ip", 3.0, "Low difficulty share")
    assert not bans.admit("ip", 62.9) and bans.admit("other", 10.0)
    assert bans.banned_count(10.0) == 1
    assert bans.admit("ip", 63.0) and bans.banned_count(63.0) == 0
    assert not bans.fault("ip", 64.0, "malformed")  # the points started again
    off = ScoreBan(0, 60.0)
    assert not any(off.fault("ip", 0.0, "malformed") for _ in range(100))
    assert off.admit("ip", 0.0)


def test_score_ban_state_is_bounded() -> None:
    bans = ScoreBan(2, 60.0, max_tracked=3)
    for n in range(10):
        bans.fault(f"ip{n}", 0.0, "malformed")
    assert len(bans._scores) == 3
    for n in range(10):
        assert bans.fault(f"ban{n}", float(n), "malformed") is False
        assert bans.fault(f"ban{n}", float(n), "malformed") is True
    assert len(bans._banned) == 3 and not bans.admit("ban9", 10.0)


# --------------------------------------------------------------- third-party policies


class SteadyState:
    def __init__(self, difficulty: int) -> None:
        self.difficulty = difficulty


class Steady:
    """A vardiff policy that keeps every miner at difficulty 7."""

    name = "steady"

    def __init__(self) -> None:
        self.shares = 0

    def new_state(self, difficulty: int, now: float) -> SteadyState:
        return SteadyState(7)

    def on_share(self, state: SteadyState, now: float, difficulty: int) -> int | None:
        self.shares += 1
        return None

    def on_idle(self, state: SteadyState, now: float) -> int | None:
        return None


class Strict:
    """A ban policy that bans an IP address for good at its first fault."""

    name = "strict"

    def __init__(self) -> None:
        self.banned: set[str] = set()
        self.faults: list[str] = []
        self.good = 0

    def admit(self, ip: str, now: float) -> bool:
        return ip not in self.banned

    def fault(self, ip: str, now: float, reason: str) -> bool:
        self.faults.append(reason)
        self.banned.add(ip)
        return True

    def accepted(self, ip: str, now: float) -> None:
        self.good += 1

    def banned_count(self, now: float) -> int:
        return len(self.banned)


class Trusting:
    """A verification policy that never asks for a RandomX check."""

    name = "trusting"

    def __init__(self) -> None:
        self.asked: list[tuple[str, int, bool]] = []
        self.records: list[bool] = []

    def should_verify(self, address: str, ip: str, *, difficulty: int, candidate: bool) -> bool:
        self.asked.append((address, difficulty, candidate))
        return False

    def record(self, address: str, ip: str, *, valid: bool) -> None:
        self.records.append(valid)


class ThirdParty:
    def __init__(self) -> None:
        self.vardiff, self.bans, self.verification = Steady(), Strict(), Trusting()

    @hookimpl
    def zion_register_vardiff_policies(self, register: Any, node: Any) -> None:
        register(self.vardiff)

    @hookimpl
    def zion_register_ban_policies(self, register: Any, node: Any) -> None:
        register(self.bans)

    @hookimpl
    def zion_register_share_verification_policies(self, register: Any, node: Any) -> None:
        register(self.verification)


@pytest.mark.anyio
async def test_third_party_policies_are_selected_by_config(make_node: Callable[..., Any]) -> None:
    plugin = ThirdParty()
    sets = [
        *HIGH,
        "stratum.vardiff_policy=steady",
        "stratum.ban_policy=strict",
        "stratum.verification_policy=trusting",
    ]
    async with served_pool(make_node, sets, plugins={"house-rules": plugin}) as pool:
        server = pool.server
        assert server.vardiff is plugin.vardiff and server.bans is plugin.bans
        assert server.verification is plugin.verification
        miner = await pool.connect()
        await miner.login()
        assert miner.job is not None and miner.job["target"] == protocol.target_hex(7)
        fake = bytes(31) + b"\x10"  # meets difficulty 7, not the network's
        assert protocol.meets(fake, 7)
        ok = await miner.submit(2, miner.job, 1, fake)
        assert ok["result"] == {"status": "OK"}  # taken on trust
        assert plugin.vardiff.shares == 1 and plugin.bans.good == 1
        assert plugin.verification.asked == [(MINER_ADDRESS, 7, False)]
        stats = server.stats()
        assert stats["shares_unverified"] == 1 and stats["shares_verified"] == 0
        assert stats["policies"] == {
            "vardiff": "steady",
            "ban": "strict",
            "verification": "trusting",
        }
        # a block candidate is verified whatever the policy says: this fake is caught, and
        # the strict ban policy bans at the first fault
        caught = await miner.submit(3, miner.job, 2, CANDIDATE)
        assert caught["error"]["message"] == protocol.BANNED
        assert plugin.verification.asked[-1] == (MINER_ADDRESS, 7, True)
        assert plugin.verification.records == [False]
        assert plugin.bans.faults == [protocol.INVALID_SHARE]
        assert await miner.closed(5)
        refused = await pool.connect()
        assert await refused.closed(5)
        stats = server.stats()
        assert stats["shares_verify_failed"] == 1 and stats["banned"] == 1
        assert stats["connections_refused"] >= 1


@pytest.mark.anyio
@pytest.mark.parametrize(
    ("key", "kind"),
    [
        ("vardiff_policy", "vardiff policy"),
        ("ban_policy", "ban policy"),
        ("verification_policy", "share verification policy"),
    ],
)
async def test_an_unknown_policy_is_a_start_up_error(
    make_node: Callable[..., Any], key: str, kind: str
) -> None:
    node = make_node({}, installed=INSTALLED, sets=[*BASE_SETS, f"stratum.{key}=nope"])
    server = node.registry("service").get("stratum")
    expected = {"vardiff_policy": "default", "ban_policy": "score"}.get(key, "all, sampled")
    with pytest.raises(
        ConfigError, match=rf"\[stratum\] {key}: unknown {kind} 'nope'; available: {expected}$"
    ):
        await server.run(task_status=anyio.TASK_STATUS_IGNORED)


@pytest.mark.anyio
async def test_the_defaults_are_the_built_in_policies(make_node: Callable[..., Any]) -> None:
    async with served_pool(make_node, HIGH) as pool:
        node, server = pool.node, pool.server
        assert server.vardiff is node.registry("vardiff_policy").get("default")
        assert server.bans is node.registry("ban_policy").get("score")
        assert server.verification is node.registry("share_verification_policy").get("all")
        miner = await pool.connect()
        await miner.login(f"{MINER_ADDRESS}+1")
        assert miner.job is not None
        for nonce in range(3):
            reply = await miner.submit(
                nonce + 2, miner.job, nonce, await pool.pow_hash(miner.job, nonce)
            )
            assert reply["result"] == {"status": "OK"}
        fake = await miner.submit(9, miner.job, 9, fake_result(random.Random(3)))
        assert fake["error"]["message"] == protocol.INVALID_SHARE
        stats = server.stats()
        assert stats["shares_verified"] == 4 and stats["shares_unverified"] == 0
        assert stats["shares_verify_failed"] == 1


# ------------------------------------------------------- sampled verification, served


class Miner:
    """A scripted miner of the served pool: real shares to earn trust, fake ones to cheat."""

    def __init__(self, pool: Any, client: Client, rng: random.Random) -> None:
        self.pool, self.client, self.rng = pool, client, rng
        self.nonce = 0
        self.req = 1

    async def _submit(self, result: bytes | None) -> dict[str, Any]:
        job = self.client.job
        assert job is not None
        self.nonce += 1
        self.req += 1
        if result is None:
            result = await self.pool.pow_hash(job, self.nonce)
        return await self.client.submit(self.req, job, self.nonce, result)

    async def good(self) -> None:
        reply = await self._submit(None)
        assert reply["result"] == {"status": "OK"}, reply

    async def fake(self, result: bytes | None = None) -> bool:
        """Submit a fake result; whether it was caught."""
        reply = await self._submit(result if result is not None else fake_result(self.rng))
        if reply.get("result") == {"status": "OK"}:
            return False
        assert reply["error"]["message"] == protocol.INVALID_SHARE, reply
        return True


@pytest.mark.anyio
async def test_served_sampled_verification_catches_fakes_at_least_at_the_floor(
    make_node: Callable[..., Any],
) -> None:
    async with served_pool(make_node, SAMPLED) as pool:
        policy = pool.server.verification
        assert isinstance(policy, SampledVerification) and policy.rate == MIN_VERIFY_SAMPLE_RATE
        source = stratified(seed=11, block=10)
        draws: list[float] = []

        def rng() -> float:
            draws.append(next(source))
            return draws[-1]

        policy.rng = rng
        client = await pool.connect()
        await client.login(f"{MINER_ADDRESS}+1")
        miner = Miner(pool, client, random.Random(5))
        fakes = caught = 0
        for _ in range(4):  # four rounds: earn trust, cheat until caught
            for _ in range(policy.trust_shares):
                await miner.good()
            assert policy.trusted(MINER_ADDRESS, "127.0.0.1")
            for _ in range(50):  # the stratified draws catch one in every ten
                fakes += 1
                was_caught = await miner.fake()
                # the fake's fate is the one draw made for it
                assert len(draws) == fakes and was_caught == (draws[-1] < policy.rate)
                if was_caught:
                    caught += 1
                    break
            assert policy.trust(MINER_ADDRESS, "127.0.0.1") == (0, 0)
        assert caught == 4 and caught / fakes >= MIN_VERIFY_SAMPLE_RATE
        stats = pool.server.stats()
        assert stats["shares_verify_failed"] == 4
        assert stats["shares_unverified"] == fakes - caught
        assert stats["shares_verified"] == 4 * policy.trust_shares + caught


@pytest.mark.anyio
async def test_served_sampled_verification_resets_trust_and_always_checks_candidates(
    make_node: Callable[..., Any],
) -> None:
    async with served_pool(make_node, SAMPLED) as pool:
        policy = pool.server.verification
        assert isinstance(policy, SampledVerification)
        policy.rng = lambda: 0.99  # a trusted miner's draws never ask for a check
        rng = random.Random(8)
        first, second = await pool.connect(), await pool.connect()
        await first.login(f"{MINER_ADDRESS}+1")
        await second.login(f"{OTHER_ADDRESS}+1")
        a, b = Miner(pool, first, rng), Miner(pool, second, rng)
        for _ in range(policy.trust_shares):
            await a.good()
            await b.good()
        assert policy.trusted(MINER_ADDRESS, "127.0.0.1")
        assert policy.trusted(OTHER_ADDRESS, "127.0.0.1")
        assert not await a.fake()  # trusted, and the draw said no: taken on trust
        # a block candidate is verified whatever the draw
        assert await a.fake(CANDIDATE)
        assert pool.chain_service.chain.height == 0
        # the catch reset the trust of the address and of the IP: the next shares of
        # both wallets from this IP are verified again
        assert policy.trust(MINER_ADDRESS, "127.0.0.1") == (0, 0)
        assert await a.fake()
        assert await b.fake()
        verified = pool.server.stats()["shares_verified"]
        await b.good()
        assert pool.server.stats()["shares_verified"] == verified + 1
        stats = pool.server.stats()
        assert stats["shares_unverified"] == 1 and stats["shares_verify_failed"] == 3
        assert stats["policies"]["verification"] == "sampled"
