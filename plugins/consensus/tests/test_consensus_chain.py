"""The chain: connecting blocks, rejecting each broken rule without changing state,
spending coins, reorganisations, and the mempool (with the test-only Keccak hasher)."""

from __future__ import annotations

from typing import Any

import attrs
import pytest
from consensus_helpers import ChainHarness, solve
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from zion_core import ZionError
from zion_core.chain.block import Block, MinerTx
from zion_core.chain.keys import WalletKeys
from zion_core.chain.transaction import OutPoint, Transaction, TxOutput
from zion_plugin_consensus import errors
from zion_plugin_consensus.chain import Chain, build_genesis, meets_difficulty
from zion_plugin_consensus.emission import block_reward
from zion_plugin_consensus.mempool import Mempool
from zion_plugin_consensus.params import TESTNET, NetworkParams
from zion_plugin_consensus.store import Coin

ALICE = WalletKeys.from_seed(bytes([7]) * 32)
BOB = WalletKeys.from_seed(bytes([8]) * 32)


def pay(
    keys: WalletKeys,
    coins: list[tuple[OutPoint, int]],
    to: WalletKeys,
    amount: int,
    fee: int,
) -> Transaction:
    """A signed transaction spending ``coins`` (all owned by ``keys``), with change."""
    total = sum(value for _, value in coins)
    outputs = [TxOutput(amount=amount, spend_key=to.spend.public_key, view_key=to.view.public_key)]
    if total - amount - fee:
        outputs.append(
            TxOutput(
                amount=total - amount - fee,
                spend_key=keys.spend.public_key,
                view_key=keys.view.public_key,
            )
        )
    tx = Transaction(
        unlock_time=0,
        inputs=tuple(o for o, _ in coins),
        outputs=tuple(outputs),
        fee=fee,
    )
    return tx.with_signatures(tuple(keys.spend.sign(tx.signing_message) for _ in coins))


def coinbase_of(block: Block) -> tuple[OutPoint, int]:
    return OutPoint(txid=block.miner_tx.hash, index=0), block.miner_tx.amount


def mature(h: ChainHarness, keys: WalletKeys) -> Block:
    """Mine a block for ``keys``, then enough blocks that its coinbase is spendable."""
    first = h.mine(keys)
    for _ in range(h.params.coinbase_maturity):
        h.mine(BOB)
    return first


def test_a_new_chain_starts_at_its_genesis(harness: ChainHarness) -> None:
    chain = harness.chain
    assert chain.height == 0
    assert chain.tip_id == build_genesis(harness.params).id
    assert chain.block_at(0) == chain.genesis
    # the same store opens again; another network's store is refused
    assert Chain(harness.params, harness.storage, harness.hasher).tip_id == chain.tip_id
    with pytest.raises(errors.WrongGenesisError):
        Chain(TESTNET, harness.storage, harness.hasher)


def test_mined_blocks_connect_and_pay_their_miner(harness: ChainHarness) -> None:
    blocks = [harness.mine(ALICE) for _ in range(3)]
    chain = harness.chain
    assert chain.height == 3
    assert [chain.block_at(i) for i in (1, 2, 3)] == blocks
    outpoint, amount = coinbase_of(blocks[0])
    coin = chain.coin(outpoint)
    assert coin == Coin(
        amount=amount,
        spend_key=ALICE.spend.public_key,
        view_key=ALICE.view.public_key,
        height=1,
        unlock_time=1 + harness.params.coinbase_maturity,
        coinbase=True,
    )
    history = list(chain.store.history(ALICE.spend.public_key, ALICE.view.public_key))
    assert [(height, spent) for height, _, _, spent in history] == [
        (1, False),
        (2, False),
        (3, False),
    ]


def rejected_without_change(
    h: ChainHarness, block: Block, error: type[Exception], txs: tuple[Transaction, ...] = ()
) -> None:
    before = dict(h.storage.data)
    with pytest.raises(error):
        h.chain.add_block(block, {tx.txid: tx for tx in txs})
    assert h.storage.data == before


def test_every_broken_block_rule_is_named_and_changes_nothing(harness: ChainHarness) -> None:
    harness.mine(ALICE)
    good = harness.mine(ALICE, add=False)
    template_difficulty = harness.chain.next_difficulty(harness.chain.tip_id)
    seed = harness.chain.seed_hash(2)

    # proof of work: a nonce whose hash misses the difficulty
    for nonce in range(1000):
        bad = good.with_nonce(nonce)
        pow_hash = harness.hasher.hash(bad.hashing_blob(), key=seed)
        if int.from_bytes(pow_hash, "little") * template_difficulty >= 1 << 256:
            break
    rejected_without_change(harness, bad, errors.InsufficientWorkError)

    greedy = attrs.evolve(
        good, miner_tx=attrs.evolve(good.miner_tx, amount=good.miner_tx.amount + 1)
    )
    rejected_without_change(harness, greedy, errors.WrongCoinbaseAmountError)

    orphan = attrs.evolve(good, header=attrs.evolve(good.header, prev_id=bytes(32)))
    rejected_without_change(harness, orphan, errors.OrphanBlockError)

    old = attrs.evolve(
        good, header=attrs.evolve(good.header, timestamp=harness.params.genesis_timestamp)
    )
    rejected_without_change(harness, old, errors.TimestampTooOldError)

    future = attrs.evolve(
        good, header=attrs.evolve(good.header, timestamp=harness.clock.now + 3600)
    )
    rejected_without_change(harness, future, errors.TimestampTooFarInFutureError)

    wrong_height = attrs.evolve(
        good, miner_tx=attrs.evolve(good.miner_tx, height=5, unlock_time=65)
    )
    rejected_without_change(harness, wrong_height, errors.WrongCoinbaseHeightError)

    missing = attrs.evolve(good, tx_hashes=(bytes(32),))
    rejected_without_change(harness, missing, errors.MissingTransactionError)

    assert harness.chain.add_block(good).status == "connected"
    assert harness.chain.add_block(good).status == "known"


def test_spending_a_mature_coinbase(harness: ChainHarness) -> None:
    first = mature(harness, ALICE)
    coin = coinbase_of(first)
    fee = harness.params.min_fee
    tx = pay(ALICE, [coin], BOB, 5 * 10**12, fee)
    block = harness.mine(BOB, (tx,))
    chain = harness.chain
    assert block.miner_tx.amount == harness.chain.store.meta(block.id).reward + fee
    assert chain.coin(coin[0]) is None  # spent
    assert chain.coin(OutPoint(txid=tx.txid, index=0)).amount == 5 * 10**12
    assert chain.transaction(tx.txid) == tx
    spent = [e for e in chain.store.history(ALICE.spend.public_key, ALICE.view.public_key) if e[3]]
    assert len(spent) == 1


def test_transaction_rules(harness: ChainHarness) -> None:
    young = harness.mine(ALICE)
    fee = harness.params.min_fee

    def rejected(tx: Transaction, error: type[Exception]) -> None:
        block = harness.mine(BOB, (tx,), add=False)
        rejected_without_change(harness, block, error, (tx,))

    rejected(pay(ALICE, [coinbase_of(young)], BOB, 10, fee), errors.ImmatureSpendError)
    for _ in range(harness.params.coinbase_maturity):
        harness.mine(BOB)
    coin = coinbase_of(young)
    rejected(pay(BOB, [coin], BOB, 10, fee), errors.BadSignatureError)  # not Bob's coin
    unbalanced = pay(ALICE, [coin], BOB, 10, fee)
    unbalanced = attrs.evolve(unbalanced, fee=fee + 1)
    unbalanced = unbalanced.with_signatures((ALICE.spend.sign(unbalanced.signing_message),))
    rejected(unbalanced, errors.UnbalancedTransactionError)
    rejected(
        pay(ALICE, [(OutPoint(txid=bytes(32), index=0), 10**12)], BOB, 10, fee),
        errors.UnknownInputError,
    )
    rejected(pay(ALICE, [coin], BOB, 10, 0), errors.FeeTooLowError)
    twice = pay(ALICE, [coin, coin], BOB, 10, fee)
    rejected(twice, errors.DoubleSpendError)
    first = pay(ALICE, [coin], BOB, 10, fee)
    second = pay(ALICE, [coin], BOB, 20, fee)
    rejected_without_change(
        harness,
        harness.mine(BOB, (first, second), add=False),
        errors.DoubleSpendError,
        (first, second),
    )


def test_a_heavier_branch_reorganises_the_chain(harness: ChainHarness) -> None:
    first = mature(harness, ALICE)
    fork_point = harness.chain.tip_id
    fork_height = harness.chain.height
    fee = harness.params.min_fee
    tx = pay(ALICE, [coinbase_of(first)], BOB, 10**12, fee)
    main = [harness.mine(ALICE, (tx,)), harness.mine(ALICE)]
    assert harness.chain.coin(OutPoint(txid=tx.txid, index=0)) is not None

    # a rival branch from the fork point, one block longer, without the transaction
    rival = ChainHarness(harness.params)
    rival.storage.data = dict(harness.storage.data)
    rival.chain = Chain(harness.params, rival.storage, rival.hasher, clock=rival.clock)
    rival.clock.now = harness.clock.now
    while rival.chain.tip_id != fork_point:
        rival.chain._disconnect_tip()
    side = [rival.mine(BOB) for _ in range(3)]

    assert harness.chain.add_block(side[0]).status == "side"
    assert harness.chain.add_block(side[1]).status == "side"  # equal work: no switch
    result = harness.chain.add_block(side[2])
    assert result.status == "connected"
    assert result.disconnected == (main[1].id, main[0].id)
    assert result.connected == tuple(b.id for b in side)
    assert result.returned_txs == (tx,)
    chain = harness.chain
    assert chain.height == fork_height + 3
    assert chain.tip_id == side[2].id
    assert chain.coin(OutPoint(txid=tx.txid, index=0)) is None
    assert chain.coin(coinbase_of(first)[0]) is not None  # unspent again
    assert chain.coin(coinbase_of(main[1])[0]) is None
    assert not chain.is_main(main[0].id)
    # the old branch is kept as a side branch and can come back
    again = harness.chain.add_block(main[1])
    assert again.status == "known"


def test_mempool_accepts_selects_and_forgets_mined(harness: ChainHarness) -> None:
    first = harness.mine(ALICE)
    second = mature(harness, ALICE)  # both coinbases spendable
    pool = Mempool(harness.chain)
    fee = harness.params.min_fee
    cheap = pay(ALICE, [coinbase_of(first)], BOB, 10**12, fee)
    rich = pay(ALICE, [coinbase_of(second)], BOB, 10**12, fee * 10)
    assert pool.add(cheap) and pool.add(rich)
    with pytest.raises(errors.DuplicateTransactionError):
        pool.add(cheap)
    with pytest.raises(errors.DoubleSpendError):
        pool.add(pay(ALICE, [coinbase_of(first)], BOB, 2 * 10**12, fee))
    assert pool.select(1 << 20) == [rich, cheap]
    assert pool.select(rich.size) == [rich]
    # an orphan waits for its parent
    orphan = pay(BOB, [(OutPoint(txid=bytes([9]) * 32, index=0), 10**12)], ALICE, 10, fee)
    assert pool.add(orphan) is False
    assert pool.orphans() == [orphan]
    # survives a restart, once flushed
    pool.flush()
    again = Mempool(harness.chain)
    assert {t.txid for t in again.transactions()} == {cheap.txid, rich.txid}
    harness.mine(BOB, (rich,))
    pool.remove_mined([rich])
    assert pool.transactions() == [cheap]


def test_a_full_pool_evicts_the_lowest_fee_rate(harness: ChainHarness) -> None:
    first = harness.mine(ALICE)
    second = mature(harness, ALICE)
    fee = harness.params.min_fee
    cheap = pay(ALICE, [coinbase_of(first)], BOB, 10**12, fee)
    rich = pay(ALICE, [coinbase_of(second)], BOB, 10**12, fee * 10)
    pool = Mempool(harness.chain, max_bytes=cheap.size + 10)
    pool.add(cheap)
    pool.add(rich)
    assert pool.transactions() == [rich]
    with pytest.raises(errors.PoolFullError):
        pool.add(cheap)


def test_params_fixture_is_devnet(params: NetworkParams) -> None:
    assert params.name == "devnet"
    assert solve  # the helper used by ChainHarness


def test_an_invalid_heavier_branch_leaves_the_chain_as_it_was(harness: ChainHarness) -> None:
    mature(harness, ALICE)
    fork_point = harness.chain.tip_id
    main = [harness.mine(ALICE), harness.mine(ALICE)]
    tip = harness.chain.tip_id
    chain = harness.chain
    # a rival branch whose first block spends a coin that does not exist: its header
    # checks pass, so it is stored as a side block, and it fails only when connected
    bogus = pay(ALICE, [(OutPoint(txid=bytes([5]) * 32, index=0), 10**12)], BOB, 10, 10**8)
    rival = ChainHarness(harness.params)
    rival.storage.data = dict(harness.storage.data)
    rival.chain = Chain(harness.params, rival.storage, rival.hasher, clock=rival.clock)
    rival.clock.now = harness.clock.now
    while rival.chain.tip_id != fork_point:
        rival.chain._disconnect_tip()
    first = solve(
        rival.chain.template(BOB.spend.public_key, BOB.view.public_key, (bogus,)), rival.hasher
    )
    assert chain.add_block(first, {bogus.txid: bogus}).status == "side"

    def child_of(parent: Block) -> Block:
        """A block on ``parent`` that meets every header rule."""
        height = parent.miner_tx.height + 1
        reward = block_reward(chain.store.meta(parent.id).generated, harness.params)
        block = Block(
            header=attrs.evolve(parent.header, prev_id=parent.id, timestamp=harness.clock.now),
            miner_tx=MinerTx.build(
                height=height,
                amount=reward,
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
    assert chain.add_block(child).status == "side"  # as heavy as the main chain
    grandchild = child_of(child)
    with pytest.raises(errors.UnknownInputError):
        chain.add_block(grandchild)  # heavier: the reorganisation fails at ``first``
    assert chain.tip_id == tip
    assert [chain.block_at(h) for h in (chain.height - 1, chain.height)] == main
    # the branch is remembered as invalid: children of its blocks are refused at once
    with pytest.raises(errors.InvalidAncestorError):
        chain.add_block(child_of(grandchild))


@pytest.mark.parametrize("failing_batch", [2, 3, 4])
def test_a_reorganisation_cut_short_is_finished_when_the_chain_opens(
    harness: ChainHarness, failing_batch: int
) -> None:
    """Storage fails in the middle of a reorganisation (as a crash would cut it): the
    chain stays valid, and opening it again adopts the heavier stored branch."""
    for _ in range(5):
        harness.mine(ALICE)
    rival = ChainHarness(harness.params)
    rival.storage.data = dict(harness.storage.data)
    rival.chain = Chain(harness.params, rival.storage, rival.hasher, clock=rival.clock)
    rival.clock.now = harness.clock.now
    rival.chain._disconnect_tip()
    a, b = rival.mine(BOB), rival.mine(BOB)
    assert harness.chain.add_block(a).status == "side"
    write = harness.storage.write_batch
    calls = [0]

    def failing(puts: Any, deletes: Any = ()) -> None:
        calls[0] += 1
        if calls[0] == failing_batch:
            raise OSError("the disk went away")
        write(puts, deletes)

    harness.storage.write_batch = failing  # type: ignore[method-assign]
    with pytest.raises(OSError, match="disk"):
        # batches: 1 store b, 2 disconnect the tip, 3 connect a, 4 connect b
        harness.chain.add_block(b)
    harness.storage.write_batch = write  # type: ignore[method-assign]
    reopened = Chain(harness.params, harness.storage, harness.hasher, clock=harness.clock)
    assert reopened.tip_id == b.id
    assert reopened.height == 6


@settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(data=st.data())
def test_hostile_block_bytes_are_rejected_with_a_typed_error(
    harness: ChainHarness, data: st.DataObject
) -> None:
    """Mutated, truncated or extended bytes of a valid block: decoding and adding raise only
    ZION's typed errors, and a rejected block changes nothing."""
    if harness.chain.height == 0:
        harness.mine(ALICE)
    raw = bytearray(harness.mine(ALICE, add=False).to_bytes())
    for _ in range(data.draw(st.integers(1, 4))):
        raw[data.draw(st.integers(0, len(raw) - 1))] = data.draw(st.integers(0, 255))
    cut = data.draw(st.integers(0, len(raw) + 8))
    raw = raw[:cut] + bytes(max(0, cut - len(raw)))
    before = dict(harness.storage.data)
    try:
        block = Block.from_bytes(bytes(raw))
        harness.chain.add_block(block)
    except ZionError:
        assert harness.storage.data == before
