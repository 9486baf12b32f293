"""RPC methods with monerod's names: ``get_connections``, ``get_peer_list``,
``sync_info``, ``get_bans`` and ``set_bans``."""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import anyio.to_thread

from zion_hookspecs import RpcMethod

from .address import InvalidPeerAddressError, canonical_host

if TYPE_CHECKING:
    from .service import P2PService

MAX_BAN_SECONDS = 10 * 365 * 86_400


def _ok(**fields: Any) -> dict[str, Any]:
    return {**fields, "status": "OK", "untrusted": False}


def rpc_methods(service: P2PService) -> list[RpcMethod]:
    async def get_connections(params: Any = None) -> dict[str, Any]:
        return _ok(connections=service.connections())

    def get_peer_list(params: Any = None) -> dict[str, Any]:
        book = service.book
        if book is None:
            return _ok(white_list=[], gray_list=[])

        def rows(addresses: Any) -> list[dict[str, Any]]:
            return [
                {"host": a.host, "ip": a.host, "port": a.port, "last_seen": a.last_seen}
                for a in addresses
            ]

        return _ok(white_list=rows(book.tried()), gray_list=rows(book.new()))

    async def sync_info(params: Any = None) -> dict[str, Any]:
        status = service.sync_status()
        return _ok(
            height=status.height,
            target_height=status.target_height,
            synchronized=status.synchronized,
            detail=status.detail,
            download_queue=service.sync.queued,
            peers=[{"info": p} for p in service.connections()],
        )

    def get_bans(params: Any = None) -> dict[str, Any]:
        now = time.time()
        bans = service.bans.entries() if service.bans is not None else []
        return _ok(
            bans=[
                {
                    "host": b.host,
                    "ip": b.host,
                    "seconds": max(0, int(b.until - now)),
                    "reason": b.reason,
                }
                for b in bans
            ]
        )

    async def set_bans(params: Any = None) -> dict[str, Any]:
        # on the event loop (a coroutine handler), as it disconnects peers; every entry is
        # checked before any is applied
        if not isinstance(params, Mapping) or not isinstance(params.get("bans"), list):
            raise ValueError('set_bans takes {"bans": [{"host", "ban", "seconds"}...]}')
        bans = service.bans
        assert bans is not None
        changes: list[tuple[str, int | None]] = []  # (host, seconds), None: unban
        for entry in params["bans"]:
            if not isinstance(entry, Mapping):
                raise ValueError("each ban is an object with host, ban and seconds")
            try:
                host = canonical_host(str(entry.get("host", "")))
            except InvalidPeerAddressError as exc:
                raise ValueError(str(exc)) from None
            if entry.get("ban", True):
                seconds = entry.get("seconds")
                if type(seconds) is not int or not 0 < seconds <= MAX_BAN_SECONDS:
                    raise ValueError(f"seconds must be 1..{MAX_BAN_SECONDS}")
                changes.append((host, seconds))
            else:
                changes.append((host, None))

        def apply() -> None:  # the list is saved at each change: a worker thread
            for host, seconds in changes:
                if seconds is None:
                    bans.unban(host)
                else:
                    bans.ban(host, seconds, "set_bans")

        await anyio.to_thread.run_sync(apply)
        banned = {host for host, seconds in changes if seconds is not None}
        for peer in service.established():
            if peer.host in banned:
                service.drop(peer, "banned by the operator")
        return _ok()

    return [
        RpcMethod(
            "get_connections", get_connections, restricted=True, description="Connected peers"
        ),
        RpcMethod("get_peer_list", get_peer_list, restricted=True, description="The address book"),
        RpcMethod("sync_info", sync_info, description="Synchronisation state and peers"),
        RpcMethod("get_bans", get_bans, restricted=True, description="Banned IP addresses"),
        RpcMethod("set_bans", set_bans, restricted=True, description="Ban or unban IP addresses"),
    ]
