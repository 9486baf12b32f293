"""Context-free checks: what a block or transaction must satisfy on its own.

These run before anything that needs the chain (parent, coins, proof of work), so
malformed data is turned away cheaply. Each broken rule raises its own
:class:`~.errors.ConsensusError` subclass.
"""

from __future__ import annotations

from collections.abc import Sequence

from zion_core.chain.block import NONCE_OFFSET, Block
from zion_core.chain.codec import MAX_UINT64, encode_varint
from zion_core.chain.ed25519 import Ed25519Backend, consensus_backend
from zion_core.chain.transaction import Transaction

from . import errors
from .params import NetworkParams

_ed25519: Ed25519Backend | None = None


def signature_backend() -> Ed25519Backend:
    """The one Ed25519 implementation consensus uses (libsodium through PyNaCl)."""
    global _ed25519
    if _ed25519 is None:
        _ed25519 = consensus_backend()
    return _ed25519


def check_block(block: Block, params: NetworkParams) -> None:
    """Version, nonce position, size and coinbase shape."""
    header = block.header
    if (header.major_version, header.minor_version) != (
        params.major_version,
        params.minor_version,
    ):
        raise errors.WrongVersionError(
            f"block version {header.major_version}.{header.minor_version}; "
            f"{params.name} expects {params.major_version}.{params.minor_version}"
        )
    nonce_at = (
        len(
            encode_varint(header.major_version)
            + encode_varint(header.minor_version)
            + encode_varint(header.timestamp)
        )
        + 32
    )
    if nonce_at != NONCE_OFFSET:
        raise errors.NonceOffsetError(
            f"the nonce would be at byte {nonce_at} of the hashing blob, not {NONCE_OFFSET} "
            "(the timestamp must take 5 varint bytes)"
        )
    size = len(block.to_bytes())
    if size > params.max_block_size:
        raise errors.BlockTooLargeError(
            f"block of {size} bytes; the limit is {params.max_block_size}"
        )
    if len(block.tx_hashes) > params.max_block_txs:
        raise errors.BlockTooLargeError(
            f"block with {len(block.tx_hashes)} transactions; the limit is {params.max_block_txs}"
        )
    miner = block.miner_tx
    if miner.version != 2:
        raise errors.BadCoinbaseError(f"miner transaction version {miner.version}, not 2")
    if miner.unlock_time != miner.height + params.coinbase_maturity:
        raise errors.BadCoinbaseError(
            f"miner transaction unlocks at {miner.unlock_time}, not at height "
            f"{miner.height} + {params.coinbase_maturity}"
        )
    if miner.view_tag is not None:
        raise errors.BadCoinbaseError("the miner output must be a plain key output (tag 2)")
    if miner.tx_public_key is None:
        raise errors.BadCoinbaseError("the miner transaction carries no view key (extra tag 1)")


def check_transaction(tx: Transaction, params: NetworkParams) -> None:
    """Inputs and outputs present, no input twice, amounts in range, one signature each."""
    txid = tx.txid.hex()
    if not tx.inputs:
        raise errors.EmptyTransactionError(f"transaction {txid} has no inputs")
    if not tx.outputs:
        raise errors.EmptyTransactionError(f"transaction {txid} has no outputs")
    if len(set(tx.inputs)) != len(tx.inputs):
        raise errors.DoubleSpendError(f"transaction {txid} lists an input twice")
    if len(tx.signatures) != len(tx.inputs):
        raise errors.BadSignatureError(
            f"transaction {txid} has {len(tx.signatures)} signatures for {len(tx.inputs)} inputs"
        )
    if any(o.amount == 0 for o in tx.outputs):
        raise errors.ZeroAmountError(f"transaction {txid} has an output of 0")
    total = sum(o.amount for o in tx.outputs) + tx.fee
    if total > MAX_UINT64:
        raise errors.AmountOverflowError(f"transaction {txid} pays more than 2^64-1 in total")
    if tx.fee < params.min_fee:
        raise errors.FeeTooLowError(
            f"transaction {txid} pays a fee of {tx.fee}; the minimum is {params.min_fee}"
        )


def verify_signatures(tx: Transaction, owners: Sequence[bytes]) -> None:
    """Each input's signature over the txid, by the spend key that owns the coin."""
    backend = signature_backend()
    message = tx.signing_message
    for index, (owner, signature) in enumerate(zip(owners, tx.signatures, strict=True)):
        if not backend.verify(owner, message, signature):
            raise errors.BadSignatureError(
                f"input {index} of transaction {tx.txid.hex()} is not signed by its owner"
            )
