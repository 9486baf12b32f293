"""The ``pool`` metrics source: connections, shares, verification, broadcasts, bans, blocks
and payouts.

A scrape reads the server's counters (kept as shares and connections come and go), its
two histograms and the size of a few collections; it never walks the miners. The
ledger's numbers (blocks by status, payments) come from the accounting's latest
``pool_stats`` event, which this source listens to: they are as fresh as
``[stratum] stats_interval_seconds`` and absent until the first one.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from typing import TYPE_CHECKING, Any, Final

from zion_hookspecs import HistogramSample, MetricSample, hookimpl

from . import protocol

if TYPE_CHECKING:
    from .server import StratumServer

REJECTIONS: Final = {
    protocol.LOW_DIFFICULTY: "low_difficulty",
    protocol.INVALID_SHARE: "invalid",
    protocol.DUPLICATE: "duplicate",
    protocol.BLOCK_EXPIRED: "stale",
    protocol.INVALID_JOB_ID: "invalid_job_id",
    protocol.INVALID_NONCE: "invalid_nonce",
    protocol.INVALID_RESULT: "invalid_result",
    protocol.UNAUTHENTICATED: "unauthenticated",
    protocol.SERVER_BUSY: "busy",
}
"""The ``result`` label of each rejection answer (``accepted`` for the others)."""


def _slug(message: str) -> str:
    return "".join(ch if ch.isalnum() else "_" for ch in message.lower())


class PoolMetrics:
    """The metrics source of one :class:`~.server.StratumServer` (and its accounting)."""

    name = "pool"

    def __init__(self, server: StratumServer) -> None:
        self.server = server
        self._ledger: Mapping[str, Any] | None = None

    @hookimpl
    def zion_pool_stats(
        self, stats: Mapping[str, Any], miners: Mapping[str, Mapping[str, Any]]
    ) -> None:
        """Keep the ledger's numbers of the latest published statistics."""
        self._ledger = {
            "hashrate": stats.get("hashrate", 0.0),
            "workers": stats.get("workers", 0),
            "blocks": dict(stats.get("blocks", {})),
            "payments": dict(stats.get("payments", {})),
        }

    def collect(self) -> Iterable[MetricSample | HistogramSample]:
        return self._samples()

    def _samples(self) -> Iterator[MetricSample | HistogramSample]:
        server = self.server
        counters = server.counters

        def counter(name: str, help: str, value: float, **labels: str) -> MetricSample:
            return MetricSample(name, "counter", help, float(value), labels)

        def gauge(name: str, help: str, value: float, **labels: str) -> MetricSample:
            return MetricSample(name, "gauge", help, float(value), labels)

        yield gauge("zion_pool_connections", "Open miner connections", len(server.sessions))
        yield gauge("zion_pool_miners", "Logged-in miner connections", len(server.miners))
        yield counter(
            "zion_pool_connections_accepted_total",
            "Miner connections accepted",
            counters["connections"],
        )
        yield counter(
            "zion_pool_connections_refused_total",
            "Miner connections refused (banned, connection limits)",
            counters["refused"],
        )
        shares = "Shares submitted, by result: accepted or the reason of the rejection"
        yield counter("zion_pool_shares_total", shares, counters["accepted"], result="accepted")
        rejected = dict(server.rejected)
        for message, result in REJECTIONS.items():
            yield counter("zion_pool_shares_total", shares, rejected.pop(message, 0), result=result)
        for message, count in rejected.items():  # a reason this version does not name
            yield counter("zion_pool_shares_total", shares, count, result=_slug(message))
        stale = "Shares of the previous tip: accepted within the grace period, or rejected"
        yield counter(
            "zion_pool_stale_shares_total", stale, counters["accepted_stale"], outcome="accepted"
        )
        yield counter(
            "zion_pool_stale_shares_total",
            stale,
            server.rejected[protocol.BLOCK_EXPIRED],
            outcome="rejected",
        )
        yield counter(
            "zion_pool_accepted_difficulty_total",
            "Sum of the difficulties of accepted shares (its rate is the pool's hash rate)",
            counters["difficulty"],
        )
        checks = "Shares checked with RandomX (valid, invalid) or accepted unchecked (skipped)"
        verified, failed = counters["verified"], counters["verify_failed"]
        yield counter(
            "zion_pool_share_verifications_total", checks, verified - failed, outcome="valid"
        )
        yield counter("zion_pool_share_verifications_total", checks, failed, outcome="invalid")
        yield counter(
            "zion_pool_share_verifications_total",
            checks,
            counters["verify_skipped"],
            outcome="skipped",
        )
        yield gauge(
            "zion_pool_verify_queue",
            "Shares waiting for or under RandomX verification",
            server.verify_pending,
        )
        yield gauge(
            "zion_pool_verify_queue_limit",
            "Shares waiting for verification at most ([stratum] verify_queue)",
            server.config.verify_queue,
        )
        yield server.verify_seconds.sample(
            "zion_pool_share_verify_seconds",
            "Time to verify one share with RandomX, the wait for a thread included",
        )
        yield server.broadcast_seconds.sample(
            "zion_pool_job_broadcast_seconds", "Time to make and send a new job to every miner"
        )
        last = server.broadcasts[-1] if server.broadcasts else None
        if last is not None:
            yield gauge(
                "zion_pool_job_broadcast_miners", "Miners reached by the last broadcast", last[0]
            )
        yield counter("zion_pool_bans_total", "IP addresses banned", counters["bans"])
        yield gauge(
            "zion_pool_banned", "IP addresses banned now", server.bans.banned_count(server.clock())
        )
        yield counter(
            "zion_pool_malformed_requests_total",
            "Request lines that were not valid Stratum (or too long)",
            counters["malformed"],
        )
        yield counter(
            "zion_pool_blocks_found_total",
            "Blocks found by the pool and connected by the node",
            counters["blocks_found"],
        )
        yield counter(
            "zion_pool_blocks_rejected_total",
            "Blocks found by the pool that the node refused",
            counters["blocks_rejected"],
        )
        template = server.template
        if template is not None:
            yield gauge(
                "zion_pool_template_height", "Height of the block the pool mines", template.height
            )
        yield from self._ledger_samples()

    def _ledger_samples(self) -> Iterator[MetricSample]:
        ledger = self._ledger
        if ledger is None:
            return
        yield MetricSample(
            "zion_pool_hashrate",
            "gauge",
            "Pool hash rate estimated from recent shares (hashes per second)",
            float(ledger["hashrate"]),
        )
        yield MetricSample(
            "zion_pool_workers", "gauge", "Workers with recent shares", float(ledger["workers"])
        )
        blocks = ledger["blocks"]
        for status in ("pending", "credited", "orphaned"):
            yield MetricSample(
                "zion_pool_ledger_blocks",
                "gauge",
                "Pool blocks in the ledger, by status",
                float(blocks.get(status, 0)),
                {"status": status},
            )
        payments = ledger["payments"]
        yield MetricSample(
            "zion_pool_payouts_total",
            "counter",
            "Payout transactions sent",
            float(payments.get("count", 0)),
        )
        yield MetricSample(
            "zion_pool_paid_atomic_units_total",
            "counter",
            "Amount paid to miners (atomic units)",
            float(payments.get("total_paid", 0)),
        )
        yield MetricSample(
            "zion_pool_payout_in_flight_atomic_units",
            "gauge",
            "Amount of payouts being sent (atomic units)",
            float(payments.get("in_flight", 0)),
        )


__all__ = ["REJECTIONS", "PoolMetrics"]
