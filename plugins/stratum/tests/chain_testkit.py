"""Mining a devnet node's chain directly from a test (no Stratum, no miner service)."""

from __future__ import annotations

from typing import Any

import anyio.to_thread

from zion_core.chain.keys import WalletKeys
from zion_plugin_stratum import protocol

MAX_NONCES = 100_000


def mine_blocks(node: Any, keys: WalletKeys, count: int, *, with_pool: bool = True) -> list[bytes]:
    """Mine ``count`` blocks paid to ``keys`` on ``node``'s chain (blocking); their ids.

    Each block carries the pooled transactions (``with_pool``) and gets a nonce meeting
    the network difficulty, found with the node's hasher: cheap on a devnet of small
    difficulty. Template and submission happen under the chain service's lock, so a
    transaction pooled meanwhile waits for the next block.
    """
    service = node.registry("service").get("chain")
    hasher = node.registry("hasher").select(None)
    ids: list[bytes] = []
    for _ in range(count):
        with service.lock:
            chain = service.chain
            txs = service.mempool.select(1 << 20) if with_pool else []
            made = chain.template(keys.spend.public_key, keys.view.public_key, txs)
            block = made.block
            for nonce in range(MAX_NONCES):
                block = made.block.with_nonce(nonce)
                pow_hash = hasher.hash(block.hashing_blob(), key=made.seed_hash)
                if protocol.meets(pow_hash, made.difficulty):
                    break
            else:
                raise RuntimeError(f"no nonce meets difficulty {made.difficulty}")
            result = service.submit_block(block, {tx.txid: tx for tx in txs})
            assert str(result.status) == "connected", result
            ids.append(block.id)
    return ids


async def mine(node: Any, keys: WalletKeys, count: int = 1, *, with_pool: bool = True) -> None:
    """:func:`mine_blocks` in a worker thread."""
    await anyio.to_thread.run_sync(lambda: mine_blocks(node, keys, count, with_pool=with_pool))
