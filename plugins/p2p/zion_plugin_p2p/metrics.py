"""The ``p2p`` metrics source and status panel: peers, sync progress, traffic, bans."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any

from zion_hookspecs import MetricSample

if TYPE_CHECKING:
    from .messages import Message
    from .service import P2PService


class P2PMetrics:
    """Counters kept by the service; :meth:`collect` reads them with the live state."""

    name = "p2p"

    def __init__(self, service: P2PService) -> None:
        self.service = service
        self.messages: Counter[str] = Counter()
        self.handshakes = 0
        self.refused = 0
        self.bans = 0
        self.timeouts = 0
        self.relayed_in = 0
        self.relayed_out = 0
        self.txs_in = 0

    def received(self, message: Message) -> None:
        self.messages[type(message).__name__] += 1

    def collect(self) -> Iterable[MetricSample]:
        service = self.service
        status = service.sync_status()
        yield MetricSample(
            "zion_p2p_peers",
            "gauge",
            "Connected peers",
            float(status.outgoing),
            {"direction": "out"},
        )
        yield MetricSample(
            "zion_p2p_peers",
            "gauge",
            "Connected peers",
            float(status.incoming),
            {"direction": "in"},
        )
        yield MetricSample(
            "zion_p2p_synchronized",
            "gauge",
            "1 when the node counts as synchronized with its peers",
            1.0 if status.synchronized else 0.0,
        )
        yield MetricSample(
            "zion_p2p_target_height",
            "gauge",
            "Blocks in the longest chain a peer claims (a count, like get_info height)",
            float(status.target_height),
        )
        yield MetricSample(
            "zion_p2p_download_queue_blocks",
            "gauge",
            "Blocks whose headers are known and that are not connected yet",
            float(service.sync.queued),
        )
        yield MetricSample(
            "zion_p2p_sync_blocks_total",
            "counter",
            "Blocks connected from downloads",
            float(service.sync.connected),
        )
        book = service.book
        if book is not None:
            yield MetricSample(
                "zion_p2p_addresses",
                "gauge",
                "Addresses in the address book",
                float(book.new_count),
                {"table": "new"},
            )
            yield MetricSample(
                "zion_p2p_addresses",
                "gauge",
                "Addresses in the address book",
                float(book.tried_count),
                {"table": "tried"},
            )
        bans = service.bans
        yield MetricSample(
            "zion_p2p_banned",
            "gauge",
            "IP addresses banned now",
            float(len(bans.entries()) if bans else 0),
        )
        yield MetricSample(
            "zion_p2p_bans_total", "counter", "Bans given to misbehaving peers", float(self.bans)
        )
        yield MetricSample(
            "zion_p2p_handshakes_total", "counter", "Handshakes completed", float(self.handshakes)
        )
        yield MetricSample(
            "zion_p2p_refused_total",
            "counter",
            "Inbound connections refused (limits, bans)",
            float(self.refused),
        )
        yield MetricSample(
            "zion_p2p_timeouts_total",
            "counter",
            "Peers dropped for a missed deadline",
            float(self.timeouts),
        )
        yield MetricSample(
            "zion_p2p_blocks_relayed_total",
            "counter",
            "Blocks announced to peers",
            float(self.relayed_out),
            {"direction": "out"},
        )
        yield MetricSample(
            "zion_p2p_blocks_relayed_total",
            "counter",
            "Blocks received by relay",
            float(self.relayed_in),
            {"direction": "in"},
        )
        yield MetricSample(
            "zion_p2p_transactions_received_total",
            "counter",
            "Transactions taken from peers",
            float(self.txs_in),
        )
        for kind, count in sorted(self.messages.items()):
            yield MetricSample(
                "zion_p2p_messages_received_total",
                "counter",
                "Messages received, by type",
                float(count),
                {"type": kind},
            )
        sent = sum(p.sent_bytes for p in service.established())
        received = sum(p.received_bytes for p in service.established())
        yield MetricSample(
            "zion_p2p_peer_bytes",
            "gauge",
            "Bytes exchanged with the connected peers",
            float(sent),
            {"direction": "out"},
        )
        yield MetricSample(
            "zion_p2p_peer_bytes",
            "gauge",
            "Bytes exchanged with the connected peers",
            float(received),
            {"direction": "in"},
        )


class P2PPanel:
    """The ``peers`` panel of ``zion status``."""

    name = "peers"
    title = "Peers"

    def __init__(self, service: P2PService) -> None:
        self.service = service

    def snapshot(self) -> Mapping[str, Any]:
        service = self.service
        status = service.sync_status()
        book = service.book
        return {
            "synchronized": status.synchronized,
            "sync": status.detail,
            "height": status.height - 1,
            "target_height": status.target_height - 1,
            "outgoing": status.outgoing,
            "incoming": status.incoming,
            "download_queue": service.sync.queued,
            "addresses": (book.new_count + book.tried_count) if book is not None else 0,
            "banned": len(service.bans.entries()) if service.bans is not None else 0,
            "listen": f"{service.listen_host}:{service.listen_port}"
            if service.listen_port
            else "off",
            "peers": [
                {k: p[k] for k in ("address", "incoming", "height", "user_agent", "live_time")}
                for p in service.connections()[:8]
            ],
        }
