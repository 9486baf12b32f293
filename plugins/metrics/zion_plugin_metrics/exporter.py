"""The node's metrics sources in the Prometheus exposition formats.

:class:`SourceCollector` reads, on every scrape, each source registered through
``zion_register_metrics`` and groups the samples into metric families by name (a
counter's family is its name without ``_total``; a histogram's samples become
``_bucket``, ``_count`` and ``_sum`` series). Sources stay free of prometheus-client: they
yield :class:`~zion_hookspecs.MetricSample` and :class:`~zion_hookspecs.HistogramSample`
values. A source that raises, a name that is not a Prometheus name, an invalid label
name, or a name that two samples give different kinds is logged (once) and left out; the
rest of the scrape goes on. It is also a prometheus-client collector (``collect()``), so
the same families can be served by prometheus-client's own encoders and servers.

:class:`Exporter` renders a scrape with :class:`~.text.TextRenderer`, which writes what
prometheus-client's encoders write, faster: the classic text format, or OpenMetrics when
the scraper asks for it.
"""

from __future__ import annotations

import logging
import re
import time
from collections import Counter
from collections.abc import Iterator
from typing import Final

from prometheus_client import CollectorRegistry
from prometheus_client.exposition import choose_encoder
from prometheus_client.metrics_core import Metric
from prometheus_client.registry import Collector

from zion_core.metrics import Histogram
from zion_hookspecs import HistogramSample, MetricSample, MetricsSource, Node

from .process import RuntimeCollector
from .text import Family, TextRenderer, to_metric

logger = logging.getLogger(__name__)

NAME_RE: Final = re.compile(r"\A[a-zA-Z_:][a-zA-Z0-9_:]*\Z")
LABEL_RE: Final = re.compile(r"\A[a-zA-Z_][a-zA-Z0-9_]*\Z")
KINDS: Final = frozenset({"counter", "gauge", "histogram"})
"""The metric types a source may use."""
WARNINGS_KEPT: Final = 256
"""Distinct problems logged at most (each once), so a faulty source cannot flood the log."""
SHAPES_KEPT: Final = 4096
"""Sample shapes (name, kind, label names) remembered as checked."""
SCRAPE_BUCKETS: Final = (0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.1)
"""Upper bounds, in seconds, of the scrape time histogram (the goal is 1 ms)."""


class SourceCollector(Collector):
    """The families of one node's metrics sources (and the exporter's own)."""

    def __init__(self, node: Node) -> None:
        self.node = node
        self.failures: Counter[str] = Counter()
        """Scrapes in which a source raised, by source name."""
        self.scrape_seconds = Histogram(SCRAPE_BUCKETS)
        """Time to collect and render each scrape."""
        self._sources: list[tuple[str, MetricsSource]] | None = None
        self._warned: set[tuple[str, str]] = set()
        self._shapes: dict[tuple[str, ...], str] = {}

    def sources(self) -> list[tuple[str, MetricsSource]]:
        """The registered sources, by name (read once: registries are complete when the
        node starts serving)."""
        if self._sources is None:
            registry = self.node.registry("metrics")
            self._sources = [(name, registry.get(name)) for name in registry.names()]
        return self._sources

    def _warn(self, source: str, problem: str, message: str, *args: object) -> None:
        key = (source, problem)
        if key in self._warned or len(self._warned) >= WARNINGS_KEPT:
            return
        self._warned.add(key)
        logger.warning("metrics source %r: " + message, source, *args)

    def families(self) -> list[Family]:
        """One scrape's families, in the order their names first appear."""
        families: dict[str, Family] = {}
        for source_name, source in self.sources():
            try:
                samples = list(source.collect())
            except Exception as exc:
                self.failures[source_name] += 1
                self._warn(
                    source_name,
                    "raised",
                    "collect() failed, left out of the scrape (%s: %s)",
                    type(exc).__name__,
                    exc,
                )
                continue
            for sample in samples:
                self._add(families, source_name, sample)
        for sample in self._own():
            self._add(families, "metrics", sample)
        return list(families.values())

    def collect(self) -> Iterator[Metric]:
        for family in self.families():
            yield to_metric(family)

    def _add(
        self, families: dict[str, Family], source: str, sample: MetricSample | HistogramSample
    ) -> None:
        kind, name, labels = sample.kind, sample.name, sample.labels
        shape = (name, kind, *labels)
        base = self._shapes.get(shape)
        if base is None:
            base = self._shapes[shape] = self._check(source, sample)
            if len(self._shapes) > SHAPES_KEPT:
                self._shapes.clear()
        if not base:
            return
        family = families.get(base)
        if family is None:
            family = families[base] = Family(base, kind, sample.help, [])
        elif family.type != kind:
            self._warn(source, name, "%r is a %s here but a %s elsewhere", name, kind, family.type)
            return
        for value in labels.values():
            if type(value) is not str:
                labels = {key: str(value) for key, value in labels.items()}
                break
        if isinstance(sample, HistogramSample):
            if labels is not sample.labels:
                sample = HistogramSample(
                    name, sample.help, sample.buckets, sample.count, sample.sum, labels
                )
            family.samples.append(sample)
        elif kind == "counter":
            family.samples.append((base + "_total", labels, float(sample.value)))
        else:
            family.samples.append((name, labels, float(sample.value)))

    def _check(self, source: str, sample: MetricSample | HistogramSample) -> str:
        """The family name of samples shaped like ``sample`` (name, kind, label names), or
        ``""`` (logged) when they cannot be exported."""
        kind, name = sample.kind, sample.name
        if not NAME_RE.match(name) or kind not in KINDS:
            self._warn(source, name, "%r (%s) is not a Prometheus metric", name, kind)
            return ""
        bad = [
            key
            for key in sample.labels
            if not (isinstance(key, str) and LABEL_RE.match(key)) or key.startswith("__")
        ]
        if bad or (kind == "histogram" and "le" in sample.labels):
            self._warn(source, name, "%r has invalid label names %s", name, bad or ["le"])
            return ""
        return name.removesuffix("_total") if kind == "counter" else name

    def _own(self) -> Iterator[MetricSample | HistogramSample]:
        for name, _ in self.sources():
            yield MetricSample(
                "zion_metrics_source_failures_total",
                "counter",
                "Scrapes in which a metrics source raised, by source",
                self.failures[name],
                {"source": name},
            )
        yield self.scrape_seconds.sample(
            "zion_metrics_scrape_seconds", "Time to collect and render a scrape"
        )


class Exporter:
    """Renders one node's metrics (and, with ``process``, the process's own)."""

    def __init__(self, node: Node, *, process: bool = True) -> None:
        self.collector = SourceCollector(node)
        self.runtime = RuntimeCollector() if process else None
        """The process's own metrics (:mod:`.process`)."""
        self.renderer = TextRenderer()

    def families(self) -> list[Family]:
        """One scrape's families: the sources', then the process's."""
        families = self.collector.families()
        if self.runtime is not None:
            families.extend(self.runtime.families())
        return families

    def registry(self) -> CollectorRegistry:
        """The same collectors in a prometheus-client registry (for its encoders)."""
        registry = CollectorRegistry(auto_describe=False)
        registry.register(self.collector)
        if self.runtime is not None:
            registry.register(self.runtime)
        return registry

    def render(self, accept: str = "") -> tuple[bytes, str]:
        """One scrape: ``(body, content type)``; OpenMetrics when ``accept`` (the request's
        ``Accept`` header) asks for it, else the Prometheus text format 0.0.4."""
        began = time.perf_counter()
        _, content_type = choose_encoder(accept)
        openmetrics = content_type.startswith("application/openmetrics-text")
        body = self.renderer.render(self.families(), openmetrics=openmetrics)
        self.collector.scrape_seconds.observe(time.perf_counter() - began)
        return body, content_type


__all__ = [
    "LABEL_RE",
    "NAME_RE",
    "SCRAPE_BUCKETS",
    "Exporter",
    "SourceCollector",
]
