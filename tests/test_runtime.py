"""The runtime: readiness handshake, start order, layered shutdown, failures."""

from __future__ import annotations

import logging

import anyio
import pytest

from zion_core.errors import ServiceError
from zion_core.runtime import Runtime

pytestmark = pytest.mark.anyio


class Recorder:
    def __init__(self) -> None:
        self.events: list[str] = []


class Svc:
    """A configurable service that records its life."""

    def __init__(
        self,
        name: str,
        log: Recorder,
        *,
        fail_before_ready: bool = False,
        fail_after_ready: anyio.Event | None = None,
        never_ready: bool = False,
        drain_seconds: float | None = None,
        cleanup_seconds: float = 0.0,
    ) -> None:
        self.name = name
        self.log = log
        self.fail_before_ready = fail_before_ready
        self.fail_after_ready = fail_after_ready
        self.never_ready = never_ready
        self.cleanup_seconds = cleanup_seconds
        if drain_seconds is not None:
            self.drain_seconds = drain_seconds
            self.drain = self._drain

    async def _drain(self) -> None:
        self.log.events.append(f"drain {self.name}")
        await anyio.sleep(self.drain_seconds)
        self.log.events.append(f"drained {self.name}")

    async def run(self, *, task_status) -> None:
        self.log.events.append(f"start {self.name}")
        if self.fail_before_ready:
            raise OSError("port in use")
        if self.never_ready:
            await anyio.sleep_forever()
        task_status.started()
        try:
            if self.fail_after_ready is not None:
                await self.fail_after_ready.wait()
                raise RuntimeError("crashed")
            await anyio.sleep_forever()
        finally:
            with anyio.CancelScope(shield=True):
                await anyio.sleep(self.cleanup_seconds)
                self.log.events.append(f"stop {self.name}")


def runtime(*services: Svc, **kwargs) -> Runtime:
    kwargs.setdefault("handle_signals", False)
    return Runtime([("test", s) for s in services], **kwargs)


async def test_services_start_in_order_and_stop_in_reverse() -> None:
    log = Recorder()
    rt = runtime(Svc("a", log), Svc("b", log, drain_seconds=0), Svc("c", log))
    async with anyio.create_task_group() as tg:
        await tg.start(rt.run)
        assert log.events == ["start a", "start b", "start c"]
        rt.request_shutdown("test over")
    assert log.events == [
        "start a",
        "start b",
        "start c",
        "stop c",
        "drain b",
        "drained b",
        "stop b",
        "stop a",
    ]
    assert rt.shutdown_reason == "test over"


async def test_run_returns_zero_after_a_clean_shutdown() -> None:
    rt = runtime(Svc("a", Recorder()))
    rt.request_shutdown("before start")
    assert await rt.run() == 0


async def test_no_services_is_fine() -> None:
    rt = runtime()
    async with anyio.create_task_group() as tg:
        await tg.start(rt.run)
        rt.request_shutdown("done")


async def test_a_service_failing_to_start_stops_the_others() -> None:
    log = Recorder()
    rt = runtime(Svc("a", log), Svc("b", log, fail_before_ready=True), Svc("c", log))
    with pytest.raises(
        ServiceError, match=r"service 'b' \(plugin 'test'\) failed to start: OSError: port in use"
    ):
        await rt.run()
    assert log.events == ["start a", "start b", "stop a"]


async def test_startup_timeout() -> None:
    log = Recorder()
    rt = runtime(Svc("a", log), Svc("slow", log, never_ready=True), startup_timeout=0.05)
    with pytest.raises(
        ServiceError, match=r"'slow' .* not ready within 0.05 s \(runtime.startup_timeout\)"
    ):
        await rt.run()
    assert log.events == ["start a", "start slow", "stop a"]


async def test_a_crash_after_start_shuts_everything_down(caplog: pytest.LogCaptureFixture) -> None:
    log = Recorder()
    trigger = anyio.Event()
    rt = runtime(Svc("a", log), Svc("b", log, fail_after_ready=trigger), Svc("c", log))
    async with anyio.create_task_group() as tg:
        await tg.start(rt.run)
        with caplog.at_level(logging.ERROR):
            trigger.set()
    assert rt.shutdown_reason == "service 'b' failed"
    assert [h.name for h in rt.failed] == ["b"]
    assert "crashed" in caplog.text
    assert log.events == ["start a", "start b", "start c", "stop b", "stop c", "stop a"]


async def test_exit_status_is_one_after_a_crash() -> None:
    trigger = anyio.Event()
    trigger.set()
    rt = runtime(Svc("x", Recorder(), fail_after_ready=trigger))
    with anyio.fail_after(5):
        assert await rt.run() == 1


async def test_drain_is_bounded(caplog: pytest.LogCaptureFixture) -> None:
    log = Recorder()
    rt = runtime(Svc("slowdrain", log, drain_seconds=30), drain_timeout=0.05)
    with anyio.fail_after(5), caplog.at_level(logging.WARNING):
        async with anyio.create_task_group() as tg:
            await tg.start(rt.run)
            rt.request_shutdown("bye")
    assert log.events == ["start slowdrain", "drain slowdrain", "stop slowdrain"]
    assert "did not drain within 0.05 s" in caplog.text


async def test_slow_cleanup_is_reported(caplog: pytest.LogCaptureFixture) -> None:
    log = Recorder()
    rt = runtime(Svc("sticky", log, cleanup_seconds=0.3), cleanup_timeout=0.05)
    with anyio.fail_after(5), caplog.at_level(logging.WARNING):
        async with anyio.create_task_group() as tg:
            await tg.start(rt.run)
            rt.request_shutdown("bye")
    assert "did not stop within 0.05 s" in caplog.text
    assert log.events[-1] == "stop sticky"


async def test_a_service_returning_before_ready_is_an_error() -> None:
    class Lazy:
        name = "lazy"

        async def run(self, *, task_status) -> None:
            return None

    with pytest.raises(ServiceError, match="returned without signalling readiness"):
        await Runtime([("test", Lazy())], handle_signals=False).run()


async def test_cancelling_the_runtime_still_stops_services_in_order() -> None:
    log = Recorder()
    rt = runtime(Svc("a", log), Svc("b", log, drain_seconds=0))
    async with anyio.create_task_group() as tg:
        await tg.start(rt.run)
        tg.cancel_scope.cancel()
    assert log.events == ["start a", "start b", "drain b", "drained b", "stop b", "stop a"]


async def test_shutdown_during_startup_does_not_wait_for_readiness() -> None:
    log = Recorder()
    rt = runtime(Svc("a", log), Svc("slow", log, never_ready=True), Svc("c", log))
    with anyio.fail_after(5):
        async with anyio.create_task_group() as tg:
            tg.start_soon(rt.run)
            while "start slow" not in log.events:
                await anyio.sleep(0.01)
            rt.request_shutdown("stop now")
    assert log.events == ["start a", "start slow", "stop a"]
