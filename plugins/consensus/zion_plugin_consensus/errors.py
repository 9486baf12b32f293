"""The consensus rules' exceptions: one class per rule, all under :class:`ConsensusError`.

Each class's docstring states the rule it enforces. Validation code raises the most specific
class, so callers (the node, RPC, tests) can tell which rule a block broke.
"""

from __future__ import annotations

from zion_core import ValidationError

__all__ = [
    "AmountOverflowError",
    "BadCoinbaseError",
    "BadSignatureError",
    "BlockError",
    "BlockTooLargeError",
    "ConsensusError",
    "DoubleSpendError",
    "DuplicateTransactionError",
    "EmptyTransactionError",
    "FeeTooLowError",
    "ImmatureSpendError",
    "InsufficientWorkError",
    "InvalidAncestorError",
    "LockedSpendError",
    "MissingTransactionError",
    "NonceOffsetError",
    "OrphanBlockError",
    "PoolFullError",
    "ReorgTooDeepError",
    "TimestampTooFarInFutureError",
    "TimestampTooOldError",
    "TransactionError",
    "UnbalancedTransactionError",
    "UnknownInputError",
    "WrongCoinbaseAmountError",
    "WrongCoinbaseHeightError",
    "WrongGenesisError",
    "WrongVersionError",
    "ZeroAmountError",
]


class ConsensusError(ValidationError):
    """A block or transaction breaks one of ZION's consensus rules."""


class TimestampTooOldError(ConsensusError):
    """Rule: a block's timestamp must be strictly greater than the median time past, the median
    of the previous ``timestamp_window`` (11) block timestamps."""

    def __init__(self, timestamp: int, median_time_past: int) -> None:
        self.timestamp = timestamp
        self.median_time_past = median_time_past
        super().__init__(
            f"block timestamp {timestamp} is not above the median time past {median_time_past}"
        )


class TimestampTooFarInFutureError(ConsensusError):
    """Rule: a block's timestamp may be at most ``future_time_limit`` seconds ahead of the
    validating node's clock. The block is not invalid for ever: it may be accepted later."""

    def __init__(self, timestamp: int, limit: int) -> None:
        self.timestamp = timestamp
        self.limit = limit
        super().__init__(
            f"block timestamp {timestamp} is more than the future time limit ahead "
            f"of local time (latest acceptable: {limit})"
        )


class BlockError(ConsensusError):
    """A block breaks a rule (the subclasses say which)."""


class TransactionError(ConsensusError):
    """A transaction breaks a rule (the subclasses say which)."""


class WrongGenesisError(BlockError):
    """Rule: a store holds one network's chain; its genesis must be this network's."""


class OrphanBlockError(BlockError):
    """Rule: a block's parent must be known. (Not invalid for ever: the parent may come later.)"""


class InvalidAncestorError(BlockError):
    """Rule: a block building on a block found invalid is invalid too."""


class WrongVersionError(BlockError):
    """Rule: a block's major and minor versions are the network's."""


class NonceOffsetError(BlockError):
    """Rule: the nonce sits at byte 39 of the hashing blob (versions below 128, a 5-byte
    timestamp), where miners write it."""


class BlockTooLargeError(BlockError):
    """Rule: a block is at most ``max_block_size`` bytes and lists at most ``max_block_txs``
    transactions."""


class BadCoinbaseError(BlockError):
    """Rule: the miner transaction is version 2, unlocks ``coinbase_maturity`` blocks after its
    height and carries the recipient's view key (extra tag 1)."""


class WrongCoinbaseHeightError(BlockError):
    """Rule: the miner transaction's input names the block's height."""


class WrongCoinbaseAmountError(BlockError):
    """Rule: the miner transaction pays exactly the block reward plus the block's fees."""


class InsufficientWorkError(BlockError):
    """Rule: the RandomX hash of the hashing blob (key: the seed hash of the block's height) times
    the difficulty stays below 2^256."""


class ReorgTooDeepError(BlockError):
    """Rule: a branch forking ``reorg_limit`` or more blocks below the tip is refused."""


class MissingTransactionError(BlockError):
    """Rule: every transaction a block lists must be given or known, with that id."""


class DuplicateTransactionError(TransactionError):
    """Rule: a transaction appears once: once in a block, once in the chain, once in the pool."""


class EmptyTransactionError(TransactionError):
    """Rule: a transaction has at least one input and one output."""


class ZeroAmountError(TransactionError):
    """Rule: every output carries a positive amount."""


class AmountOverflowError(TransactionError):
    """Rule: outputs plus fee stay within 2^64-1 atomic units."""


class FeeTooLowError(TransactionError):
    """Rule: the fee is at least the network's ``min_fee``."""


class DoubleSpendError(TransactionError):
    """Rule: an output is spent at most once (in a transaction, a block, the chain and the pool)."""


class UnknownInputError(TransactionError):
    """Rule: every input is an unspent output of the chain."""


class ImmatureSpendError(TransactionError):
    """Rule: a coinbase output is spendable ``coinbase_maturity`` blocks after it was mined, any
    other output after ``spendable_age`` blocks."""


class LockedSpendError(TransactionError):
    """Rule: an output is not spent before its transaction's unlock height."""


class UnbalancedTransactionError(TransactionError):
    """Rule: inputs equal outputs plus the fee, exactly."""


class BadSignatureError(TransactionError):
    """Rule: each input carries one Ed25519 signature of the txid by the spend key that owns the
    coin."""


class PoolFullError(TransactionError):
    """Rule (pool policy): when the pool is full, a transaction must pay more per byte than the
    cheapest pooled one."""
