"""Fixtures for the RandomX plugin's tests.

``ZION_RANDOMX_MODES`` (comma-separated: ``light``, ``fast``) chooses the modes the
mode-parametrized tests run in; the default is light only, because fast mode builds a
2 GiB dataset per key (the nox ``randomx(fast)`` session runs it where memory allows).
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from rx_vectors import KEY_A, MODES
from zion_plugin_randomx.backend import RandomXCpu
from zion_plugin_randomx.config import RandomXConfig


@pytest.fixture(scope="module", params=MODES)
def backend(request: pytest.FixtureRequest) -> Iterator[RandomXCpu]:
    """One backend per mode and test module (a fast-mode dataset takes a while)."""
    rx = RandomXCpu(RandomXConfig(mode=request.param, threads=2))
    rx.set_key(KEY_A)
    yield rx
    rx.close()


@pytest.fixture(scope="module")
def light() -> Iterator[RandomXCpu]:
    rx = RandomXCpu(RandomXConfig(mode="light", threads=2))
    rx.set_key(KEY_A)
    yield rx
    rx.close()
