"""What the chain offers a node that synchronises with peers: locators, fork points,
header blobs, stored and invalid blocks, and blocks submitted in batches whose proofs of
work are computed in parallel before they are added one by one (test-only Keccak hasher;
one test with real RandomX)."""

from __future__ import annotations

import functools
import itertools
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import anyio
import attrs
import pytest
from consensus_helpers import ChainHarness, Clock, DictStorage, TestOnlyKeccakHasher, solve
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from zion_core.chain.block import Block, MinerTx
from zion_core.chain.codec import encode_varint
from zion_core.chain.hashing import keccak256
from zion_core.chain.keys import WalletKeys
from zion_core.chain.transaction import OutPoint, Transaction, TxOutput
from zion_core.node import ZionNode
from zion_hookspecs import hookimpl
from zion_plugin_consensus import BatchResult, ChainService, errors
from zion_plugin_consensus.chain import (
    MAX_HEADER_BLOBS,
    MAX_LOCATOR,
    AddResult,
    Chain,
    meets_difficulty,
)
from zion_plugin_consensus.emission import block_reward
from zion_plugin_consensus.mempool import Mempool
from zion_plugin_consensus.params import DEVNET, NetworkParams, with_overrides

ALICE = WalletKeys.from_seed(bytes([7]) * 32)
BOB = WalletKeys.from_seed(bytes([8]) * 32)
MINER = WalletKeys.from_seed(bytes([31]) * 32)
SEEDS = with_overrides(DEVNET, initial_difficulty=4, seed_epoch=4, seed_lag=2)
"""A RandomX key per 4 blocks, 2 blocks late: heights 1-6 use the genesis id, 7-10 block
4's, 11-14 block 8's, 15-18 block 12's."""


class CountingHasher(TestOnlyKeccakHasher):
    """The test-only Keccak hasher, thread-safe, recording each blob's keys, optionally
    slow (``delay`` seconds per hash) and with a thread count for the chain's batches."""

    __test__ = False

    def __init__(self, *, threads: int | None = None, delay: float = 0.0) -> None:
        super().__init__()
        if threads is not None:
            self.threads = threads
        self.delay = delay
        self.keys: dict[bytes, list[bytes | None]] = {}
        self.in_flight = 0
        self.most_in_flight = 0
        self._lock = threading.Lock()

    def hash(self, blob: bytes, *, key: bytes | None = None) -> bytes:
        with self._lock:
            self.calls += 1
            self.keys.setdefault(blob, []).append(key)
            self.in_flight += 1
            self.most_in_flight = max(self.most_in_flight, self.in_flight)
        try:
            if self.delay:
                time.sleep(self.delay)
            return keccak256((key or b"") + blob)
        finally:
            with self._lock:
                self.in_flight -= 1


class Events:
    """The node a chain service runs in, reduced to the events it emits."""

    def __init__(self) -> None:
        self.emitted: list[tuple[str, bytes, int]] = []

    def emit(self, event: str, /, **kwargs: Any) -> None:
        self.emitted.append((event, kwargs["block"].id, kwargs["height"]))


@contextmanager
def service_for(
    params: NetworkParams, hasher: Any, clock: Clock
) -> Iterator[tuple[ChainService, Events, DictStorage]]:
    """A chain service over a fresh in-memory chain, as the node's ``chain`` service is
    once started; its hashing threads end with the block."""
    events = Events()
    service = ChainService(events)  # type: ignore[arg-type]
    storage = DictStorage()
    service.chain = Chain(params, storage, hasher, clock=clock)
    service.mempool = Mempool(service.chain)
    try:
        yield service, events, storage
    finally:
        if service._executor is not None:
            service._executor.shutdown()


def clone(h: ChainHarness) -> ChainHarness:
    """Another harness whose chain is a copy of ``h``'s (to mine a rival branch)."""
    other = ChainHarness(h.params)
    other.storage.data = dict(h.storage.data)
    other.chain = Chain(h.params, other.storage, other.hasher, clock=other.clock)
    other.clock.now = h.clock.now
    return other


def entries(blocks: Sequence[Block]) -> list[tuple[Block, dict[bytes, Transaction]]]:
    return [(block, {}) for block in blocks]


def height_of(chain: Chain, block_id: bytes) -> int:
    meta = chain.store.meta(block_id)
    assert meta is not None
    return meta.height


# -- locators, fork points, header blobs --------------------------------------------------


def check_locator(chain: Chain) -> list[int]:
    """The locator's heights, once its shape is checked."""
    ids = chain.locator()
    assert all(chain.is_main(block_id) for block_id in ids)
    heights = [height_of(chain, block_id) for block_id in ids]
    tip = chain.height
    assert 1 <= len(heights) <= MAX_LOCATOR
    assert heights[0] == tip and ids[0] == chain.tip_id
    assert heights[-1] == 0 and ids[-1] == chain.genesis.id
    assert heights[: min(10, tip + 1)] == list(range(tip, max(tip - 10, -1), -1))
    steps = [a - b for a, b in itertools.pairwise(heights)]
    for i, step in enumerate(steps[:-1]):
        assert step == (1 if i < 9 else 2 ** (i - 8))  # 1 nine times, then 2, 4, 8...
    if steps:
        assert 1 <= steps[-1] <= (1 if len(steps) <= 9 else 2 ** (len(steps) - 9))
    return heights


def test_locators_start_dense_then_double_their_steps_down_to_genesis(
    harness: ChainHarness,
) -> None:
    shapes: dict[int, list[int]] = {}
    for height in range(1001):
        if height:
            harness.mine(ALICE)
        if height in (0, 1, 11, 100, 1000):
            shapes[height] = check_locator(harness.chain)
    assert shapes[0] == [0]
    assert shapes[1] == [1, 0]
    assert shapes[11] == [11, 10, 9, 8, 7, 6, 5, 4, 3, 2, 0]
    assert shapes[100] == [*range(100, 90, -1), 89, 85, 77, 61, 29, 0]
    assert shapes[1000] == [*range(1000, 990, -1), 989, 985, 977, 961, 929, 865, 737, 481, 0]


def test_the_fork_point_is_the_first_locator_id_on_our_main_chain(
    harness: ChainHarness,
) -> None:
    for _ in range(10):
        harness.mine(ALICE)
    rival = clone(harness)
    main = [harness.mine(ALICE) for _ in range(5)]
    side = [rival.mine(BOB) for _ in range(3)]
    chain = harness.chain
    assert chain.find_fork(rival.chain.locator()) == 10
    assert rival.chain.find_fork(chain.locator()) == 10
    assert chain.find_fork(chain.locator()) == 15
    assert chain.find_fork([side[-1].id, main[1].id, chain.genesis.id]) == 12
    assert chain.find_fork([bytes(32), bytes([1]) * 32]) is None
    assert chain.find_fork([]) is None
    # the rival's blocks stored here as a lighter side branch: still not on the main chain
    for block in side:
        assert chain.add_block(block).status == "side"
    assert chain.find_fork(rival.chain.locator()) == 10
    assert all(chain.has_block(block.id) for block in (*main, *side, chain.genesis))
    assert not chain.has_block(bytes(32))
    assert not any(chain.is_invalid(block.id) for block in (*main, *side))


def test_header_blobs_are_the_main_chains_hashing_blobs(harness: ChainHarness) -> None:
    blocks = [harness.chain.genesis, *(harness.mine(ALICE) for _ in range(12))]
    chain = harness.chain
    blobs = chain.header_blobs(0, 100)
    assert blobs == [block.hashing_blob() for block in blocks]
    assert [keccak256(encode_varint(len(b)) + b) for b in blobs] == [
        chain.store.id_at(h) for h in range(13)
    ]
    assert chain.header_blobs(5, 3) == blobs[5:8]
    assert chain.header_blobs(11, 10) == blobs[11:]
    assert chain.header_blobs(13, 10) == []
    assert chain.header_blobs(3, 0) == []
    with pytest.raises(ValueError, match="must not be negative"):
        chain.header_blobs(-1, 5)
    with pytest.raises(ValueError, match="must not be negative"):
        chain.header_blobs(0, -5)


def test_header_blobs_and_locators_are_capped(
    harness: ChainHarness, monkeypatch: pytest.MonkeyPatch
) -> None:
    harness.mine(ALICE)
    chain = harness.chain
    # a chain 3000 blocks high (then 2^80) whose every height holds the first block
    monkeypatch.setattr(type(chain.store), "id_at", lambda store, height: harness.chain.tip_id)
    monkeypatch.setattr(Chain, "height", property(lambda self: 3000))
    blobs = chain.header_blobs(500, 5000)
    assert len(blobs) == MAX_HEADER_BLOBS == 2000
    assert len(chain.header_blobs(2500, 5000)) == 501
    assert len(chain.locator()) == 10 + 10 + 1  # 3000 .. 2991, 2989 .. 945, genesis
    monkeypatch.setattr(Chain, "height", property(lambda self: 2**80))
    assert len(chain.locator()) == MAX_LOCATOR


def pay_nothing_known(keys: WalletKeys, to: WalletKeys) -> Transaction:
    """A signed transaction spending an output that does not exist: valid on its own,
    refused only against the coins."""
    tx = Transaction(
        unlock_time=0,
        inputs=(OutPoint(txid=bytes([5]) * 32, index=0),),
        outputs=(TxOutput(amount=10, spend_key=to.spend.public_key, view_key=to.view.public_key),),
        fee=10**8,
    )
    return tx.with_signatures((keys.spend.sign(tx.signing_message),))


def test_a_branch_whose_reorganisation_failed_is_invalid(harness: ChainHarness) -> None:
    harness.mine(ALICE)
    rival = clone(harness)
    main = [harness.mine(ALICE), harness.mine(ALICE)]
    chain = harness.chain
    bogus = pay_nothing_known(ALICE, BOB)
    first = solve(
        rival.chain.template(BOB.spend.public_key, BOB.view.public_key, (bogus,)), rival.hasher
    )
    assert chain.add_block(first, {bogus.txid: bogus}).status == "side"

    def child_of(parent: Block) -> Block:
        height = parent.miner_tx.height + 1
        parent_meta = chain.store.meta(parent.id)
        assert parent_meta is not None
        block = Block(
            header=attrs.evolve(parent.header, prev_id=parent.id, timestamp=harness.clock.now),
            miner_tx=MinerTx.build(
                height=height,
                amount=block_reward(parent_meta.generated, harness.params),
                spend_key=BOB.spend.public_key,
                view_key=BOB.view.public_key,
                unlock_window=harness.params.coinbase_maturity,
            ),
        )
        seed = chain.seed_hash(height, parent.id)
        difficulty = chain.next_difficulty(parent.id)
        for nonce in range(100_000):
            candidate = block.with_nonce(nonce)
            if meets_difficulty(
                harness.hasher.hash(candidate.hashing_blob(), key=seed), difficulty
            ):
                return candidate
        raise AssertionError("no nonce found")

    child = child_of(first)
    assert chain.add_block(child).status == "side"
    grandchild = child_of(child)
    assert not chain.is_invalid(first.id)
    with pytest.raises(errors.UnknownInputError):
        chain.add_block(grandchild)  # heavier: the reorganisation fails at ``first``
    assert [chain.block_at(h) for h in (2, 3)] == main
    assert all(chain.is_invalid(b.id) for b in (first, child, grandchild))
    assert all(chain.has_block(b.id) for b in (first, child, grandchild))
    assert not any(chain.is_invalid(b.id) for b in main)


# -- batches: the same as one block at a time -------------------------------------------


@attrs.frozen
class Scenario:
    """Blocks of one network: a main chain, a heavier rival branch forking below it, and
    two invalid blocks (one whose proof of work misses its difficulty, one paying the
    miner too much)."""

    params: NetworkParams
    main: tuple[Block, ...]
    side: tuple[Block, ...]
    bad_pow: Block
    bad_amount: Block
    clock_now: int

    @property
    def orders(self) -> dict[str, list[Block]]:
        """Several ways a node might receive them (parents first)."""
        by_height = sorted(
            [*self.main, *self.side], key=lambda b: (b.miner_tx.height, b in self.side)
        )
        return {
            "main then side": [*self.main, *self.side],
            "side then main": [*self.side, *self.main],
            "by height": by_height,
            "side inside main": [*self.main[:5], *self.side, *self.main[5:]],
        }


def with_nonce(chain: Chain, block: Block, *, meeting: bool) -> Block:
    """``block`` with the first nonce from 1000 whose hash meets its difficulty on
    ``chain`` (``meeting``) or misses it."""
    prev_id = block.header.prev_id
    seed = chain.seed_hash(block.miner_tx.height, prev_id)
    difficulty = chain.next_difficulty(prev_id)
    for nonce in range(1000, 2000):
        candidate = block.with_nonce(nonce)
        pow_hash = chain.hasher.hash(candidate.hashing_blob(), key=seed)
        if meets_difficulty(pow_hash, difficulty) == meeting:
            return candidate
    raise AssertionError("no such nonce")


@functools.cache
def scenario() -> Scenario:
    h = ChainHarness(SEEDS)
    main = [h.mine(ALICE) for _ in range(5)]
    rival = clone(h)
    main += [h.mine(ALICE) for _ in range(7)]  # heights 6 to 12
    side = [rival.mine(BOB) for _ in range(9)]  # heights 6 to 14: heavier from 13 on
    # block 8 of the main chain with a nonce that misses the difficulty
    bad_pow = with_nonce(h.chain, main[7], meeting=False)
    # block 9 of the main chain paying its miner one unit too much (with a good nonce)
    greedy = attrs.evolve(
        main[8], miner_tx=attrs.evolve(main[8].miner_tx, amount=main[8].miner_tx.amount + 1)
    )
    bad_amount = with_nonce(h.chain, greedy, meeting=True)
    return Scenario(
        SEEDS,
        tuple(main),
        tuple(side),
        bad_pow,
        bad_amount,
        max(h.clock.now, rival.clock.now),
    )


Outcome = tuple[tuple[AddResult, ...], tuple[bytes, type, str] | None]


def one_by_one(service: ChainService, batches: Sequence[Sequence[Block]]) -> list[Outcome]:
    """``submit_block`` for each block, each batch stopping at its first invalid block."""
    out: list[Outcome] = []
    for batch in batches:
        results: list[AddResult] = []
        failed = None
        for block in batch:
            try:
                results.append(service.submit_block(block))
            except errors.ConsensusError as exc:
                failed = (block.id, type(exc), str(exc))
                break
        out.append((tuple(results), failed))
    return out


def batched(service: ChainService, batches: Sequence[Sequence[Block]]) -> list[Outcome]:
    out: list[Outcome] = []
    for batch in batches:
        result = service.submit_blocks(entries(batch))
        assert isinstance(result, BatchResult)
        assert (result.failed is None) == (result.error is None)
        failed = None
        if result.failed is not None:
            failed = (result.failed, type(result.error), str(result.error))
            assert result.failed == batch[len(result.results)].id
        else:
            assert len(result.results) == len(batch)
        out.append((result.results, failed))
    return out


@st.composite
def deliveries(draw: st.DrawFn) -> list[list[Block]]:
    """The scenario's blocks in one of its orders with, maybe, an invalid block after its
    parent, some blocks again later (``known``) and one block missing (its descendants are
    then orphans), cut into batches."""
    s = scenario()
    blocks = list(s.orders[draw(st.sampled_from(sorted(s.orders)))])

    def after(parent_id: bytes) -> int:
        first = next((i + 1 for i, b in enumerate(blocks) if b.id == parent_id), 0)
        return draw(st.integers(first, len(blocks)))

    bad = draw(st.sampled_from([s.bad_pow, s.bad_amount, None]))
    if bad is not None:
        blocks.insert(after(bad.header.prev_id), bad)
    for _ in range(draw(st.integers(0, 3))):
        again = draw(st.sampled_from(blocks))
        blocks.insert(after(again.header.prev_id), again)
    if draw(st.integers(0, 3)) == 0:
        del blocks[draw(st.integers(0, len(blocks) - 1))]
    sizes = draw(st.lists(st.integers(1, 12), min_size=1, max_size=8))
    batches: list[list[Block]] = []
    i = 0
    while i < len(blocks):
        size = sizes[len(batches) % len(sizes)]
        batches.append(blocks[i : i + size])
        i += size
    return batches


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(batches=deliveries(), threads=st.sampled_from([1, 3]))
def test_batches_leave_the_chain_as_blocks_submitted_one_by_one(
    batches: list[list[Block]], threads: int
) -> None:
    s = scenario()
    with (
        service_for(s.params, CountingHasher(threads=1), Clock(s.clock_now)) as (
            one,
            one_events,
            one_store,
        ),
        service_for(s.params, CountingHasher(threads=threads), Clock(s.clock_now)) as (
            many,
            many_events,
            many_store,
        ),
    ):
        expected = one_by_one(one, batches)
        assert batched(many, batches) == expected
        assert many_events.emitted == one_events.emitted
        assert many_store.data == one_store.data
        assert many.chain is not None and one.chain is not None
        assert many.chain.tip_id == one.chain.tip_id
        # an invalid block is not stored
        for _, failed in expected:
            if failed is not None and failed[1] is not errors.OrphanBlockError:
                assert not many.chain.has_block(failed[0])


def test_each_block_of_a_batch_is_hashed_once(params: NetworkParams) -> None:
    source = ChainHarness(params)
    blocks = [source.mine(ALICE) for _ in range(10)]
    hasher = CountingHasher(threads=3)
    with service_for(params, hasher, source.clock) as (service, events, _):
        first = service.submit_blocks(entries(blocks[:6]))
        assert [r.status for r in first.results] == ["connected"] * 6
        assert hasher.calls == 6
        # the known ones are not hashed again; the new ones once each
        second = service.submit_blocks(entries(blocks[3:]))
        assert [r.status for r in second.results] == ["known"] * 3 + ["connected"] * 4
        assert second.failed is None and second.error is None
        assert hasher.calls == 10
        assert all(len(keys) == 1 for keys in hasher.keys.values())
        assert [height for _, _, height in events.emitted] == list(range(1, 11))
        assert service.submit_blocks([]) == BatchResult(())


def test_an_orphan_stops_a_batch_at_once(params: NetworkParams) -> None:
    source = ChainHarness(params)
    blocks = [source.mine(ALICE) for _ in range(4)]
    hasher = CountingHasher(threads=2)
    with service_for(params, hasher, source.clock) as (service, _, _):
        result = service.submit_blocks(entries(blocks[1:]))
        assert result.results == ()
        assert result.failed == blocks[1].id
        assert isinstance(result.error, errors.OrphanBlockError)
        assert hasher.calls == 0  # orphans are not hashed
        assert service.chain is not None and service.chain.height == 0


def test_a_batch_hashes_on_the_hashers_threads_at_once(params: NetworkParams) -> None:
    source = ChainHarness(params)
    blocks = [source.mine(ALICE) for _ in range(8)]
    hasher = CountingHasher(threads=4, delay=0.05)
    with service_for(params, hasher, source.clock) as (service, _, _):
        began = time.perf_counter()
        result = service.submit_blocks(entries(blocks))
        elapsed = time.perf_counter() - began
        assert [r.status for r in result.results] == ["connected"] * 8
        assert hasher.calls == 8
        assert hasher.most_in_flight >= 2
        assert elapsed < 8 * 0.05


def test_keys_change_at_epoch_boundaries_inside_a_batch() -> None:
    s = scenario()
    hasher = CountingHasher(threads=3)
    with service_for(s.params, hasher, Clock(s.clock_now)) as (service, _, _):
        result = service.submit_blocks(entries([*s.main, *s.side]))
        assert [r.status for r in result.results] == ["connected"] * 12 + ["side"] * 7 + [
            "connected"
        ] * 2
        assert hasher.calls == 21  # every key was right the first time
        chain = service.chain
        assert chain is not None and chain.tip_id == s.side[-1].id
        main_ids = {0: chain.genesis.id} | {b.miner_tx.height: b.id for b in s.main}
        side_ids = {h: main_ids[h] for h in range(6)} | {b.miner_tx.height: b.id for b in s.side}
        for blocks, ids in ((s.main, main_ids), (s.side, side_ids)):
            for block in blocks:
                height = block.miner_tx.height
                expected = ids[0 if height <= 6 else 4 if height <= 10 else 8]
                assert hasher.keys[block.hashing_blob()] == [expected]
                assert chain.seed_hash(height, block.header.prev_id) == expected
        assert main_ids[8] != side_ids[8]  # the branches' keys differ from height 11 on


def test_a_batch_hashes_while_the_one_before_it_is_added(params: NetworkParams) -> None:
    source = ChainHarness(params)
    blocks = [source.mine(ALICE) for _ in range(16)]
    hasher = CountingHasher(threads=4)
    with service_for(params, hasher, source.clock) as (service, events, _):
        results: dict[str, BatchResult] = {}

        def submit(name: str, batch: Sequence[Block]) -> None:
            results[name] = service.submit_blocks(entries(batch))

        def wait_for(condition: Callable[[], bool]) -> None:
            deadline = time.monotonic() + 10
            while not condition():
                assert time.monotonic() < deadline, "timed out"
                time.sleep(0.005)

        first = threading.Thread(target=submit, args=("first", blocks[:8]))
        second = threading.Thread(target=submit, args=("second", blocks[8:]))
        with service.lock:  # no block can be added meanwhile
            first.start()
            wait_for(lambda: hasher.calls == 8)
            second.start()
            # the second batch builds on the first, not yet added: hashed all the same
            wait_for(lambda: hasher.calls == 16)
            assert events.emitted == []
        first.join(10)
        second.join(10)
        assert not first.is_alive() and not second.is_alive()
        assert [r.status for r in results["first"].results] == ["connected"] * 8
        assert [r.status for r in results["second"].results] == ["connected"] * 8
        assert hasher.calls == 16
        assert [height for _, _, height in events.emitted] == list(range(1, 17))


# -- with RandomX ------------------------------------------------------------------------


class Connected:
    """A plugin that counts the connected blocks."""

    def __init__(self) -> None:
        self.heights: list[int] = []

    @hookimpl
    def zion_block_connected(self, block: Any, height: int) -> None:
        self.heights.append(height)


@pytest.mark.anyio
async def test_a_randomx_batch_connects_a_mined_chain(
    make_node: Callable[..., ZionNode],
) -> None:
    recorder = Connected()
    node = make_node(
        {"recorder": recorder},
        installed=["randomx", "consensus", "sqlite"],
        network="devnet",
        sets=[
            "chain.initial_difficulty=1",
            "chain.seed_epoch=16",
            "chain.seed_lag=2",
            "randomx.threads=2",
        ],
    )
    hasher = node.registry("hasher").select("randomx-cpu")
    rules = node.registry("consensus").select("zion")
    service = node.registry("service").get("chain")
    try:
        # 20 blocks at difficulty 1 (every nonce does); key: genesis to 18, block 16 for 19-20
        source = rules.open_chain("devnet", DictStorage(), hasher)
        blocks = []
        for _ in range(20):
            template = source.template(MINER.spend.public_key, MINER.view.public_key)
            assert source.add_block(template.block).status == "connected"
            blocks.append(template.block)
        assert source.seed_hash(20) == blocks[15].id != source.seed_hash(18)
        async with anyio.create_task_group() as tg:
            await tg.start(service.run)
            hashed, _ = hasher.counters.totals()
            result = await anyio.to_thread.run_sync(service.submit_blocks, entries(blocks))
            assert hasher.counters.totals()[0] - hashed == 20  # once each
            assert result.failed is None, result.error
            assert [r.status for r in result.results] == ["connected"] * 20
            assert service.chain.tip_id == source.tip_id
            assert recorder.heights == list(range(1, 21))
            tg.cancel_scope.cancel()
    finally:
        hasher.close()
