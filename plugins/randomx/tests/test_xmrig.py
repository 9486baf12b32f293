"""Stock XMRig 6.16.0 mines against a Stratum harness; our backend verifies every share.

XMRig is fetched by the nox ``randomx`` sessions (``python tools/xmrig.py fetch``), run
only against loopback with the safe flags, and killed after at most a minute and a half.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

import anyio
import pytest

ROOT = Path(__file__).resolve().parents[3]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from zion_plugin_randomx.backend import RandomXCpu  # noqa: E402
from zion_plugin_randomx.binding import set_nonce  # noqa: E402
from zion_plugin_randomx.config import RandomXConfig  # noqa: E402

from tools.stratum_harness import (  # noqa: E402
    StratumHarness,
    Submission,
    make_job,
    result_value64,
    target64_from_hex,
)
from tools.xmrig import XmrigUnavailableError, ensure_xmrig, run_xmrig, xmrig_command  # noqa: E402

RUN_LIMIT_S = 60.0  # the whole XMRig run, start to last share


@pytest.fixture(scope="module")
def xmrig_binary() -> Path:
    try:
        return ensure_xmrig()
    except XmrigUnavailableError as exc:
        pytest.fail(f"XMRig unavailable (the nox randomx session fetches it): {exc}")


def tail(path: Path, lines: int = 40) -> str:
    text = path.read_text(errors="replace") if path.exists() else "(no log)"
    return "\n".join(text.splitlines()[-lines:])


async def wait_for_job_share(harness: StratumHarness, job_id: str) -> Submission:
    while True:
        for sub in harness.submissions:
            if sub.job_id == job_id:
                return sub
        await harness.wait_for_submissions(len(harness.submissions) + 1, timeout=RUN_LIMIT_S)


@pytest.mark.slow
@pytest.mark.xmrig
@pytest.mark.anyio
async def test_xmrig_mines_against_the_harness(xmrig_binary: Path, tmp_path: Path) -> None:
    """Login, two jobs (the second pushed, with a new seed), shares for both, no rejects."""
    first = make_job("job-1", 50, seed_hash="11" * 32, height=100)
    second = make_job("job-2", 64, seed_hash="22" * 32, height=101)
    harness = StratumHarness(first)
    log = tmp_path / "xmrig.log"
    async with anyio.create_task_group() as tg:
        port = await tg.start(harness.serve)
        argv = xmrig_command(
            xmrig_binary,
            url=f"127.0.0.1:{port}",
            user="zion-test",
            threads=1,
            extra=["--randomx-mode=light", f"--log-file={log}"],
            print_time=5,
        )
        # XMRig 6.16 writes nothing to stdout when it is a regular file, hence --log-file;
        # stdout and stderr still go to a file, for anything printed before logging starts.
        with run_xmrig(argv, workdir=tmp_path, output=tmp_path / "stdout.txt") as proc:
            try:
                with anyio.fail_after(RUN_LIMIT_S):
                    await wait_for_job_share(harness, "job-1")
                    assert await harness.push_job(second) == 1
                    await wait_for_job_share(harness, "job-2")
            except TimeoutError:
                pytest.fail(
                    f"XMRig did not submit shares for both jobs within {RUN_LIMIT_S} s "
                    f"(exit status {proc.poll()}); submissions {harness.submissions!r}, "
                    f"rejections {harness.rejections!r}\n{tail(log)}"
                )
            assert proc.poll() is None, f"XMRig exited early\n{tail(log)}"
        tg.cancel_scope.cancel()

    context = f"\n{tail(log)}"
    assert harness.rejections == [], context
    assert len(harness.logins) == 1, f"XMRig reconnected{context}"
    login = harness.logins[0]
    assert login["agent"].startswith("XMRig/6.16.0 "), context
    assert login["login"] == "zion-test" and "rx/0" in login["algo"], context
    submissions = harness.submissions
    assert len(submissions) >= 2, context
    for sub in submissions:
        assert re.fullmatch(r"[0-9a-f]{8}", sub.nonce), (sub, context)
        assert re.fullmatch(r"[0-9a-f]{64}", sub.result), (sub, context)
        assert sub.job_id in ("job-1", "job-2") and sub.job == harness.jobs[sub.job_id]
        assert result_value64(sub.result) < target64_from_hex(sub.job["target"]), (sub, context)
        assert sub.params["algo"] == "rx/0", (sub, context)  # we advertised the algo extension
        assert sub.params["id"] == sub.session
    # Bit for bit: our backend computes the very hash XMRig submitted, for every share.
    backend = RandomXCpu(RandomXConfig(mode="light", threads=1))
    try:
        for sub in submissions:
            blob = set_nonce(
                bytes.fromhex(sub.job["blob"]),
                39,
                int.from_bytes(bytes.fromhex(sub.nonce), "little"),
            )
            ours = backend.hash(blob, key=bytes.fromhex(sub.job["seed_hash"]))
            assert ours.hex() == sub.result, (sub, context)
    finally:
        backend.close()
    nonces = [(s.job_id, s.nonce) for s in submissions]
    assert len(set(nonces)) == len(nonces), context

    text = log.read_text(errors="replace")
    assert "accepted (1/0)" in text, context
    assert "rejected" not in text and "duplicate job" not in text, context
    # XMRig never talked to anything but the harness (its donation pool included).
    for line in text.splitlines():
        if " use " in line and "pool" in line:
            assert f"127.0.0.1:{port}" in line, context
