"""A devnet chain mined with real RandomX, through the plugins a node registers.

The node is built with the installed ``randomx``, ``consensus`` and ``sqlite`` plugins;
the test takes the ``randomx-cpu`` hasher (light mode, one thread), the ``zion`` rules and
the ``sqlite`` storage backend from its registries, opens the devnet chain in a store
file, and mines blocks the way a miner does: for each template, key RandomX with the
template's seed hash, search nonces at the header's nonce offset against the target
``(2^256 - 1) // difficulty``, and hand the block to the chain.

``[chain]`` overrides make it quick: difficulty 1 (every hash meets it; LWMA keeps the
guess for the first ``difficulty_window`` blocks) and a RandomX key epoch of 4 with a lag
of 2, so the key changes twice in 12 blocks: heights 1-6 use the genesis id, 7-10 block
4's id, 11-14 block 8's. A second view of the same chain with a higher difficulty then
shows that the key matters: a nonce found under the previous epoch's key is refused,
one found under the right key is accepted.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from consensus_helpers import DictStorage

from zion_core.chain.block import Block
from zion_core.chain.keys import WalletKeys
from zion_core.node import ZionNode
from zion_plugin_consensus import errors
from zion_plugin_consensus.chain import BlockTemplate, Chain, meets_difficulty
from zion_plugin_consensus.params import with_overrides

MINER = WalletKeys.from_seed(bytes([31]) * 32)
BLOCKS = 12
HARD = 8
"""The difficulty of the second view: a few dozen hashes find a block, and a hash meets it
by chance with probability 1/8."""
MAX_TARGET = (1 << 256) - 1


def search(hasher: Any, template: BlockTemplate, key: bytes, first: int = 0) -> tuple[Block, bytes]:
    """The template with the first nonce from ``first`` whose RandomX hash under ``key``
    meets its difficulty, and that hash (``hasher`` is the ``randomx-cpu`` backend; its
    ``search``, as a miner runs it)."""
    target = MAX_TARGET // template.difficulty
    blob = template.block.hashing_blob()
    offset = template.block.header.nonce_offset
    for start in range(first, first + 4096, 32):
        for nonce, pow_hash in hasher.search(
            blob, nonce_offset=offset, start=start, count=32, target=target, key=key
        ):
            assert int.from_bytes(pow_hash, "little") <= target
            if meets_difficulty(pow_hash, template.difficulty):
                return template.block.with_nonce(nonce), pow_hash
    raise AssertionError(f"no nonce in 4096 meets difficulty {template.difficulty}")


def test_devnet_chain_mined_with_randomx(
    make_node: Callable[..., ZionNode], tmp_path: Path
) -> None:
    node = make_node(
        installed=["randomx", "consensus", "sqlite"],
        network="devnet",
        sets=[
            "chain.initial_difficulty=1",
            "chain.seed_epoch=4",
            "chain.seed_lag=2",
            "randomx.threads=1",
        ],
    )
    hasher = node.registry("hasher").select("randomx-cpu")
    rules = node.registry("consensus").select("zion")
    backend = node.registry("storage").select("sqlite")
    assert hasher.name == "randomx-cpu" and not hasher.fast  # light mode
    params = rules.params("devnet")
    assert (params.initial_difficulty, params.seed_epoch, params.seed_lag) == (1, 4, 2)

    store = backend.open(tmp_path / "devnet.sqlite3")
    try:
        chain = rules.open_chain("devnet", store, hasher)
        assert chain.height == 0
        seeds: dict[int, bytes] = {}
        for _ in range(BLOCKS):
            template = chain.template(MINER.spend.public_key, MINER.view.public_key)
            assert template.block.header.nonce_offset == 39
            hasher.set_key(template.seed_hash)
            block, pow_hash = search(hasher, template, template.seed_hash)
            assert hasher.hash(block.hashing_blob()) == pow_hash  # the current key
            result = chain.add_block(block)
            assert result.status == "connected", result
            assert result.height == template.height
            seeds[template.height] = template.seed_hash

        assert chain.height == BLOCKS
        ids = {h: chain.store.id_at(h) for h in (0, 4, 8)}
        assert all(seeds[h] == ids[0] for h in range(1, 7))
        assert all(seeds[h] == ids[4] for h in range(7, 11))
        assert all(seeds[h] == ids[8] for h in range(11, BLOCKS + 1))
        assert len(set(ids.values())) == 3

        # the same chain, asking for difficulty HARD: the key must be this epoch's
        copy = DictStorage()
        copy.data = dict(store.iter_prefix(b""))
        hard = Chain(with_overrides(params, initial_difficulty=HARD), copy, hasher)
        template = hard.template(MINER.spend.public_key, MINER.view.public_key)
        assert (template.difficulty, template.seed_hash) == (HARD, ids[8])
        stale, _ = search(hasher, template, ids[4])  # the previous epoch's key
        while meets_difficulty(hasher.hash(stale.hashing_blob(), key=ids[8]), HARD):
            stale, _ = search(hasher, template, ids[4], stale.header.nonce + 1)  # 1 in 8
        with pytest.raises(errors.InsufficientWorkError):
            hard.add_block(stale)
        good, _ = search(hasher, template, template.seed_hash)
        assert hard.add_block(good).status == "connected"
    finally:
        hasher.close()
        store.close()
