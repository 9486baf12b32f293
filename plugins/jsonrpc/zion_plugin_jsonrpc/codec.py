"""Request parameters: attrs classes structured by this plugin's private cattrs converter.

Unknown keys are ignored, as monerod ignores them: pools and miners send extra fields
(``client``, ``fill_pow_hash``...) that must not turn a request into an error. Missing or
mistyped fields become ``-32602 Invalid params`` with cattrs' description in ``data``.
"""

from __future__ import annotations

from typing import Any, TypeVar

import attrs
import cattrs
from cattrs.preconf.json import make_converter

from .errors import INVALID_PARAMS, RpcError

T = TypeVar("T")

_converter = make_converter(prefer_attrib_converters=False)


def _strict_int(value: Any, _type: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"expected an integer, got {type(value).__name__}")
    return value


def _strict_str(value: Any, _type: Any) -> str:
    if not isinstance(value, str):
        raise TypeError(f"expected a string, got {type(value).__name__}")
    return value


def _strict_bool(value: Any, _type: Any) -> bool:
    if not isinstance(value, bool):
        raise TypeError(f"expected true or false, got {type(value).__name__}")
    return value


_converter.register_structure_hook(int, _strict_int)
_converter.register_structure_hook(str, _strict_str)
_converter.register_structure_hook(bool, _strict_bool)


@attrs.frozen
class BlockTemplateParams:
    """``get_block_template``: ``wallet_address`` and either ``reserve_size`` (zero bytes to
    reserve) or ``extra_nonce`` (hex; its bytes fill the reserved space, as xmrig sends it)."""

    wallet_address: str
    reserve_size: int | None = None
    extra_nonce: str | None = None


@attrs.frozen
class HeightParams:
    """A block height (``get_block_header_by_height``)."""

    height: int


@attrs.frozen
class HashParams:
    """A block hash (``get_block_header_by_hash``)."""

    hash: str


@attrs.frozen
class RangeParams:
    """``get_block_headers_range``: inclusive heights."""

    start_height: int
    end_height: int


@attrs.frozen
class BlockParams:
    """``get_block``: by ``hash`` when given, else by ``height``."""

    height: int | None = None
    hash: str | None = None


@attrs.frozen
class SendRawTransactionParams:
    """``/send_raw_transaction``."""

    tx_as_hex: str
    do_not_relay: bool = False


@attrs.frozen
class GetTransactionsParams:
    """``/get_transactions``."""

    txs_hashes: list[str] = attrs.Factory(list)
    decode_as_json: bool = False


def structure(params: Any, cls: type[T]) -> T:
    """``params`` (a JSON object; a missing ``params`` is ``{}``) as ``cls``, or -32602."""
    if params is None:
        params = {}
    if not isinstance(params, dict):
        raise RpcError(INVALID_PARAMS, "Invalid params", "params must be an object")
    try:
        return _converter.structure(params, cls)
    except (cattrs.BaseValidationError, TypeError, ValueError) as exc:
        detail = (
            "; ".join(cattrs.transform_error(exc))
            if isinstance(exc, cattrs.BaseValidationError)
            else str(exc)
        )
        raise RpcError(INVALID_PARAMS, "Invalid params", detail) from None


def parse_hash(text: str, what: str = "hash") -> bytes:
    """A 32-byte hash written as 64 hex digits, or -1 ``Wrong param``."""
    try:
        value = bytes.fromhex(text)
    except ValueError:
        value = b""
    if len(value) != 32:
        raise RpcError(-1, f"Failed to parse hex representation of {what} {text[:80]!r}")
    return value


__all__ = [
    "BlockParams",
    "BlockTemplateParams",
    "GetTransactionsParams",
    "HashParams",
    "HeightParams",
    "RangeParams",
    "SendRawTransactionParams",
    "parse_hash",
    "structure",
]
