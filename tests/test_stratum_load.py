"""The Stratum load generator (tools/stratum_load.py) against the test job server."""

from __future__ import annotations

import sys
from pathlib import Path

import anyio
import pytest

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from tools.stratum_harness import StratumHarness, make_job  # noqa: E402
from tools.stratum_load import Load, loopback, parse_args, percentile, summary  # noqa: E402

pytestmark = pytest.mark.anyio

ADDRESS = "ZDeLoadTestAddress"


async def test_miners_log_in_receive_broadcasts_and_submit_real_shares() -> None:
    harness = StratumHarness(make_job("1", difficulty=1))
    async with anyio.create_task_group() as tg:
        port = await tg.start(harness.serve)
        args = parse_args(
            [
                f"--pool=127.0.0.1:{port}",
                f"--address={ADDRESS}",
                "--connections=20",
                "--ramp=400",
                "--duration=4",
                "--submit-rate=10",
            ]
        )
        load = Load(args)

        async def new_tip() -> None:
            await harness.wait_for_logins(20, timeout=10)
            await harness.push_job(make_job("2", difficulty=1))

        tg.start_soon(new_tip)
        report = await load.run()
        tg.cancel_scope.cancel()
    assert report["logged_in"] == 20 and report["failed"] == {}
    assert report["closed_by_pool"] == 0
    assert {login["login"] for login in harness.logins} == {f"{ADDRESS}.w{i}" for i in range(20)}
    broadcast = report["job_broadcast_ms"]
    assert broadcast["jobs"] == 2 and broadcast["n"] == 40  # both jobs reached every miner
    assert report["submit_ms"]["n"] >= 5 and report["replies"] == {"OK": report["submit_ms"]["n"]}
    assert len(harness.submissions) == report["submit_ms"]["n"]


def test_only_loopback_is_a_target() -> None:
    assert loopback("127.0.0.1") == "127.0.0.1" and loopback("localhost") == "127.0.0.1"
    assert loopback("::1") == "::1"
    with pytest.raises(ValueError, match="loopback only"):
        loopback("10.0.0.1")


def test_percentiles() -> None:
    assert percentile([], 0.5) == 0.0
    assert percentile([3.0, 1.0, 2.0], 0.5) == 2.0
    assert summary([1.0, 2.0, 3.0, 4.0])["p99"] == 4.0
