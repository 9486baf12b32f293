"""The ledger's write-ahead of found blocks (candidates), and payouts bounded by what the
wallet can spend now."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence

import pytest
from accounting_child import DictStorage, FakeWallet
from hypothesis import given, settings
from hypothesis import strategies as st

from zion_hookspecs import ShareRecord
from zion_plugin_stratum.ledger import LedgerError, PoolLedger
from zion_plugin_stratum.payouts import Destination, PayoutConfig, PayoutEngine, SpendableWallet
from zion_plugin_stratum.policies import BlockContext, PplnsPolicy, SoloPolicy

REWARD = 1_000_000
DIFFICULTY = 400
MATURITY = 3


def ledger_of(storage: DictStorage | None = None, *, fee_bps: int = 100) -> PoolLedger:
    return PoolLedger(
        storage or DictStorage(), PplnsPolicy(factor=1, fee_bps=fee_bps), maturity=MATURITY
    )


def shares(ledger: PoolLedger, *pairs: tuple[str, int]) -> None:
    ledger.record_shares(
        [ShareRecord(address, difficulty, 1.0) for address, difficulty in pairs],
        network_difficulty=DIFFICULTY,
        block_reward=REWARD,
    )


def block_id(n: int) -> bytes:
    return n.to_bytes(32, "big")


# ---------------------------------------------------------------------------- candidates


def test_a_found_block_keeps_the_window_of_its_candidate() -> None:
    storage = DictStorage()
    ledger = ledger_of(storage)
    shares(ledger, ("Za", 300), ("Zb", 100))
    before = {k: v for k, v in storage.data.items() if k.startswith(b"A")}
    candidate = ledger.record_candidate(
        block_id(1), 10, REWARD, network_difficulty=DIFFICULTY, finder="Zb"
    )
    assert candidate is not None
    assert dict(candidate.credits) == {"Za": 742_500, "Zb": 247_500}
    assert {k: v for k, v in storage.data.items() if k.startswith(b"A")} == before  # no balance
    assert ledger.balance("Za").immature == 0
    # shares accepted after the candidate (while the node connects it) are not in its window
    shares(ledger, ("Zc", 400))
    found = ledger.record_block(block_id(1), 10, REWARD, network_difficulty=DIFFICULTY)
    assert dict(found.credits) == dict(candidate.credits)
    assert (found.finder, found.found_at) == ("Zb", candidate.created_at)
    assert ledger.candidates() == [] and ledger.candidate(block_id(1)) is None
    assert ledger.balance("Za").immature == 742_500 and ledger.balance("Zc").immature == 0
    # the block again, or its candidate again, changes nothing
    assert ledger.record_block(block_id(1), 10, REWARD, network_difficulty=DIFFICULTY) == found
    assert ledger.record_candidate(block_id(1), 10, REWARD, network_difficulty=DIFFICULTY) is None
    assert ledger.candidates() == []


def test_a_candidate_again_is_the_same_and_a_contradiction_is_refused() -> None:
    storage = DictStorage()
    ledger = ledger_of(storage)
    shares(ledger, ("Za", 400))
    first = ledger.record_candidate(block_id(2), 5, REWARD, network_difficulty=DIFFICULTY)
    shares(ledger, ("Zb", 400))
    again = ledger.record_candidate(block_id(2), 5, REWARD, network_difficulty=DIFFICULTY)
    assert again == first
    data = dict(storage.data)
    with pytest.raises(LedgerError, match=r"candidate .* height 5"):
        ledger.record_candidate(block_id(2), 6, REWARD, network_difficulty=DIFFICULTY)
    with pytest.raises(LedgerError, match="was a candidate at height 5"):
        ledger.record_block(block_id(2), 5, REWARD + 1, network_difficulty=DIFFICULTY)
    with pytest.raises(LedgerError, match="block id"):
        ledger.record_candidate(b"", 5, REWARD, network_difficulty=DIFFICULTY)
    with pytest.raises(LedgerError, match="finder"):
        ledger.record_candidate(block_id(3), 5, REWARD, network_difficulty=1, finder="")
    assert storage.data == data


def test_open_candidates_are_settled_against_the_chain() -> None:
    ledger = ledger_of()
    shares(ledger, ("Za", 400))
    for n, height in ((1, 10), (2, 10), (3, 11), (4, 12), (5, 11)):
        ledger.record_candidate(block_id(n), height, REWARD, network_difficulty=DIFFICULTY)
    main, side = {block_id(1), block_id(5)}, {block_id(2)}
    report = ledger.resolve_candidates(
        11, main.__contains__, lambda b: b in main or b in side, restart=False
    )
    assert report.recorded == [block_id(1), block_id(5)]
    # 3 is not on the chain though the tip reached its height; 4 is above the tip: in flight
    assert report.dropped == [block_id(3)]
    assert report.kept == [block_id(2), block_id(4)]
    assert {b.block_id for b in ledger.blocks()} == main
    assert ledger.balance("Za").immature == 2 * 990_000
    # the side block stays a candidate until maturity depth; a restart drops what is in flight
    report = ledger.resolve_candidates(12, main.__contains__, side.__contains__, restart=True)
    assert (report.dropped, report.kept) == ([block_id(4)], [block_id(2)])
    report = ledger.resolve_candidates(13, main.__contains__, side.__contains__)
    assert report.dropped == [block_id(2)] and ledger.candidates() == []
    assert ledger.on_tip(14, main.__contains__).credited == [block_id(1), block_id(5)]
    assert ledger.balance("Za").balance == 2 * 990_000


def test_a_candidate_resolved_is_the_block_on_block_would_have_recorded() -> None:
    direct, crashed = ledger_of(), ledger_of()
    for ledger in (direct, crashed):
        shares(ledger, ("Za", 100), ("Zb", 250), ("Zc", 50))
        ledger.record_candidate(
            block_id(7), 20, REWARD, network_difficulty=DIFFICULTY, finder="Zc", created_at=5.0
        )
        shares(ledger, ("Zd", 400))
    found = direct.record_block(block_id(7), 20, REWARD, network_difficulty=DIFFICULTY)
    report = crashed.resolve_candidates(20, lambda _: True, lambda _: True, restart=True)
    assert report.recorded == [block_id(7)]
    assert crashed.blocks() == [found]
    assert crashed.balances() == direct.balances()
    # on_block after the recovery (the crash came later than thought) credits nothing more
    assert crashed.record_block(block_id(7), 20, REWARD, network_difficulty=DIFFICULTY) == found
    assert crashed.balances() == direct.balances()


FATES = st.sampled_from(["main", "side", "lost"])
"""What the chain does with a candidate: connects it, keeps it on a side branch, or never
has it (refused, or the pool crashed before submitting it)."""


@settings(max_examples=60, deadline=None)
@given(data=st.data())
def test_every_candidate_is_recorded_at_most_once_with_its_own_window(data: st.DataObject) -> None:
    storage = DictStorage()
    ledger = ledger_of(storage, fee_bps=data.draw(st.integers(0, 10_000), label="fee"))
    window: list[ShareRecord] = []  # every share, oldest first
    expected: dict[bytes, Mapping[str, int]] = {}
    fates: dict[bytes, str] = {}
    tip = 0
    for step in range(data.draw(st.integers(1, 25), label="steps")):
        op = data.draw(st.sampled_from(["shares", "candidate", "on_block", "resolve", "tip"]))
        if op == "shares":
            batch = data.draw(
                st.lists(
                    st.builds(
                        ShareRecord,
                        address=st.sampled_from(["Za", "Zb", "Zc"]),
                        difficulty=st.integers(1, 500),
                        timestamp=st.just(float(step)),
                    ),
                    min_size=1,
                    max_size=4,
                )
            )
            ledger.record_shares(batch, network_difficulty=DIFFICULTY, block_reward=REWARD)
            window += batch
        elif op == "candidate":
            new = block_id(len(fates) + 1)
            reward = data.draw(st.integers(0, 10**12))
            ledger.record_candidate(new, tip + 1, reward, network_difficulty=DIFFICULTY)
            expected[new] = ledger.policy.split_block(
                reward, list(reversed(window)), BlockContext(DIFFICULTY)
            )
            fates[new] = data.draw(FATES)
        elif op == "on_block":  # the node connected a candidate; the server reports it
            connected = [b for b, fate in fates.items() if fate == "main"]
            open_ids = {c.block_id: c for c in ledger.candidates()}
            if connected:
                chosen = data.draw(st.sampled_from(connected))
                if chosen in open_ids:
                    c = open_ids[chosen]
                    ledger.record_block(chosen, c.height, c.reward, network_difficulty=DIFFICULTY)
        elif op == "resolve":
            ledger.resolve_candidates(
                tip,
                lambda b: fates[b] == "main",
                lambda b: fates[b] in ("main", "side"),
                restart=data.draw(st.booleans()),
            )
        else:
            tip += data.draw(st.integers(1, 3))
        blocks = {b.block_id: b for b in ledger.blocks()}
        candidates = {c.block_id for c in ledger.candidates()}
        assert not blocks.keys() & candidates
        assert all(fates[b] == "main" for b in blocks)
        for found in blocks.values():
            assert dict(found.credits) == {a: v for a, v in expected[found.block_id].items() if v}
        immature: dict[str, int] = {}
        for found in blocks.values():
            for address, amount in found.credits.items():
                immature[address] = immature.get(address, 0) + amount
        assert {b.address: b.immature for b in ledger.balances() if b.immature} == immature
    # a restart settles every candidate the chain connected; nothing is recorded twice
    ledger.resolve_candidates(tip + 1, lambda b: fates[b] == "main", lambda b: False, restart=True)
    assert {b.block_id for b in ledger.blocks()} == {b for b, f in fates.items() if f == "main"}
    assert ledger.candidates() == []


# ------------------------------------------------------------------ payouts and funds


class FundedWallet(FakeWallet):
    """The fake wallet, saying how much it can spend now (set ``funds``)."""

    def __init__(self, funds: int | None) -> None:
        super().__init__()
        self.funds = funds

    def spendable(self) -> int | None:
        return self.funds

    def transfer(self, destinations: Sequence[Destination], idempotency_key: str) -> str:
        txid = super().transfer(destinations, idempotency_key)
        if self.funds is not None:
            self.funds -= sum(d["amount"] for d in destinations)
        return txid


def funded_ledger(amounts: dict[str, int]) -> PoolLedger:
    ledger = PoolLedger(DictStorage(), SoloPolicy(fee_bps=0), maturity=0)
    for n, (address, amount) in enumerate(amounts.items()):
        ledger.record_block(bytes([n + 1]), n, amount, network_difficulty=1, finder=address)
    ledger.on_tip(len(amounts), lambda _: True)
    return ledger


def test_a_round_pays_only_what_the_wallet_can_spend_and_the_rest_waits() -> None:
    ledger = funded_ledger({"Za": 500, "Zb": 300, "Zc": 200, "Zd": 50})
    wallet = FundedWallet(0)
    assert isinstance(wallet, SpendableWallet)
    engine = PayoutEngine(ledger, wallet, PayoutConfig(threshold=100))
    report = engine.run_once()
    assert (report.sent, report.failed, report.waiting) == ([], [], 1000)
    assert ledger.payments() == [] and ledger.balance("Za").balance == 500
    wallet.funds = 450  # Za does not fit: Zb and then Zc are tried (Zd is under the threshold)
    report = engine.run_once()
    assert len(report.sent) == 1 and report.waiting == 700
    assert [p.destinations for p in ledger.payments()] == [(("Zb", 300),)]
    wallet.funds += 1000
    report = engine.run_once()
    assert len(report.sent) == 1 and report.waiting == 0
    assert wallet.paid() == {"Za": 500, "Zb": 300, "Zc": 200}
    assert [b.balance for b in ledger.balances()] == [0, 0, 0, 50]


def test_a_locked_refusal_leaves_the_balances_for_a_later_round() -> None:
    ledger = funded_ledger({"Za": 500})
    wallet = FundedWallet(10_000)  # says it can pay, then refuses: locked meanwhile
    wallet.refuse_rate = 1.0
    engine = PayoutEngine(ledger, wallet, PayoutConfig(threshold=100))
    assert len(engine.run_once().failed) == 1
    balance = ledger.balance("Za")
    assert (balance.balance, balance.in_flight, balance.paid) == (500, 0, 0)
    wallet.refuse_rate = 0.0
    assert len(engine.run_once().sent) == 1
    assert wallet.paid() == {"Za": 500} and ledger.balance("Za").paid == 500
    assert [p.status for p in ledger.payments()] == ["failed", "sent"]


def test_a_budget_must_be_a_count() -> None:
    ledger = funded_ledger({"Za": 500})
    with pytest.raises(LedgerError, match="budget"):
        ledger.open_payment(threshold=1, max_destinations=1, budget=-1)
    assert ledger.open_payment(threshold=1, max_destinations=1, budget=499) is None
    payment = ledger.open_payment(threshold=1, max_destinations=1, budget=500)
    assert payment is not None and dataclasses.replace(payment, created_at=0).total == 500
