"""The Grafana dashboard (docs/grafana/zion-dashboard.json) and the Prometheus alert rules
(docs/prometheus/alerts.yml) reference only series that a real node exports: every
metric name in their expressions is a series of a scrape of a devnet node running every
plugin, every label they match on is a label of that series, and every value they
match with ``=`` is one the series has."""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, get_args

import anyio
import yaml
from metrics_testkit import MINER_ADDRESS, Miner, Scrape, served_node

from zion_plugin_jsonrpc.metrics import Outcome

ROOT = Path(__file__).resolve().parents[3]
DASHBOARD = ROOT / "docs" / "grafana" / "zion-dashboard.json"
ALERTS = ROOT / "docs" / "prometheus" / "alerts.yml"
METRICS_DOC = ROOT / "docs" / "metrics.md"

TARGET_LABELS = {"instance", "job"}
"""Labels that Prometheus adds to every scraped series."""
DECLARED = {("zion_rpc_requests_total", "outcome"): set(get_args(Outcome))}
"""Label values the code declares but a short test run does not produce."""
NAME = re.compile(r"\b((?:zion|process|python)_[a-zA-Z0-9_]*)\b")
SELECTOR = re.compile(r"\b((?:zion|process|python)_[a-zA-Z0-9_]*)\s*\{([^}]*)\}")
MATCHER = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)\s*(=~|!~|!=|=)\s*"((?:[^"\\]|\\.)*)"')


def dashboard_expressions() -> Iterator[str]:
    dashboard = json.loads(DASHBOARD.read_text(encoding="utf-8"))

    def walk(node: Any) -> Iterator[str]:
        if isinstance(node, dict):
            for key, value in node.items():
                if key in ("expr", "definition") and isinstance(value, str):
                    yield value
                elif key == "query" and isinstance(value, dict | str):
                    yield from walk(value) if isinstance(value, dict) else [value]
                else:
                    yield from walk(value)
        elif isinstance(node, list):
            for item in node:
                yield from walk(item)

    yield from walk(dashboard)


def alert_expressions() -> Iterator[str]:
    rules = yaml.safe_load(ALERTS.read_text(encoding="utf-8"))
    for group in rules["groups"]:
        for rule in group["rules"]:
            yield str(rule["expr"])


async def scrape_after_some_work(make_node: Callable[..., Any]) -> Scrape:
    """A scrape of a served devnet node after an RPC call and a miner's share (a block)."""
    async with served_node(make_node) as node:
        await node.call("get_info")
        miner = await Miner.connect(node.pool.port)
        try:
            await miner.login(f"{MINER_ADDRESS}.docs")
            await miner.submit(2, 5, await node.pow_hash(miner.job, 5))
            return await node.scrape_until(
                lambda s: (
                    s.value("zion_pool_payouts_total") is not None
                    and s.value("zion_pool_job_broadcast_miners") == 1
                )
            )
        finally:
            await miner.aclose()


def check(expressions: list[str], scrape: Scrape) -> list[str]:
    """The problems of ``expressions`` against ``scrape``."""
    labels: dict[str, dict[str, set[str]]] = {}
    for (name, pairs), _ in scrape.samples.items():
        for key, value in pairs:
            labels.setdefault(name, {}).setdefault(key, set()).add(value)
        labels.setdefault(name, {})
    problems = []
    for expr in expressions:
        for name in NAME.findall(expr):
            if name not in labels:
                problems.append(f"{name} (in {expr!r}) is not exported")
        for name, matchers in SELECTOR.findall(expr):
            for label, op, value in MATCHER.findall(matchers):
                if label in TARGET_LABELS or name not in labels:
                    continue
                values = labels[name].get(label)
                if values is not None:
                    values = values | DECLARED.get((name, label), set())
                if values is None:
                    problems.append(f"{name} has no label {label!r} (in {expr!r})")
                elif op == "=" and value not in values:
                    problems.append(f"{name}{{{label}={value!r}}} is never exported (in {expr!r})")
    return problems


def test_dashboard_and_alerts_reference_only_exported_metrics(
    make_node: Callable[..., Any],
) -> None:
    scrape: Scrape = anyio.run(scrape_after_some_work, make_node, backend="asyncio")
    dashboard = list(dashboard_expressions())
    alerts = list(alert_expressions())
    assert len(dashboard) > 40 and len(alerts) > 15
    assert check(dashboard, scrape) == []
    assert check(alerts, scrape) == []
    # and the reference lists every family the node exports, and nothing else
    documented = {
        match.group(1)
        for match in re.finditer(
            r"^\| `((?:zion|process|python)_\w+)`", METRICS_DOC.read_text(encoding="utf-8"), re.M
        )
    }
    assert len(documented) > 40
    unknown = [
        name
        for name in sorted(documented)
        if name not in scrape.families and name not in scrape.sample_names()
    ]
    assert unknown == [], f"docs/metrics.md documents metrics the node does not export: {unknown}"
    families = {name for name in scrape.families if name.startswith("zion_")}
    missing = [name for name in sorted(families) if not {name, f"{name}_total"} & documented]
    assert missing == [], f"families missing from docs/metrics.md: {missing}"


def test_the_checker_finds_mistakes() -> None:
    scrape = Scrape(
        "# TYPE zion_chain_height gauge\nzion_chain_height 5\n"
        "# TYPE zion_pool_shares_total counter\n"
        'zion_pool_shares_total{result="accepted"} 1\n'
        'zion_pool_shares_total{result="invalid"} 0\n'
    )
    problems = check(
        [
            'rate(zion_pool_shares_total{result="acepted"}[5m])',
            "zion_chain_heigth",
            'zion_chain_height{colour="red"}',
            'zion_pool_shares_total{instance=~"x", result="accepted"}',
        ],
        scrape,
    )
    assert problems == [
        "zion_pool_shares_total{result='acepted'} is never exported "
        "(in 'rate(zion_pool_shares_total{result=\"acepted\"}[5m])')",
        "zion_chain_heigth (in 'zion_chain_heigth') is not exported",
        "zion_chain_height has no label 'colour' (in 'zion_chain_height{colour=\"red\"}')",
    ]
