"""Per-miner hashing blobs of one template, with the least work per extra nonce.

A job differs from its template only by the extra nonce in the miner transaction's
reserved space. Everything else is computed once per template:

- the miner transaction prefix, split around the reserved bytes;
- the *branch* of the transaction tree: with the other transaction hashes fixed, the tree
  root is the miner transaction hash combined, level by level, with one fixed sibling
  hash per level (the miner transaction is always the leftmost leaf);
- the header and the trailing transaction count of the hashing blob;
- the text of the ``job`` notification around the blob and the job id.

A job then costs two Keccak hashes of the prefix (one for a version 1 transaction), one
per tree level, and a few byte concatenations.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from typing import Final

from zion_core.chain.block import Block
from zion_core.chain.codec import encode_varint
from zion_core.chain.hashing import HASH_SIZE, keccak256

from . import protocol

_RCT_NULL_HASH: Final = keccak256(b"\x00")
_ZERO_HASH: Final = bytes(HASH_SIZE)


def tree_branch(others: Sequence[bytes]) -> tuple[bytes, ...]:
    """The siblings of the leftmost leaf of CryptoNote's tree over ``[leaf, *others]``.

    ``tree_hash([leaf, *others])`` equals :func:`branch_root` of ``leaf`` and this branch,
    for any 32-byte ``leaf``.
    """
    count = len(others) + 1
    if count == 1:
        return ()
    if count == 2:
        return (bytes(others[0]),)
    cnt = 1 << ((count - 1).bit_length() - 1)
    kept = 2 * cnt - count
    siblings: list[bytes] = []
    hashes = [b"", *(bytes(item) for item in others)]
    if kept == 0:
        siblings.append(hashes[1])
        rest = [keccak256(hashes[i] + hashes[i + 1]) for i in range(2, count, 2)]
    else:
        rest = hashes[1:kept]
        rest += [keccak256(hashes[i] + hashes[i + 1]) for i in range(kept, count, 2)]
    level = [b"", *rest]
    while len(level) > 1:
        siblings.append(level[1])
        level = [b"", *(keccak256(level[i] + level[i + 1]) for i in range(2, len(level), 2))]
    return tuple(siblings)


def branch_root(leaf: bytes, branch: Sequence[bytes]) -> bytes:
    """The tree root from the leftmost ``leaf`` and its :func:`tree_branch`."""
    node = leaf
    for sibling in branch:
        node = keccak256(node + sibling)
    return node


@functools.lru_cache(maxsize=256)
def _target(difficulty: int) -> str:
    return protocol.target_hex(difficulty)


class BlobMaker:
    """Hashing blobs and ``job`` lines of one template block, per extra nonce."""

    __slots__ = (
        "_branch",
        "_count",
        "_head",
        "_header",
        "_line_end",
        "_size",
        "_tail",
        "_v1",
    )

    def __init__(
        self, block: Block, *, height: int, seed_hash: bytes, next_seed_hash: bytes | None
    ) -> None:
        tx = block.miner_tx
        offset = tx.extra_fields.extra_nonce_offset
        reserved = tx.extra_fields.extra_nonce
        if offset is None or reserved is None:
            raise ValueError("the template's miner transaction has no reserved space")
        prefix = tx.prefix_bytes()
        start = len(prefix) - len(tx.extra) + offset
        self._size = len(reserved)
        self._head = prefix[:start]
        self._tail = prefix[start + self._size :]
        self._v1 = tx.version == 1
        self._branch = tree_branch(block.tx_hashes)
        self._header = block.header.to_bytes()
        self._count = encode_varint(len(block.tx_hashes) + 1)
        end = f'"algo":"{protocol.ALGO}","height":{height},"seed_hash":"{seed_hash.hex()}"'
        if next_seed_hash is not None:
            end += f',"next_seed_hash":"{next_seed_hash.hex()}"'
        self._line_end = end + "}}\n"

    @property
    def reserve_size(self) -> int:
        """Bytes of extra nonce the template has room for."""
        return self._size

    def miner_tx_hash(self, extra_nonce: bytes) -> bytes:
        """The miner transaction's hash with ``extra_nonce`` in its reserved space."""
        if len(extra_nonce) != self._size:
            raise ValueError(f"the extra nonce is {self._size} bytes, not {len(extra_nonce)}")
        prefix = self._head + extra_nonce + self._tail
        if self._v1:
            return keccak256(prefix)
        return keccak256(keccak256(prefix) + _RCT_NULL_HASH + _ZERO_HASH)

    def hashing_blob(self, extra_nonce: bytes) -> bytes:
        """``template.with_extra_nonce(extra_nonce).hashing_blob()``, computed cheaply."""
        root = branch_root(self.miner_tx_hash(extra_nonce), self._branch)
        return self._header + root + self._count

    def job_line(self, blob: bytes, job_id: str, difficulty: int) -> bytes:
        """The encoded ``job`` notification, as ``protocol.encode`` writes it."""
        return (
            '{"jsonrpc":"2.0","method":"job","params":{"blob":"'
            f'{blob.hex()}","job_id":"{job_id}","target":"{_target(difficulty)}",'
            f"{self._line_end}"
        ).encode()


__all__ = ["BlobMaker", "branch_root", "tree_branch"]
