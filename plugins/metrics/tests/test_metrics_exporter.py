"""The exporter: metrics sources rendered in the Prometheus formats, parsed back with
prometheus-client's own parsers."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from metrics_testkit import reference
from prometheus_client import GC_COLLECTOR, PLATFORM_COLLECTOR, utils
from prometheus_client.openmetrics.parser import (
    text_string_to_metric_families as openmetrics_families,
)
from prometheus_client.parser import text_string_to_metric_families
from prometheus_client.process_collector import ProcessCollector

from zion_core.metrics import Histogram
from zion_hookspecs import HistogramSample, MetricSample, hookimpl
from zion_plugin_metrics import Exporter
from zion_plugin_metrics.exporter import SourceCollector
from zion_plugin_metrics.process import RuntimeCollector
from zion_plugin_metrics.text import Family, TextRenderer, go_float, to_metric

Sample = MetricSample | HistogramSample


class Source:
    def __init__(self, name: str, collect: Callable[[], Iterable[Sample]]) -> None:
        self.name = name
        self._collect = collect

    def collect(self) -> Iterable[Sample]:
        return self._collect()


class Sources:
    """A plugin registering the given metrics sources."""

    def __init__(self, *sources: Source) -> None:
        self.sources = sources

    @hookimpl
    def zion_register_metrics(self, register: Any, node: Any) -> None:
        for source in self.sources:
            register(source)


def scrape(make_node: Callable[..., Any], *sources: Source) -> dict[str, Any]:
    exporter = Exporter(make_node({"sources": Sources(*sources)}), process=False)
    body, content_type = exporter.render()
    assert content_type.startswith("text/plain; version=0.0.4")
    return {family.name: family for family in text_string_to_metric_families(body.decode())}


def values(family: Any) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    return {(s.name, tuple(sorted(s.labels.items()))): s.value for s in family.samples}


def test_counters_gauges_and_histograms(make_node: Callable[..., Any]) -> None:
    latency = Histogram((0.1, 1.0))
    for value in (0.05, 0.5, 0.5, 3.0):
        latency.observe(value)

    def samples() -> Iterable[Sample]:
        yield MetricSample("zion_things_total", "counter", "Things", 3, {"kind": "a"})
        yield MetricSample("zion_things_total", "counter", "Things", 4, {"kind": "b"})
        yield MetricSample("zion_events", "counter", "Counted without the suffix", 2)
        yield MetricSample("zion_level", "gauge", "A level", 0.5)
        yield latency.sample("zion_wait_seconds", "Waits", {"queue": "q1"})

    families = scrape(make_node, Source("things", samples))
    things = families["zion_things"]
    assert things.type == "counter" and things.documentation == "Things"
    assert values(things) == {
        ("zion_things_total", (("kind", "a"),)): 3.0,
        ("zion_things_total", (("kind", "b"),)): 4.0,
    }
    assert values(families["zion_events"]) == {("zion_events_total", ()): 2.0}
    assert families["zion_level"].type == "gauge"
    assert values(families["zion_level"]) == {("zion_level", ()): 0.5}
    wait = families["zion_wait_seconds"]
    assert wait.type == "histogram"
    assert values(wait) == {
        ("zion_wait_seconds_bucket", (("le", "0.1"), ("queue", "q1"))): 1.0,
        ("zion_wait_seconds_bucket", (("le", "1.0"), ("queue", "q1"))): 3.0,
        ("zion_wait_seconds_bucket", (("le", "+Inf"), ("queue", "q1"))): 4.0,
        ("zion_wait_seconds_count", (("queue", "q1"),)): 4.0,
        ("zion_wait_seconds_sum", (("queue", "q1"),)): pytest.approx(4.05),
    }
    # the kernel's source and the exporter's own metrics are there too
    assert {"zion_uptime_seconds", "zion_plugins_loaded"} <= set(families)
    failures = values(families["zion_metrics_source_failures"])
    assert failures[("zion_metrics_source_failures_total", (("source", "things"),))] == 0
    assert families["zion_metrics_scrape_seconds"].type == "histogram"


def test_a_failing_or_faulty_source_is_left_out_and_logged_once(
    make_node: Callable[..., Any], caplog: pytest.LogCaptureFixture
) -> None:
    def broken() -> Iterable[Sample]:
        raise RuntimeError("lost its counters")

    def faulty() -> Iterable[Sample]:
        yield MetricSample("zion ok", "gauge", "not a name", 1)
        yield MetricSample("zion_labels", "gauge", "bad label", 1, {"bad-label": "x"})
        yield MetricSample("zion_labels", "gauge", "reserved", 1, {"__name": "x"})
        yield MetricSample("zion_shared", "gauge", "a gauge here", 1)
        yield MetricSample("zion_good", "gauge", "fine", 7)
        yield Histogram((1.0,)).sample("zion_h", "le is the bucket label", {"le": "x"})

    def clash() -> Iterable[Sample]:
        yield MetricSample("zion_shared", "counter", "a counter there", 1)

    node = make_node(
        {"sources": Sources(Source("broken", broken), Source("faulty", faulty), Source("x", clash))}
    )
    exporter = Exporter(node, process=False)
    with caplog.at_level(logging.WARNING, logger="zion_plugin_metrics"):
        for _ in range(3):
            body, _ = exporter.render()
    families = {f.name: f for f in text_string_to_metric_families(body.decode())}
    assert values(families["zion_good"]) == {("zion_good", ()): 7.0}
    assert values(families["zion_shared"]) == {("zion_shared", ()): 1.0}  # the first kind seen
    assert "zion_labels" not in families
    assert "zion_h" not in families
    failures = values(families["zion_metrics_source_failures"])
    assert failures[("zion_metrics_source_failures_total", (("source", "broken"),))] == 3
    warnings = [r.getMessage() for r in caplog.records]
    assert sum("lost its counters" in w for w in warnings) == 1  # once, not per scrape
    assert any("'zion ok' (gauge) is not a Prometheus metric" in w for w in warnings)
    assert any("'zion_shared' is a counter here but a gauge elsewhere" in w for w in warnings)
    assert any("invalid label names ['bad-label']" in w for w in warnings)
    assert any("invalid label names ['le']" in w for w in warnings)


def test_openmetrics_when_asked(make_node: Callable[..., Any]) -> None:
    latency = Histogram((0.5,))
    latency.observe(0.25)

    def samples() -> Iterable[Sample]:
        yield MetricSample("zion_things_total", "counter", "Things", 3)
        yield latency.sample("zion_wait_seconds", "Waits")

    exporter = Exporter(make_node({"s": Sources(Source("s", samples))}), process=False)
    body, content_type = exporter.render("application/openmetrics-text; version=1.0.0")
    assert content_type.startswith("application/openmetrics-text")
    text = body.decode()
    assert text.endswith("# EOF\n")
    families = {f.name: f for f in openmetrics_families(text)}  # type: ignore[no-untyped-call]
    assert families["zion_things"].type == "counter"
    assert families["zion_wait_seconds"].type == "histogram"


def test_process_metrics(make_node: Callable[..., Any]) -> None:
    body, _ = Exporter(make_node(), process=True).render()
    names = {f.name for f in text_string_to_metric_families(body.decode())}
    assert "python_info" in names and "python_gc_objects_collected" in names
    assert {
        "process_resident_memory_bytes",
        "process_cpu_seconds",
        "process_start_time_seconds",
    } <= names
    assert "process_open_fds" not in names  # listing every socket costs too much


def test_sources_are_read_once_per_scrape(make_node: Callable[..., Any]) -> None:
    calls: list[int] = []

    def samples() -> Iterable[Sample]:
        calls.append(1)
        yield MetricSample("zion_calls", "gauge", "Calls", float(len(calls)))

    node = make_node({"s": Sources(Source("s", samples))})
    collector = SourceCollector(node)
    assert [s for s, _ in collector.sources()] == ["core", "s"]
    exporter = Exporter(node, process=False)
    exporter.render()
    exporter.render()
    assert len(calls) == 2


label_values = st.text(st.characters(codec="utf-8"), min_size=0, max_size=30)


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    st.dictionaries(
        st.from_regex(r"[a-z][a-z0-9_]{0,10}", fullmatch=True), label_values, max_size=4
    ),
    st.floats(allow_nan=False, allow_infinity=False, width=64),
    st.from_regex(r"[\w(),.:;'/\\\"-]([\w (),.:;'/\\\"-]{0,38}[\w(),.:;'/\\\"-])?", fullmatch=True),
)
def test_any_label_values_and_help_survive_the_text_format(
    make_node: Callable[..., Any], labels: dict[str, str], value: float, help: str
) -> None:
    sample = MetricSample("zion_any", "gauge", help, value, labels)
    families = scrape(make_node, Source("any", lambda: [sample]))
    (parsed,) = families["zion_any"].samples
    assert parsed.labels == labels
    assert parsed.value == value
    assert families["zion_any"].documentation == help


# ------------------------------------------------- the fast writer against prometheus-client

go_reference: Callable[[float], str] = utils.floatToGoString


@given(st.floats(allow_nan=True, allow_infinity=True) | st.integers(-(10**20), 10**20))
def test_numbers_are_written_as_prometheus_client_writes_them(value: float) -> None:
    assert go_float(value) == go_reference(value)


label_names = st.sampled_from(["method", "result", "le_x", "a", "outcome", "z9"])
sample_values = st.floats(allow_nan=True, allow_infinity=True) | st.integers(0, 10**15)


@st.composite
def sample_lists(draw: st.DrawFn) -> list[Sample]:
    samples: list[Sample] = []
    for index in range(draw(st.integers(1, 6))):
        kind = draw(st.sampled_from(["counter", "gauge", "histogram"]))
        name = f"zion_family{index}_{kind}"
        help = draw(st.text(max_size=20))
        for _ in range(draw(st.integers(1, 3))):
            labels = draw(st.dictionaries(label_names, st.text(max_size=12), max_size=3))
            if kind == "histogram":
                bounds = draw(st.lists(st.floats(-1e12, 1e12), min_size=1, max_size=6, unique=True))
                histogram = Histogram(sorted(bounds))
                for value in draw(st.lists(st.floats(-1e12, 1e12), max_size=10)):
                    histogram.observe(value)
                samples.append(histogram.sample(name, help, labels))
            else:
                value = float(draw(sample_values))
                counter_name = name + "_total" if kind == "counter" else name
                samples.append(MetricSample(counter_name, kind, help, value, labels))  # type: ignore[arg-type]
    return samples


class OneSource:
    """A stand-in node whose metrics registry holds one source."""

    def __init__(self, source: Source) -> None:
        self.source = source

    def registry(self, kind: str) -> Any:
        return self

    def names(self) -> list[str]:
        return [self.source.name]

    def get(self, name: str) -> Source:
        return self.source


@settings(max_examples=60, deadline=None)
@given(sample_lists())
def test_the_fast_writer_writes_what_prometheus_client_writes(samples: list[Sample]) -> None:
    collector = SourceCollector(OneSource(Source("s", lambda: samples)))  # type: ignore[arg-type]
    renderer = TextRenderer()
    for _ in range(2):  # the second time from the renderer's kept texts
        families = collector.families()
        metrics = [to_metric(family) for family in families]
        assert renderer.render(families) == reference(metrics)
        assert renderer.render(families, openmetrics=True) == reference(metrics, openmetrics=True)
    assert [m.name for m in collector.collect()] == [f.name for f in families]


def test_the_process_families_are_written_as_prometheus_client_writes_them() -> None:
    families = RuntimeCollector().families()
    metrics = [to_metric(family) for family in families]
    assert TextRenderer().render(families) == reference(metrics)
    assert TextRenderer().render(families, openmetrics=True) == reference(metrics, openmetrics=True)


def test_the_process_families_are_prometheus_clients_but_open_files() -> None:
    ours = {(f.name, f.type, f.help) for f in RuntimeCollector().families()}
    theirs = {
        (m.name, m.type, m.documentation)
        for collector in (ProcessCollector(registry=None), GC_COLLECTOR, PLATFORM_COLLECTOR)
        for m in collector.collect()
    }
    assert ours == {t for t in theirs if t[0] != "process_open_fds"}
    assert "process_resident_memory_bytes" in {name for name, _, _ in ours}  # Linux


def test_a_histogram_is_written_again_once_it_changes() -> None:
    latency = Histogram((0.1, 1.0))
    renderer = TextRenderer()

    def families() -> list[Family]:
        sample = latency.sample("zion_wait_seconds", "Waits", {"queue": "a"})
        return [Family("zion_wait_seconds", "histogram", "Waits", [sample])]

    first = renderer.render(families())
    assert renderer.render(families()) == first
    latency.observe(0.5)
    changed = families()
    written = renderer.render(changed)
    assert written != first
    assert written == reference([to_metric(family) for family in changed])
    assert b'zion_wait_seconds_bucket{le="1.0",queue="a"} 1.0' in written
