"""The kernel's progress helper (zion_core.progress): bars on a terminal, log lines at a
bounded rate elsewhere, callbacks from worker threads."""

from __future__ import annotations

import io
import itertools
import logging
import threading

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from rich.console import Console

from zion_core import progress as progress_mod
from zion_core.progress import ProgressTask, progress, progress_callback


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def task(total: float | None, clock: Clock, logger: logging.Logger) -> ProgressTask:
    return ProgressTask("scan", total, unit="blocks", mode="log", logger=logger, clock=clock)


@pytest.fixture
def log(caplog: pytest.LogCaptureFixture) -> pytest.LogCaptureFixture:
    caplog.set_level(logging.INFO, logger="zion.test.progress")
    return caplog


def messages(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.name == "zion.test.progress"]


def test_log_lines_every_ten_percent_at_most_one_a_second(log: pytest.LogCaptureFixture) -> None:
    clock = Clock()
    scan = task(1000, clock, logging.getLogger("zion.test.progress"))
    for _ in range(1000):
        clock.now += 1 / 64  # 15.6 s in all
        scan.advance()
    scan.finish()
    lines = messages(log)
    assert lines[0] == "scan: 10 % (100 of 1,000 blocks, 1.6 s)"
    assert lines[-1] == "scan: done, 1,000 blocks in 15.6 s"
    assert len(lines) == 11  # 10 % ... 100 %, then done
    assert [line.split(":")[1].split("%")[0].strip() for line in lines[:-1]] == [
        str(p) for p in range(10, 101, 10)
    ]


def test_fast_work_logs_only_its_end(log: pytest.LogCaptureFixture) -> None:
    clock = Clock()
    scan = task(50, clock, logging.getLogger("zion.test.progress"))
    for _ in range(50):
        scan.advance()
    clock.now += 0.5
    scan.finish(ok=False)
    scan.finish()  # idempotent
    assert messages(log) == ["scan: stopped after 50 of 50 blocks (0.5 s)"]


def test_unknown_total_logs_every_five_seconds(log: pytest.LogCaptureFixture) -> None:
    clock = Clock()
    scan = task(None, clock, logging.getLogger("zion.test.progress"))
    for _ in range(120):
        clock.now += 0.25  # 30 s
        scan.advance()
    lines = messages(log)
    assert len(lines) == 6 and lines[0] == "scan: 20 blocks (5.0 s)"
    scan.update(total=200)
    assert scan.total == 200 and scan.completed == 120


@settings(max_examples=40, deadline=None)
@given(
    total=st.integers(1, 10_000),
    steps=st.lists(st.tuples(st.integers(0, 500), st.floats(0, 3)), max_size=200),
)
def test_log_lines_are_bounded(total: int, steps: list[tuple[int, float]]) -> None:
    """At most one line per 10 % step plus one per 5 s, and never two within a second."""
    clock = Clock()
    records: list[float] = []

    class Catch(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            records.append(clock.now)

    logger = logging.getLogger("zion.test.progress.bounded")
    logger.propagate = False
    handler = Catch()
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    try:
        scan = task(total, clock, logger)
        for amount, seconds in steps:
            clock.now += seconds
            scan.advance(amount)
        elapsed = clock.now - 100.0
        assert len(records) <= 10 + elapsed / 5 + 1
        assert all(b - a >= 1.0 for a, b in itertools.pairwise(records))
    finally:
        logger.removeHandler(handler)


def test_bars_on_a_terminal_share_one_display() -> None:
    out = io.StringIO()
    console = Console(file=out, force_terminal=True, width=100)
    with progress("first", 10, interactive=True, console=console) as one:
        assert progress_mod._display.active
        with progress("second", None, interactive=True) as two:
            one.advance(5)
            two.update(3, total=6)
            assert progress_mod._display._tasks == 2
        assert progress_mod._display.active
    assert not progress_mod._display.active  # stopped with the last task


def test_mode_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ZION_PROGRESS", "off")
    with progress("quiet", 3) as quiet:
        quiet.advance(3)
    assert quiet.mode == "off" and quiet.completed == 3
    monkeypatch.setenv("ZION_PROGRESS", "log")
    with progress("logged", 3) as logged:
        pass
    assert logged.mode == "log"
    monkeypatch.delenv("ZION_PROGRESS")
    monkeypatch.setenv("TERM", "dumb")
    with progress("dumb", 3) as dumb:
        pass
    assert dumb.mode == "log"
    with progress("hidden", 3, enabled=False) as hidden:
        pass
    assert hidden.mode == "off"


def test_an_exception_ends_the_task_as_stopped(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="zion.test.progress")

    def replay() -> None:
        with progress(
            "replay", 4, unit="blocks", interactive=False, logger="zion.test.progress"
        ) as task:
            task.advance()
            raise RuntimeError("boom")

    with pytest.raises(RuntimeError, match="boom"):
        replay()
    [line] = messages(caplog)
    assert line.startswith("replay: stopped after 1 of 4 blocks (")


def test_callback_from_worker_threads(caplog: pytest.LogCaptureFixture) -> None:
    """The RandomX dataset build reports ``progress(done, total)`` from its threads: one
    task per build, ended when done reaches the total."""
    caplog.set_level(logging.INFO, logger="zion.test.progress")
    feed = progress_callback("dataset", interactive=False, logger="zion.test.progress")
    done = 0
    lock = threading.Lock()

    def work() -> None:
        nonlocal done
        for _ in range(250):
            with lock:
                done += 1
                feed(done, 1000)

    threads = [threading.Thread(target=work) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    feed(1, 10)  # a second build starts a second task
    feed.close()  # ... abandoned half-way
    ends = [line for line in messages(caplog) if "done" in line or "stopped" in line]
    assert ends[0].startswith("dataset: done, 1,000 items in ")
    assert ends[1].startswith("dataset: stopped after 1 of 10 items (")
    count = len(messages(caplog))
    feed.close()  # nothing under way: a no-op
    assert len(messages(caplog)) == count


def test_a_deep_reorganisation_shows_its_progress(
    caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The consensus plugin's chain: a reorganisation of 32 blocks or more logs its
    progress (no terminal here), a shorter one does not."""
    from pathlib import Path

    monkeypatch.syspath_prepend(str(Path(__file__).parents[1] / "plugins/consensus/tests"))
    from consensus_helpers import ChainHarness

    from zion_core.chain.keys import WalletKeys
    from zion_plugin_consensus.chain import REORG_PROGRESS_BLOCKS, Chain
    from zion_plugin_consensus.params import DEVNET, with_overrides

    monkeypatch.setenv("ZION_PROGRESS", "log")
    caplog.set_level(logging.INFO, logger="zion_plugin_consensus.chain")
    alice = WalletKeys.from_seed(bytes([1]) * 32)
    bob = WalletKeys.from_seed(bytes([2]) * 32)
    main = ChainHarness(with_overrides(DEVNET, initial_difficulty=4))
    fork_point = main.chain.tip_id
    rival = ChainHarness(main.params)
    rival.storage.data = dict(main.storage.data)
    rival.chain = Chain(main.params, rival.storage, rival.hasher, clock=rival.clock)
    for _ in range(20):
        main.mine(alice)
    rival.clock.now = main.clock.now
    assert rival.chain.tip_id == fork_point
    side = [rival.mine(bob) for _ in range(21)]
    main.clock.now = rival.clock.now
    results = [main.chain.add_block(block) for block in side]
    assert results[-1].status == "connected" and len(results[-1].disconnected) == 20
    assert REORG_PROGRESS_BLOCKS <= 20 + 21
    lines = [
        r.getMessage() for r in caplog.records if r.getMessage().startswith("reorganisation to")
    ]
    assert lines and lines[-1].startswith(
        f"reorganisation to {side[-1].id.hex()[:16]}: done, 41 blocks in "
    )


def test_a_wallet_scan_over_several_pages_shows_its_progress(
    caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    from zion_plugin_wallet import node as wallet_node

    monkeypatch.setenv("ZION_PROGRESS", "log")
    monkeypatch.setattr(wallet_node, "HISTORY_PAGE", 3)
    caplog.set_level(logging.INFO, logger="zion_plugin_wallet.node")
    total = 7

    def entry(n: int) -> dict[str, object]:
        txid = f"{n:064x}"
        return {
            "type": "in",
            "txid": txid,
            "amount": n,
            "fee": 0,
            "outpoint": {"txid": txid, "index": 0},
            "height": n,
            "timestamp": n,
            "confirmations": 1,
            "coinbase": False,
        }

    calls: list[dict[str, object]] = []

    class Node(wallet_node._AddressMethods):
        location = "test"

        def call(self, method: str, params: dict[str, object]) -> object:
            calls.append(params)
            offset, limit = int(params["offset"]), int(params["limit"])  # type: ignore[call-overload]
            page = [entry(n) for n in range(offset, min(total, offset + limit))]
            return {"entries": page, "total": total, "pool": [], "height": 9}

    history = Node().address_history("Zi...")
    assert [e.amount for e in history.entries] == list(range(total))
    assert len(calls) == 3
    lines = [r.getMessage() for r in caplog.records if r.name == "zion_plugin_wallet.node"]
    assert lines[-1].startswith("wallet scan: done, 7 entries in ")
    caplog.clear()
    total = 2  # one page: nothing shown
    Node().address_history("Zi...")
    assert not [r for r in caplog.records if r.name == "zion_plugin_wallet.node"]
