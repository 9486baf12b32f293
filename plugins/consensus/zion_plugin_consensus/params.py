"""Per-network consensus parameters: everything the chain rules need, in one frozen record.

Three networks are defined:

``mainnet``
    The production chain. Two-minute blocks, LWMA-1 over N = 90 blocks, FTL = N·T/20 = 540 s,
    RandomX key rotation every 2048 blocks with a 64-block lag.
``testnet``
    A rehearsal of mainnet: the same rules and schedule, a lower initial difficulty, its own
    ports and its own genesis nonce (hence its own genesis block and chain).
``devnet``
    For development and tests: ten-second blocks, an initial difficulty of 100 (one core hashing
    RandomX in light mode at about 40 H/s finds a block in about 2.5 s on average), a 60-block
    LWMA window and a 32-block seed epoch with a 4-block lag, so a key rotation happens after
    a minute or two of mining. Every field can be overridden with :func:`with_overrides`
    (for instance a seed epoch of 8 and a lag of 2 to test rotation in seconds).

Units: times are whole seconds, amounts are atomic units (:data:`ATOMIC_UNITS_PER_ZION`
= 10^12 per ZION), sizes are bytes, difficulties are expected hashes per block.

Validation lives in attrs validators, so a bad value is rejected however the record is built
(directly, with :func:`attrs.evolve`, or with :func:`with_overrides`); the error,
:class:`NetworkParamsError`, names the field.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Final

import attrs

from zion_core import ConfigError
from zion_core.chain.transaction import ATOMIC_UNITS_PER_ZION

__all__ = [
    "ATOMIC_UNITS_PER_ZION",
    "DEVNET",
    "MAINNET",
    "MAX_AMOUNT",
    "MAX_GENESIS_TIMESTAMP",
    "MAX_VERSION",
    "MIN_GENESIS_TIMESTAMP",
    "NETWORKS",
    "TESTNET",
    "NetworkParams",
    "NetworkParamsError",
    "lwma_future_time_limit",
    "with_overrides",
]

"""1 ZION = 10^12 atomic units; every amount in consensus is an integer number of atomic units."""

MAX_AMOUNT: Final = 2**64 - 1
"""Amounts are encoded as unsigned 64-bit varints, so no single amount may exceed this."""

MIN_GENESIS_TIMESTAMP: Final = 2**28
MAX_GENESIS_TIMESTAMP: Final = 2**35 - 1
"""Timestamps from 2^28 to 2^35 - 1 (1978 to 3058) encode as varints of exactly 5 bytes; with
one-byte versions that puts the nonce of the hashing blob at offset 39, where stock miners
(XMRig) write it."""

MAX_VERSION: Final = 127
"""Block versions stay below 128 so that each encodes as one varint byte (nonce at offset 39)."""


class NetworkParamsError(ConfigError, ValueError):
    """A network parameter is missing, unknown or invalid; ``field`` names it."""

    def __init__(self, field: str, message: str) -> None:
        self.field = field
        super().__init__(f"network parameter {field!r}: {message}")


def lwma_future_time_limit(window: int, target: int) -> int:
    """The future time limit LWMA-1 recommends: ``N·T/20`` seconds (integer division).

    A timestamp may run at most this far ahead of local time. Keeping FTL at N·T/20 bounds how
    much a miner can lower the next difficulty by faking a late timestamp to a few percent.
    """
    return window * target // 20


# ----------------------------------------------------------------------------- validators

_Validator = Callable[[Any, "attrs.Attribute[Any]", Any], None]


def _integer(minimum: int, maximum: int | None = None) -> _Validator:
    """An ``int`` (``bool`` refused) within ``[minimum, maximum]``."""

    def check(_instance: Any, attribute: attrs.Attribute[Any], value: Any) -> None:
        if not isinstance(value, int) or isinstance(value, bool):
            raise NetworkParamsError(
                attribute.name, f"expected an integer, got {type(value).__name__} {value!r}"
            )
        if value < minimum:
            raise NetworkParamsError(attribute.name, f"must be at least {minimum}, got {value}")
        if maximum is not None and value > maximum:
            raise NetworkParamsError(attribute.name, f"must be at most {maximum}, got {value}")

    return check


def _power_of_two(_instance: Any, attribute: attrs.Attribute[Any], value: int) -> None:
    if value & (value - 1):
        raise NetworkParamsError(attribute.name, f"must be a power of two, got {value}")


def _check_name(_instance: Any, attribute: attrs.Attribute[Any], value: Any) -> None:
    if not isinstance(value, str) or not value.isascii() or not value.isidentifier():
        raise NetworkParamsError(attribute.name, f"must be a lowercase identifier, got {value!r}")
    if value != value.lower():
        raise NetworkParamsError(attribute.name, f"must be a lowercase identifier, got {value!r}")


def _check_genesis_key(_instance: Any, attribute: attrs.Attribute[Any], value: Any) -> None:
    if not isinstance(value, bytes) or len(value) != 32:
        raise NetworkParamsError(attribute.name, f"expected 32 bytes, got {value!r}")


def _check_seed_lag(instance: NetworkParams, attribute: attrs.Attribute[Any], value: int) -> None:
    # attrs runs validators after every field is set, so seed_epoch is available here.
    if value >= instance.seed_epoch:
        raise NetworkParamsError(
            attribute.name,
            f"must be smaller than seed_epoch ({instance.seed_epoch}), got {value}",
        )


def _distinct_from(*others: str) -> _Validator:
    """Differs from the (earlier declared) fields ``others``: the default ports must not clash."""

    def check(instance: Any, attribute: attrs.Attribute[Any], value: int) -> None:
        for other in others:
            if getattr(instance, other) == value:
                raise NetworkParamsError(
                    attribute.name, f"port {value} is also {other}; the three ports must differ"
                )

    return check


def _odd(_instance: Any, attribute: attrs.Attribute[Any], value: int) -> None:
    if value % 2 == 0:
        raise NetworkParamsError(
            attribute.name, f"must be odd so that the median is a timestamp, got {value}"
        )


def _at_most_field(other: str) -> _Validator:
    def check(instance: Any, attribute: attrs.Attribute[Any], value: int) -> None:
        limit = getattr(instance, other)
        if value > limit:
            raise NetworkParamsError(
                attribute.name, f"must not exceed {other} ({limit}), got {value}"
            )

    return check


_positive = _integer(1)
_non_negative = _integer(0)
_port = _integer(1, 65535)
_amount = _integer(0, MAX_AMOUNT)


# ----------------------------------------------------------------------------- the record


@attrs.frozen(kw_only=True)
class NetworkParams:
    """The consensus parameters of one network. Immutable; derive variants with
    :func:`with_overrides`.

    Versions
        ``major_version`` and ``minor_version``: what every block header carries (below 128).
    Time (seconds)
        ``target_seconds`` (T), ``future_time_limit`` (a block's timestamp may be at most this
        far ahead of the validating node's clock), ``timestamp_window`` (a block's timestamp must be
        above the median of this many previous timestamps; odd, so the median is one of them).
    Difficulty (LWMA-1, see :mod:`.difficulty`)
        ``difficulty_window`` (N solvetimes, N+1 blocks), ``initial_difficulty`` (the
        ``difficulty_guess`` used for the first N blocks after genesis).
    Locks (blocks)
        ``coinbase_maturity`` (a coinbase output is spendable this many blocks after its own),
        ``spendable_age`` (the same for ordinary outputs).
    Emission (atomic units, see :mod:`.emission`)
        ``money_supply``, ``emission_speed_shift``, ``tail_reward``.
    Size limits
        ``max_block_size`` (bytes, the hard limit that replaces a weight penalty),
        ``max_tx_size`` (bytes), ``max_block_txs`` (transactions besides the coinbase).
    Fees (atomic units)
        ``min_fee``: the smallest fee a transaction may pay, a flat anti-spam floor.
    RandomX key schedule (blocks, see :mod:`.seeds`)
        ``seed_epoch`` and ``seed_lag``, powers of two with ``seed_lag < seed_epoch``.
    Ports
        ``p2p_port``, ``rpc_port``, ``stratum_port``: the defaults, distinct.
    Genesis
        ``genesis_timestamp`` (2^28 to 2^35 - 1: a 5-byte varint, so the nonce sits at offset
        39), ``genesis_nonce`` (u32), ``genesis_reward`` (atomic units) and
        ``genesis_key``, the 32-byte public key the genesis coinbase pays. The values here are
        fixed placeholders, ``SHA-256("ZION genesis key placeholder: <network>")``, not known to
        be curve points: the genesis output is to be treated as unspendable.
    Reorganisations
        ``reorg_limit``: the depth, in blocks below the tip, from which a node refuses a
        competing branch, however much work it has.
    """

    name: str = attrs.field(validator=_check_name)
    major_version: int = attrs.field(default=1, validator=_integer(0, MAX_VERSION))
    minor_version: int = attrs.field(default=0, validator=_integer(0, MAX_VERSION))

    target_seconds: int = attrs.field(validator=_positive)
    future_time_limit: int = attrs.field(validator=_positive)
    timestamp_window: int = attrs.field(default=11, validator=[_positive, _odd])

    difficulty_window: int = attrs.field(validator=_positive)
    initial_difficulty: int = attrs.field(validator=_positive)

    coinbase_maturity: int = attrs.field(default=60, validator=_non_negative)
    spendable_age: int = attrs.field(default=10, validator=_non_negative)

    money_supply: int = attrs.field(validator=_integer(1, MAX_AMOUNT))
    emission_speed_shift: int = attrs.field(validator=_integer(1, 63))
    tail_reward: int = attrs.field(validator=[_amount, _at_most_field("money_supply")])

    max_block_size: int = attrs.field(validator=_positive)
    max_tx_size: int = attrs.field(validator=[_positive, _at_most_field("max_block_size")])
    max_block_txs: int = attrs.field(validator=_positive)
    min_fee: int = attrs.field(validator=_amount)

    seed_epoch: int = attrs.field(validator=[_integer(2), _power_of_two])
    seed_lag: int = attrs.field(validator=[_positive, _power_of_two, _check_seed_lag])

    p2p_port: int = attrs.field(validator=_port)
    rpc_port: int = attrs.field(validator=[_port, _distinct_from("p2p_port")])
    stratum_port: int = attrs.field(validator=[_port, _distinct_from("p2p_port", "rpc_port")])

    genesis_timestamp: int = attrs.field(
        validator=_integer(MIN_GENESIS_TIMESTAMP, MAX_GENESIS_TIMESTAMP)
    )
    genesis_nonce: int = attrs.field(validator=_integer(0, 2**32 - 1))
    genesis_reward: int = attrs.field(validator=[_amount, _at_most_field("money_supply")])
    genesis_key: bytes = attrs.field(validator=_check_genesis_key)

    reorg_limit: int = attrs.field(validator=_positive)


# ----------------------------------------------------------------------------- emission
#
# ZION's own emission (the same on every network): a supply of 12 million ZION approached with
# a per-block decay of 2^-20 at two-minute blocks (half of the supply is out after
# ln 2 · 2^20 ≈ 727 000 blocks, about 2.8 years), then a tail of 0.3 ZION per block (0.15 ZION
# a minute), which takes over at height 3 818 332 (about 14.5 years), when 97.4 % of the supply
# has been emitted. The supply stays far below 2^64 - 1 so sums of amounts keep headroom.

_MONEY_SUPPLY: Final = 12_000_000 * ATOMIC_UNITS_PER_ZION
_EMISSION_SPEED_SHIFT: Final = 20
_TAIL_REWARD: Final = 3 * ATOMIC_UNITS_PER_ZION // 10
_GENESIS_REWARD: Final = _MONEY_SUPPLY >> _EMISSION_SPEED_SHIFT  # block_reward(0): no premine

_GENESIS_TIMESTAMP: Final = 1_767_225_600  # 2026-01-01T00:00:00Z
_GENESIS_NONCE_BASE: Final = 0x5A494F4E  # b"ZION" read as a big-endian u32


MAINNET: Final = NetworkParams(
    name="mainnet",
    target_seconds=120,
    future_time_limit=lwma_future_time_limit(90, 120),  # 540 s
    difficulty_window=90,
    initial_difficulty=120_000,  # ~1 kH/s: too low costs 90 fast blocks, too high a stall
    money_supply=_MONEY_SUPPLY,
    emission_speed_shift=_EMISSION_SPEED_SHIFT,
    tail_reward=_TAIL_REWARD,
    max_block_size=1_000_000,
    max_tx_size=100_000,
    max_block_txs=10_000,
    min_fee=100_000_000,  # 0.0001 ZION
    seed_epoch=2048,
    seed_lag=64,
    p2p_port=19180,
    rpc_port=19181,
    stratum_port=19182,
    genesis_timestamp=_GENESIS_TIMESTAMP,
    genesis_nonce=_GENESIS_NONCE_BASE,
    genesis_reward=_GENESIS_REWARD,
    genesis_key=bytes.fromhex("129e71ebcce4bd9024fd72abdcbc25200f3fb6afca178a7de466a8547d1f299c"),
    reorg_limit=720,
)
"""Two-minute blocks; LWMA-1 N = 90, FTL 540 s; RandomX epoch 2048, lag 64."""

TESTNET: Final = attrs.evolve(
    MAINNET,
    name="testnet",
    initial_difficulty=12_000,  # ~100 H/s: a single light-mode CPU can start the chain
    p2p_port=29180,
    rpc_port=29181,
    stratum_port=29182,
    genesis_nonce=_GENESIS_NONCE_BASE + 1,
    genesis_key=bytes.fromhex("3f0ce065f2c6f9cfba86b9a468c950a3e5c7314de09b0914e4b0dec5912cc432"),
)
"""Mainnet's rules and schedule with a lower initial difficulty and its own genesis and ports."""

DEVNET: Final = attrs.evolve(
    MAINNET,
    name="devnet",
    target_seconds=10,
    future_time_limit=lwma_future_time_limit(60, 10),  # 30 s
    difficulty_window=60,
    initial_difficulty=100,  # ~2.5 s per block at 40 H/s (one core, light mode)
    seed_epoch=32,
    seed_lag=4,
    p2p_port=39180,
    rpc_port=39181,
    stratum_port=39182,
    genesis_nonce=_GENESIS_NONCE_BASE + 2,
    genesis_key=bytes.fromhex("bf68227e2f8912f1aa72ad55c3ddee3f6bcd3a632cd3da11341168551483f473"),
    reorg_limit=360,
)
"""Ten-second blocks, difficulty 100 to start, RandomX epoch 32 with lag 4."""

NETWORKS: Final[dict[str, NetworkParams]] = {p.name: p for p in (MAINNET, TESTNET, DEVNET)}
"""The built-in networks by name: ``mainnet``, ``testnet``, ``devnet``."""


def with_overrides(params: NetworkParams, **changes: object) -> NetworkParams:
    """``params`` with some fields replaced, every rule checked again.

    Meant for configuration (for instance a devnet with ``seed_epoch=8, seed_lag=2``). An
    unknown field, a value of the wrong type or a value that breaks a rule raises
    :class:`NetworkParamsError` naming the field. ``genesis_key`` may also be given as a
    64-character hex string, as configuration files cannot hold bytes.
    """
    known = {field.name for field in attrs.fields(NetworkParams)}
    for field_name in changes:
        if field_name not in known:
            raise NetworkParamsError(
                field_name, f"unknown; known parameters: {', '.join(sorted(known))}"
            )
    values: dict[str, Any] = dict(changes)
    key = values.get("genesis_key")
    if isinstance(key, str):
        try:
            values["genesis_key"] = bytes.fromhex(key)
        except ValueError:
            raise NetworkParamsError("genesis_key", f"not a hex string: {key!r}") from None
    return attrs.evolve(params, **values)
