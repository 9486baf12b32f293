"""Helpers for the consensus plugin's chain tests.

``TestOnlyKeccakHasher`` stands in for RandomX in unit tests of chain logic, so that
hundreds of blocks can be mined in a second. It is test code only: no plugin registers
it, and every end-to-end test mines with the real ``randomx-cpu`` backend.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Iterator, Mapping

from zion_core.chain.block import Block
from zion_core.chain.hashing import keccak256
from zion_core.chain.keys import WalletKeys
from zion_plugin_consensus.chain import BlockTemplate, Chain, meets_difficulty
from zion_plugin_consensus.params import NetworkParams


class TestOnlyKeccakHasher:
    """keccak256(key + blob): a proof-of-work function that costs nothing (tests only)."""

    __test__ = False

    def __init__(self) -> None:
        self.calls = 0

    def hash(self, blob: bytes, *, key: bytes | None = None) -> bytes:
        self.calls += 1
        return keccak256((key or b"") + blob)


class DictStorage:
    """An in-memory Storage with atomic batches (tests only)."""

    def __init__(self) -> None:
        self.data: dict[bytes, bytes] = {}
        self.batches = 0

    def get(self, key: bytes) -> bytes | None:
        return self.data.get(key)

    def iter_prefix(self, prefix: bytes) -> Iterator[tuple[bytes, bytes]]:
        for key in sorted(k for k in self.data if k.startswith(prefix)):
            yield key, self.data[key]

    def write_batch(self, puts: Mapping[bytes, bytes], deletes: Iterable[bytes] = ()) -> None:
        self.batches += 1
        for key in deletes:
            self.data.pop(key, None)
        self.data.update(puts)

    def close(self) -> None:
        pass


class Clock:
    def __init__(self, start: int) -> None:
        self.now = start

    def __call__(self) -> float:
        return float(self.now)


def solve(template: BlockTemplate, hasher: TestOnlyKeccakHasher) -> Block:
    """The template with a nonce that meets its difficulty."""
    for nonce in itertools.count():
        block = template.block.with_nonce(nonce)
        if meets_difficulty(
            hasher.hash(block.hashing_blob(), key=template.seed_hash), template.difficulty
        ):
            return block
    raise AssertionError("unreachable")


class ChainHarness:
    """A chain, its clock and a helper to mine blocks on it."""

    def __init__(self, params: NetworkParams) -> None:
        self.params = params
        self.storage = DictStorage()
        self.hasher = TestOnlyKeccakHasher()
        self.clock = Clock(params.genesis_timestamp + 1000)
        self.chain = Chain(params, self.storage, self.hasher, clock=self.clock)

    def mine(self, keys: WalletKeys, txs: tuple = (), *, add: bool = True) -> Block:
        self.clock.now += self.params.target_seconds
        template = self.chain.template(keys.spend.public_key, keys.view.public_key, txs)
        block = solve(template, self.hasher)
        if add:
            self.chain.add_block(block, {tx.txid: tx for tx in txs})
        return block
