"""The ``randomx`` metrics source: hashes counted by purpose, verification times, mode and
memory of the verifier."""

from __future__ import annotations

from typing import Any

from rx_vectors import VECTORS
from zion_plugin_randomx.backend import RandomXCpu
from zion_plugin_randomx.metrics import RandomXMetrics

from zion_hookspecs import HistogramSample, MetricSample


def samples(source: RandomXMetrics) -> dict[tuple[str, tuple[tuple[str, str], ...]], Any]:
    out: dict[tuple[str, tuple[tuple[str, str], ...]], Any] = {}
    for sample in source.collect():
        key = (sample.name, tuple(sorted(sample.labels.items())))
        out[key] = sample if isinstance(sample, HistogramSample) else sample.value
    return out


def test_hashes_and_verification_times_are_counted(make_node: Any) -> None:
    node = make_node(installed=["randomx"], sets=["randomx.threads=1"])
    source = node.registry("metrics").get("randomx")
    assert isinstance(source, RandomXMetrics)
    before = samples(source)
    assert before[("zion_randomx_hashes_total", (("purpose", "verify"),))] == 0
    assert before[("zion_randomx_memory_bytes", (("role", "verifier"),))] == 0  # no key yet
    hasher: RandomXCpu = node.registry("hasher").get("randomx-cpu")
    key, data, expected = VECTORS[0]
    assert hasher.hash(data, key=key).hex() == expected
    assert len(hasher.hash_batch([data, data], key=key)) == 2
    hits, tried = hasher.scan(
        bytes(76), nonce_offset=39, start=0, count=16, target=(1 << 256) - 1, key=key
    )
    assert tried == 16 and len(hits) == 16
    after = samples(source)
    assert after[("zion_randomx_hashes_total", (("purpose", "verify"),))] == 3
    assert after[("zion_randomx_hashes_total", (("purpose", "mine"),))] == 16
    verify = after[("zion_randomx_verify_seconds", ())]
    assert isinstance(verify, HistogramSample) and verify.count == 1 and verify.sum > 0
    info = (
        "zion_randomx_info",
        (("backend", "randomx-cpu"), ("mode", "light"), ("role", "verifier")),
    )
    assert after[info] == 1.0
    assert after[("zion_randomx_threads", (("role", "verifier"),))] == 1
    assert after[("zion_randomx_keys", (("role", "verifier"),))] == 1
    assert after[("zion_randomx_memory_bytes", (("role", "verifier"),))] == 256 * 1024 * 1024
    assert all(isinstance(s, MetricSample | HistogramSample) for s in source.collect())
