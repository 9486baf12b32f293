"""The process's own metrics, cheap enough for a node with 10,000 open connections.

The names are prometheus-client's (``process_*``, ``python_gc_*``, ``python_info``), but
its process collector counts open files by listing ``/proc/self/fd``: with a pool's
10,000 sockets that alone takes milliseconds, more than a whole scrape may. This
collector leaves that one out (the pool's ``zion_pool_connections`` counts the sockets
that matter) and reads the rest cheaply: CPU time from ``getrusage``, memory from
``/proc/self/statm`` (kept open, read again from its start; Linux only), the start time and
the platform once, garbage collections from ``gc.get_stats()``.
"""

from __future__ import annotations

import gc
import os
import resource
import time
import weakref
from collections.abc import Iterator
from pathlib import Path

from prometheus_client import PLATFORM_COLLECTOR
from prometheus_client.metrics_core import Metric
from prometheus_client.registry import Collector

from .text import Family, from_metric, to_metric

PROC = Path("/proc")


def _start_time() -> float | None:
    """When this process started (Unix time), from ``/proc``; None elsewhere."""
    try:
        stat = (PROC / "self" / "stat").read_text()
        ticks = int(stat.rpartition(")")[2].split()[19])  # field 22, starttime
        boot = next(
            float(line.split()[1])
            for line in (PROC / "stat").read_text().splitlines()
            if line.startswith("btime ")
        )
        return boot + ticks / os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError, IndexError, StopIteration):
        return None


class RuntimeCollector(Collector):
    """``process_cpu_seconds_total``, ``process_virtual_memory_bytes``,
    ``process_resident_memory_bytes``, ``process_start_time_seconds``,
    ``process_max_fds``, ``python_gc_objects_collected_total``,
    ``python_gc_objects_uncollectable_total``, ``python_gc_collections_total`` and
    ``python_info`` of this process."""

    def __init__(self) -> None:
        self.start_time = _start_time() or time.time()
        self.page_size = resource.getpagesize()
        self._statm: int | None = None
        try:
            self._statm = os.open(PROC / "self" / "statm", os.O_RDONLY)
        except OSError:
            pass
        else:
            weakref.finalize(self, os.close, self._statm)
        self._platform = [from_metric(metric) for metric in PLATFORM_COLLECTOR.collect()]

    def families(self) -> list[Family]:
        usage = resource.getrusage(resource.RUSAGE_SELF)
        families = [
            Family(
                "process_cpu_seconds",
                "counter",
                "Total user and system CPU time spent in seconds.",
                [("process_cpu_seconds_total", {}, usage.ru_utime + usage.ru_stime)],
            )
        ]
        if self._statm is not None:
            virtual, resident = os.pread(self._statm, 128, 0).split()[:2]
            families.append(
                Family(
                    "process_virtual_memory_bytes",
                    "gauge",
                    "Virtual memory size in bytes.",
                    [("process_virtual_memory_bytes", {}, int(virtual) * self.page_size)],
                )
            )
            families.append(
                Family(
                    "process_resident_memory_bytes",
                    "gauge",
                    "Resident memory size in bytes.",
                    [("process_resident_memory_bytes", {}, int(resident) * self.page_size)],
                )
            )
        families.append(
            Family(
                "process_start_time_seconds",
                "gauge",
                "Start time of the process since unix epoch in seconds.",
                [("process_start_time_seconds", {}, self.start_time)],
            )
        )
        soft, _ = resource.getrlimit(resource.RLIMIT_NOFILE)
        if soft != resource.RLIM_INFINITY:
            families.append(
                Family(
                    "process_max_fds",
                    "gauge",
                    "Maximum number of open file descriptors.",
                    [("process_max_fds", {}, soft)],
                )
            )
        stats = gc.get_stats()
        for key, name, help in (
            ("collected", "python_gc_objects_collected", "Objects collected during gc"),
            (
                "uncollectable",
                "python_gc_objects_uncollectable",
                "Uncollectable objects found during GC",
            ),
            (
                "collections",
                "python_gc_collections",
                "Number of times this generation was collected",
            ),
        ):
            samples: list[tuple[str, dict[str, str], float]] = [
                (name + "_total", {"generation": str(generation)}, stat[key])
                for generation, stat in enumerate(stats)
            ]
            families.append(Family(name, "counter", help, list(samples)))
        families.extend(self._platform)
        return families

    def collect(self) -> Iterator[Metric]:
        for family in self.families():
            yield to_metric(family)


__all__ = ["RuntimeCollector"]
