"""JSON-RPC errors with monerod's codes and messages (``core_rpc_server_error_codes.h``)."""

from __future__ import annotations

from typing import Any, Final

PARSE_ERROR: Final = -32700
INVALID_REQUEST: Final = -32600
METHOD_NOT_FOUND: Final = -32601
INVALID_PARAMS: Final = -32602
INTERNAL_ERROR: Final = -32603
UNAUTHORIZED: Final = -32003
"""An admin method called without the admin token."""
RATE_LIMITED: Final = -32005
"""The client's IP address is over its request rate (HTTP 429)."""

WRONG_PARAM: Final = -1
TOO_BIG_HEIGHT: Final = -2
TOO_BIG_RESERVE_SIZE: Final = -3
WRONG_WALLET_ADDRESS: Final = -4
INTERNAL: Final = -5
WRONG_BLOCKBLOB: Final = -6
BLOCK_NOT_ACCEPTED: Final = -7
CORE_BUSY: Final = -9


class RpcError(Exception):
    """An error answered to the client as ``{"error": {"code", "message"[, "data"]}}``."""

    def __init__(self, code: int, message: str, data: Any = None) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.data = data

    def to_json(self) -> dict[str, Any]:
        """The JSON-RPC ``error`` member."""
        error: dict[str, Any] = {"code": self.code, "message": self.message}
        if self.data is not None:
            error["data"] = self.data
        return error


def core_busy(reason: str = "") -> RpcError:
    """monerod's answer while the chain is not ready or not synchronized (-9); ``reason``,
    when given, is sent as ``data: {"reason": ...}``."""
    return RpcError(CORE_BUSY, "Core is busy", {"reason": reason} if reason else None)


__all__ = [
    "BLOCK_NOT_ACCEPTED",
    "CORE_BUSY",
    "INTERNAL",
    "INTERNAL_ERROR",
    "INVALID_PARAMS",
    "INVALID_REQUEST",
    "METHOD_NOT_FOUND",
    "PARSE_ERROR",
    "RATE_LIMITED",
    "TOO_BIG_HEIGHT",
    "TOO_BIG_RESERVE_SIZE",
    "UNAUTHORIZED",
    "WRONG_BLOCKBLOB",
    "WRONG_PARAM",
    "WRONG_WALLET_ADDRESS",
    "RpcError",
    "core_busy",
]
