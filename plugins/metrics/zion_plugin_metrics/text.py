"""The Prometheus text format (0.0.4) and OpenMetrics 1.0, written fast.

prometheus-client's encoders format every label set and every number again on every
scrape, about 4 µs a series: with the node API's latency histograms (a score of series per
method) a scrape would take milliseconds. :class:`TextRenderer` writes the same bytes (the
tests compare it with prometheus-client's ``generate_latest`` of both formats) but keeps
the text of each series' name and labels from one scrape to the next, so a scrape only
formats the numbers.

It writes what the exporter makes: families of type ``counter``, ``gauge`` or
``histogram`` with names and label names valid in the classic format, and samples with
no timestamp and no exemplar.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Final, NamedTuple

from prometheus_client.metrics_core import Metric

from zion_hookspecs import HistogramSample

SERIES_KEPT: Final = 65_536
"""Series whose text is kept at most; beyond that the cache starts again (a source whose
label values never repeat cannot grow memory without bound)."""


class Family(NamedTuple):
    """One metric family: ``name`` (a counter's without ``_total``), ``type``, ``help``,
    and its samples: ``(sample name, labels, value)`` triples and histograms."""

    name: str
    type: str
    help: str
    samples: list[tuple[str, Mapping[str, str], float] | HistogramSample]


SPECIAL: Final = {"inf": "+Inf", "-inf": "-Inf", "nan": "NaN"}


def go_float(value: float) -> str:
    """``value`` as Go prints a float64, as every Prometheus client writes numbers
    (prometheus-client's ``floatToGoString``)."""
    text = repr(float(value))
    dot = text.find(".")
    if dot > 6 and text[0] != "-":  # Go switches to an exponent sooner than Python
        mantissa = f"{text[0]}.{text[1:dot]}{text[dot + 1 :]}".rstrip("0.")
        return f"{mantissa}e+{dot - 1:02d}"
    if dot < 0:  # inf, nan, or already an exponent
        return SPECIAL.get(text, text)
    return text


def _label_value(value: str) -> str:
    return value.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


def series_text(name: str, labels: Mapping[str, str]) -> str:
    """``name{label="value",...}`` with the labels sorted, and a space after it."""
    if not labels:
        return name + " "
    pairs = ",".join(f'{key}="{_label_value(labels[key])}"' for key in sorted(labels))
    return f"{name}{{{pairs}}} "


class _Written(NamedTuple):
    """A histogram as last written: its series texts, bounds, buckets and text."""

    texts: tuple[str, ...]
    bounds: tuple[float, ...]
    sample: HistogramSample
    text: str


class TextRenderer:
    """Writes families in the Prometheus text format or OpenMetrics, keeping the text of
    every series (and of every family's header) for the next scrape, and the text of
    every histogram until it changes (most do not between two scrapes)."""

    def __init__(self) -> None:
        self._series: dict[tuple[object, ...], str] = {}
        self._histograms: dict[tuple[object, ...], _Written] = {}
        self._headers: dict[tuple[str, str, str, bool], str] = {}

    def render(self, families: Iterable[Family], *, openmetrics: bool = False) -> bytes:
        out: list[str] = []
        append = out.append
        for family in families:
            append(self._header(family, openmetrics))
            for sample in family.samples:
                if isinstance(sample, HistogramSample):
                    self._histogram(sample, out)
                else:
                    name, labels, value = sample
                    append(self._series_of(name, labels) + go_float(value) + "\n")
        if openmetrics:
            append("# EOF\n")
        return "".join(out).encode()

    def _header(self, family: Family, openmetrics: bool) -> str:
        key = (family.name, family.type, family.help, openmetrics)
        header = self._headers.get(key)
        if header is None:
            if len(self._headers) >= SERIES_KEPT:
                self._headers.clear()
            if openmetrics:
                text = _label_value(family.help)
                name = family.name
            else:
                text = family.help.replace("\\", "\\\\").replace("\n", "\\n")
                name = family.name + "_total" if family.type == "counter" else family.name
            header = self._headers[key] = f"# HELP {name} {text}\n# TYPE {name} {family.type}\n"
        return header

    def _series_of(self, name: str, labels: Mapping[str, str]) -> str:
        key = (name, *labels.items())
        text = self._series.get(key)
        if text is None:
            if len(self._series) >= SERIES_KEPT:
                self._series.clear()
            text = self._series[key] = series_text(name, labels)
        return text

    def _histogram(self, sample: HistogramSample, out: list[str]) -> None:
        key = (sample.name, *sample.labels.items())
        written = self._histograms.get(key)
        buckets = sample.buckets
        if written is not None:
            last = written.sample
            if last.buckets == buckets and last.count == sample.count and last.sum == sample.sum:
                out.append(written.text)
                return
        bounds = tuple(bound for bound, _ in buckets)
        if written is not None and written.bounds == bounds:
            texts = written.texts
        else:
            texts = histogram_series(sample)
        lines: list[str] = []
        previous, number = -1, ""
        for text, (_, count) in zip(texts, buckets, strict=False):
            if count != previous:  # cumulative counts repeat: format each once
                previous, number = count, go_float(count)
            lines.append(text + number + "\n")
        rest = len(buckets)
        number = go_float(sample.count)
        lines.append(texts[rest] + number + "\n")  # +Inf
        lines.append(texts[rest + 1] + number + "\n")
        lines.append(texts[rest + 2] + go_float(sample.sum) + "\n")
        text = "".join(lines)
        if written is None and len(self._histograms) >= SERIES_KEPT:
            self._histograms.clear()
        self._histograms[key] = _Written(texts, bounds, sample, text)
        out.append(text)


def histogram_series(sample: HistogramSample) -> tuple[str, ...]:
    """The series texts of a histogram: each bucket's, ``+Inf``'s, ``_count``'s, ``_sum``'s."""
    labels = dict(sample.labels)
    bucket = sample.name + "_bucket"
    bounds: Sequence[str] = [go_float(bound) for bound, _ in sample.buckets] + ["+Inf"]
    return (
        *(series_text(bucket, {**labels, "le": bound}) for bound in bounds),
        series_text(sample.name + "_count", labels),
        series_text(sample.name + "_sum", labels),
    )


def to_metric(family: Family) -> Metric:
    """``family`` as a prometheus-client metric family."""
    metric = Metric(family.name, family.help, family.type)
    for sample in family.samples:
        if isinstance(sample, HistogramSample):
            labels = dict(sample.labels)
            bucket = sample.name + "_bucket"
            for bound, count in sample.buckets:
                metric.add_sample(bucket, {**labels, "le": go_float(bound)}, count)
            metric.add_sample(bucket, {**labels, "le": "+Inf"}, sample.count)
            metric.add_sample(sample.name + "_count", labels, sample.count)
            metric.add_sample(sample.name + "_sum", labels, sample.sum)
        else:
            name, plain, value = sample
            metric.add_sample(name, dict(plain), value)
    return metric


def from_metric(metric: Metric) -> Family:
    """A prometheus-client metric family as a :class:`Family` (counters, gauges and
    histograms without units, timestamps or exemplars)."""
    if metric.type not in ("counter", "gauge", "histogram") or metric.unit:
        raise ValueError(f"cannot write {metric.name} ({metric.type}, unit {metric.unit!r})")
    samples: list[tuple[str, Mapping[str, str], float] | HistogramSample] = []
    for s in metric.samples:
        if s.timestamp is not None or s.exemplar is not None or s.native_histogram is not None:
            raise ValueError(f"cannot write {s.name}: timestamps, exemplars, native histograms")
        samples.append((s.name, s.labels, s.value))
    return Family(metric.name, metric.type, metric.documentation, samples)


__all__ = [
    "SERIES_KEPT",
    "Family",
    "TextRenderer",
    "from_metric",
    "go_float",
    "histogram_series",
    "series_text",
    "to_metric",
]
