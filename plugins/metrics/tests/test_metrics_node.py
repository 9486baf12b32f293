"""``/metrics`` on a real devnet node (consensus, sqlite, randomx, jsonrpc, stratum,
metrics) on 127.0.0.1: the scrape parses, holds every plugin's families, follows what
happens (RPC calls, a miner's share that makes a block), and a third-party source
registered through the hook is exported."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

import pytest
from metrics_testkit import Miner, reference, served_node

from zion_core import ConfigError
from zion_hookspecs import MetricSample, hookimpl
from zion_plugin_metrics.text import to_metric

EXPORTER = "zion_plugin_metrics"

pytestmark = pytest.mark.anyio

FAMILIES = {
    # kernel
    "zion_uptime_seconds": "gauge",
    "zion_plugins_loaded": "gauge",
    # consensus
    "zion_chain_height": "gauge",
    "zion_chain_difficulty": "gauge",
    "zion_chain_tip_timestamp_seconds": "gauge",
    "zion_chain_blocks_added": "counter",
    "zion_chain_reorganizations": "counter",
    "zion_block_connect_seconds": "histogram",
    "zion_mempool_transactions": "gauge",
    "zion_mempool_bytes": "gauge",
    # randomx
    "zion_randomx_hashes": "counter",
    "zion_randomx_verify_seconds": "histogram",
    "zion_randomx_info": "gauge",
    "zion_randomx_memory_bytes": "gauge",
    # stratum
    "zion_pool_connections": "gauge",
    "zion_pool_miners": "gauge",
    "zion_pool_shares": "counter",
    "zion_pool_stale_shares": "counter",
    "zion_pool_verify_queue": "gauge",
    "zion_pool_share_verify_seconds": "histogram",
    "zion_pool_job_broadcast_seconds": "histogram",
    "zion_pool_bans": "counter",
    "zion_pool_banned": "gauge",
    "zion_pool_blocks_found": "counter",
    # the exporter
    "zion_metrics_scrape_seconds": "histogram",
    "zion_metrics_source_failures": "counter",
}


class Widgets:
    """A third-party plugin with its own metrics source."""

    name = "widgets"

    def collect(self) -> Iterable[MetricSample]:
        yield MetricSample("zion_widgets_made_total", "counter", "Widgets made", 42.0)

    @hookimpl
    def zion_register_metrics(self, register: Any, node: Any) -> None:
        register(self)


async def test_metrics_scrape_follows_the_node(
    make_node: Callable[..., Any], caplog: pytest.LogCaptureFixture
) -> None:
    async with served_node(make_node, plugins={"widgets": Widgets()}) as node:
        first = await node.scrape_until(
            lambda s: s.value("zion_pool_payouts_total") is not None  # pool_stats published
        )
        for name, kind in FAMILIES.items():
            assert name in first.families, name
            assert first.families[name].type == kind, name
        assert first.value("zion_widgets_made_total") == 42.0
        assert first.value("zion_chain_height") == 0
        assert first.value("zion_chain_difficulty") == 1
        assert first.value("zion_pool_connections") == 0
        assert first.value(
            "zion_randomx_info", role="verifier", backend="randomx-cpu", mode="light"
        )
        assert first.value("zion_pool_shares_total", result="accepted") == 0
        assert first.value("zion_pool_shares_total", result="low_difficulty") == 0
        assert first.value("zion_pool_ledger_blocks", status="pending") == 0

        # the node API counts its requests by method and outcome
        assert "result" in await node.call("get_info")
        assert "error" in await node.call("no_such_method")
        response = await node.http.get("/get_height")
        assert response.status_code == 200
        rpc = await node.scrape()
        assert rpc.value("zion_rpc_requests_total", method="get_info", outcome="ok") == 1
        assert rpc.value("zion_rpc_requests_total", method="other", outcome="error") == 1
        assert rpc.value("zion_rpc_requests_total", method="/get_height", outcome="ok") == 1
        assert rpc.value("zion_rpc_request_seconds_count", method="get_info") == 1
        assert rpc.value("zion_rpc_request_seconds_bucket", method="get_info", le="+Inf") == 1

        # a miner's share (difficulty 1: a block) moves the pool, RandomX and the chain
        miner = await Miner.connect(node.pool.port)
        try:
            await miner.login()
            good = await node.pow_hash(miner.job, 5)
            wrong = await miner.submit(2, 6, good)
            assert wrong["error"]["message"] == "Invalid share"
            reply = await miner.submit(3, 5, good)
            assert reply["result"] == {"status": "OK"}, reply
            after = await node.scrape_until(
                lambda s: (
                    s.value("zion_chain_height") == 1
                    and s.value("zion_pool_template_height") == 2
                    and s.value("zion_pool_job_broadcast_miners") == 1
                )
            )
        finally:
            await miner.aclose()
        assert after.value("zion_pool_connections") == 1
        assert after.value("zion_pool_miners") == 1
        assert after.value("zion_pool_shares_total", result="accepted") == 1
        assert after.value("zion_pool_shares_total", result="invalid") == 1
        assert after.value("zion_pool_share_verifications_total", outcome="valid") == 1
        assert after.value("zion_pool_share_verifications_total", outcome="invalid") == 1
        assert after.value("zion_pool_share_verify_seconds_count") == 2
        assert after.value("zion_pool_accepted_difficulty_total") == 1
        assert after.value("zion_pool_blocks_found_total") == 1
        assert after.value("zion_pool_template_height") == 2
        broadcasts = after.value("zion_pool_job_broadcast_seconds_count")
        assert broadcasts is not None and broadcasts >= 1
        assert after.value("zion_chain_blocks_added_total", status="connected") == 1
        assert after.value("zion_block_connect_seconds_count") == 1
        verified = after.value("zion_randomx_hashes_total", purpose="verify")
        assert verified is not None and verified >= 3  # two shares and the block
        verify_count = after.value("zion_randomx_verify_seconds_count")
        assert verify_count is not None and verify_count >= 3
        assert after.value("zion_metrics_source_failures_total", source="pool") == 0
        # every sample was exportable, and the fast writer wrote what prometheus-client does
        assert not [r.getMessage() for r in caplog.records if r.name.startswith(EXPORTER)]
        exporter = node.node.registry("http_route").get("metrics").endpoint.exporter
        families = exporter.families()
        metrics = [to_metric(family) for family in families]
        assert exporter.renderer.render(families) == reference(metrics)
        assert exporter.renderer.render(families, openmetrics=True) == reference(
            metrics, openmetrics=True
        )


async def test_head_other_methods_and_another_path(make_node: Callable[..., Any]) -> None:
    async with served_node(make_node, sets=["metrics.path=/prom", "metrics.process=false"]) as node:
        scrape = await node.scrape("/prom")
        assert "zion_chain_height" in scrape.families
        assert "process_resident_memory_bytes" not in scrape.families
        head = await node.http.head("/prom")
        assert head.status_code == 200 and head.content == b""
        assert (await node.http.post("/prom")).status_code == 405
        assert (await node.http.get("/metrics")).status_code == 404
        openmetrics = await node.http.get(
            "/prom", headers={"Accept": "application/openmetrics-text; version=1.0.0"}
        )
        assert openmetrics.headers["content-type"].startswith("application/openmetrics-text")
        assert openmetrics.text.endswith("# EOF\n")


def test_the_plugin_needs_the_http_server(make_node: Callable[..., Any]) -> None:
    with pytest.raises(ConfigError, match=r"load the jsonrpc plugin too \(--plugin jsonrpc\)"):
        make_node({}, installed=["consensus", "sqlite", "randomx", "metrics"])
