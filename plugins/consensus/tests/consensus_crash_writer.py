"""The writer that test_consensus_crash.py kills: a devnet chain mined into a sqlite store.

Usage: ``python consensus_crash_writer.py DB_PATH SEED``. It opens (or creates) the store
with the ``sqlite`` backend, opens a :class:`~zion_plugin_consensus.chain.Chain` over it
with :func:`crash_params` and the test-only Keccak hasher, prints ``ready HEIGHT TIP_HEX``
and then mines forever. Every decision is drawn from a generator seeded with ``SEED``
and the current tip, so a restarted writer carries on from whatever the store holds.

Each step does one of:

- mine a block on the tip, sometimes with transactions that spend mature coinbases and
  change (the miner's) or earlier payments (the payee's), so that coins, address
  history and undo data all change;
- now and then, a reorganisation: a block on the tip's parent (stored as a side block,
  equal work), then a block on that one, which is heavier and replaces the tip.

Output lines, each flushed at once:

``adding H``
    ``add_block`` is about to be called for a main-chain block at height ``H``.
``accepted H ID_HEX``
    printed only after ``add_block`` returned with the block on the main chain at ``H``
    (for a reorganisation, one line per connected block, in order).
``reorging F``
    ``add_block`` is about to be called for the block that makes a branch forking at
    height ``F`` heavier than the main chain.
``known H ID_HEX``
    a block the writer built was already stored off the main chain (left behind by an
    earlier, killed writer), so ``add_block`` changed nothing; the writer moves on.

The clock is the chain's own: the tip's timestamp plus the block time, set just before
each ``add_block``, so restarted writers continue with consistent timestamps.
"""

from __future__ import annotations

import random
import sys
from pathlib import Path

from consensus_helpers import Clock, TestOnlyKeccakHasher, solve

from zion_core.chain.block import Block, BlockHeader, MinerTx
from zion_core.chain.keys import WalletKeys
from zion_core.chain.transaction import OutPoint, Transaction, TxOutput
from zion_hookspecs import Storage
from zion_plugin_consensus import errors
from zion_plugin_consensus.chain import BlockTemplate, Chain, check_spendable
from zion_plugin_consensus.emission import block_reward
from zion_plugin_consensus.params import DEVNET, NetworkParams, with_overrides

MINER = WalletKeys.from_seed(bytes([21]) * 32)
PAYEE = WalletKeys.from_seed(bytes([22]) * 32)
REORG_RATE = 0.08
"""The share of steps that make a two-block branch from the tip's parent."""
TX_RATE = 0.5
"""The share of main-chain blocks that carry transactions (when coins are spendable)."""


def crash_params() -> NetworkParams:
    """Devnet with a tiny difficulty and short maturities, so that spending starts early."""
    return with_overrides(DEVNET, initial_difficulty=2, coinbase_maturity=3, spendable_age=1)


def open_chain(storage: Storage, clock: Clock) -> Chain:
    """The chain the writer (and the test's replay) uses over ``storage``."""
    return Chain(crash_params(), storage, TestOnlyKeccakHasher(), clock=clock)


def spendable(chain: Chain, keys: WalletKeys, height: int, limit: int) -> list[OutPoint]:
    """Up to ``limit`` of ``keys``' unspent coins, oldest first, spendable at ``height``."""
    out: list[OutPoint] = []
    entries = chain.store.history(keys.spend.public_key, keys.view.public_key)
    for _, txid, index, spent in entries:
        if spent:
            continue
        outpoint = OutPoint(txid=txid, index=index)
        coin = chain.coin(outpoint)
        if coin is None:
            continue
        try:
            check_spendable(coin, height, chain.params, outpoint)
        except errors.ConsensusError:
            continue
        out.append(outpoint)
        if len(out) == limit:
            break
    return out


def pay(chain: Chain, owner: WalletKeys, inputs: list[OutPoint], to: WalletKeys) -> Transaction:
    """A signed transaction spending ``inputs`` (``owner``'s): a third to ``to``, the rest
    back to ``owner`` as change, less the minimum fee."""
    total = 0
    for outpoint in inputs:
        coin = chain.coin(outpoint)
        assert coin is not None
        total += coin.amount
    fee = chain.params.min_fee
    paid = (total - fee) // 3
    outputs = [TxOutput(amount=paid, spend_key=to.spend.public_key, view_key=to.view.public_key)]
    outputs.append(
        TxOutput(
            amount=total - fee - paid,
            spend_key=owner.spend.public_key,
            view_key=owner.view.public_key,
        )
    )
    tx = Transaction(unlock_time=0, inputs=tuple(inputs), outputs=tuple(outputs), fee=fee)
    return tx.with_signatures(tuple(owner.spend.sign(tx.signing_message) for _ in inputs))


def transactions(chain: Chain, rng: random.Random, height: int) -> list[Transaction]:
    """The transactions of the next main-chain block (often none)."""
    if rng.random() >= TX_RATE:
        return []
    txs = []
    mine = spendable(chain, MINER, height, rng.randint(1, 2))
    if mine:
        txs.append(pay(chain, MINER, mine, PAYEE))
    if rng.random() < 0.5:
        theirs = spendable(chain, PAYEE, height, 1)
        if theirs:
            txs.append(pay(chain, PAYEE, theirs, MINER))
    return txs


def side_block(chain: Chain, parent_id: bytes, timestamp: int) -> Block:
    """A solved block without transactions on ``parent_id`` (which need not be the tip),
    paying the payee, built by hand as :meth:`Chain.template` only builds on the tip."""
    parent = chain.store.meta(parent_id)
    assert parent is not None
    height = parent.height + 1
    reward = block_reward(parent.generated, chain.params)
    miner = MinerTx.build(
        height=height,
        amount=reward,
        spend_key=PAYEE.spend.public_key,
        view_key=PAYEE.view.public_key,
        unlock_window=chain.params.coinbase_maturity,
    )
    header = BlockHeader(
        major_version=chain.params.major_version,
        minor_version=chain.params.minor_version,
        timestamp=timestamp,
        prev_id=parent_id,
        nonce=0,
    )
    template = BlockTemplate(
        block=Block(header=header, miner_tx=miner, tx_hashes=()),
        height=height,
        difficulty=chain.next_difficulty(parent_id),
        seed_hash=chain.seed_hash(height, parent_id),
        reward=reward,
    )
    return solve(template, chain.hasher)  # type: ignore[arg-type]  # the Keccak hasher


def say(line: str) -> None:
    print(line, flush=True)


def mine_on_tip(chain: Chain, clock: Clock, rng: random.Random, skew: int) -> bool:
    """Mine and add one block on the tip; False if it was already stored (off the main
    chain, left by a killed writer)."""
    height = chain.height + 1
    txs = transactions(chain, rng, height)
    timestamp = chain.tip.timestamp + chain.params.target_seconds + skew
    template = chain.template(
        MINER.spend.public_key, MINER.view.public_key, txs, timestamp=timestamp
    )
    block = solve(template, chain.hasher)  # type: ignore[arg-type]  # the Keccak hasher
    clock.now = block.header.timestamp
    say(f"adding {height}")
    result = chain.add_block(block, {tx.txid: tx for tx in txs})
    if result.status == "known":
        say(f"known {height} {block.id.hex()}")
        return False
    assert result.status == "connected" and result.connected == (block.id,), result
    say(f"accepted {height} {block.id.hex()}")
    return True


def reorganize(chain: Chain, clock: Clock, skew: int) -> bool:
    """Replace the tip with a two-block branch from its parent; False if a block of the
    branch was already stored (then the chain may stay as it is)."""
    old_tip = chain.tip_id
    tip = chain.tip
    target = chain.params.target_seconds
    first = side_block(chain, tip.prev_id, tip.timestamp + 1 + skew)
    clock.now = first.header.timestamp
    result = chain.add_block(first)
    if result.status == "known":
        say(f"known {tip.height} {first.id.hex()}")
    else:
        assert result.status == "side", result
    second = side_block(chain, first.id, first.header.timestamp + target)
    clock.now = second.header.timestamp
    say(f"reorging {tip.height - 1}")
    result = chain.add_block(second)
    if result.status == "known":
        say(f"known {tip.height + 1} {second.id.hex()}")
        return False
    assert result.status == "connected", result
    assert result.disconnected == (old_tip,), result
    assert result.connected == (first.id, second.id), result
    say(f"accepted {tip.height} {first.id.hex()}")
    say(f"accepted {tip.height + 1} {second.id.hex()}")
    return True


def main(path: str, seed: int) -> None:
    from zion_plugin_sqlite import SqliteBackend

    store = SqliteBackend().open(Path(path))
    clock = Clock(0)
    chain = open_chain(store, clock)
    say(f"ready {chain.height} {chain.tip_id.hex()}")
    skew = 0  # bumped when a block came out identical to one a killed writer stored
    while True:
        rng = random.Random(f"{seed}/{chain.tip_id.hex()}/{skew}")
        if chain.height >= 2 and rng.random() < REORG_RATE:
            progressed = reorganize(chain, clock, skew)
        else:
            progressed = mine_on_tip(chain, clock, rng, skew)
        skew = 0 if progressed else skew + 1


if __name__ == "__main__":
    main(sys.argv[1], int(sys.argv[2]))
