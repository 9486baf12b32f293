"""The runtime: one anyio task group, services started with a readiness handshake.

Start-up: services start one after another with ``await tg.start(service.run)``, each
within ``startup_timeout``; if one fails, those already running are stopped and the
error is raised as :class:`~zion_core.errors.ServiceError`.

Shutdown (SIGINT/SIGTERM, :meth:`Runtime.request_shutdown`, or a service failing) happens
in layers, services in reverse start order: the optional ``drain()`` within
``drain_timeout``, then cancellation, then up to ``cleanup_timeout`` for the service's own
shielded cleanup (a service still running then is reported; its task is still awaited,
as structured concurrency requires). A second signal skips what is left of the
draining.
"""

from __future__ import annotations

import logging
import signal
from collections.abc import Sequence
from typing import Any

import anyio
import attrs
from anyio.abc import TaskGroup, TaskStatus

from .errors import ServiceError

logger = logging.getLogger(__name__)

SHUTDOWN_SIGNALS = (signal.SIGINT, signal.SIGTERM)


@attrs.define(eq=False)
class ServiceHandle:
    """The runtime's record of one service."""

    service: Any
    owner: str
    scope: anyio.CancelScope | None = None
    started: bool = False
    done: anyio.Event = attrs.field(factory=anyio.Event)
    error: BaseException | None = None

    @property
    def name(self) -> str:
        return str(self.service.name)


class Runtime:
    """Runs services until shutdown is requested; see the module docstring."""

    def __init__(
        self,
        services: Sequence[tuple[str, Any]],
        *,
        startup_timeout: float = 60.0,
        drain_timeout: float = 10.0,
        cleanup_timeout: float = 5.0,
        handle_signals: bool = True,
    ) -> None:
        self._services = list(services)
        self.startup_timeout = startup_timeout
        self.drain_timeout = drain_timeout
        self.cleanup_timeout = cleanup_timeout
        self.handle_signals = handle_signals
        self.handles: list[ServiceHandle] = []
        self.shutdown_reason: str | None = None
        self._shutdown: anyio.Event | None = None
        self._forced = False
        self._pending_reason: str | None = None
        self._startup_scope: anyio.CancelScope | None = None
        self._drain_scope: anyio.CancelScope | None = None

    # -- public -------------------------------------------------------------------------

    def request_shutdown(self, reason: str) -> None:
        """Begin a graceful shutdown (safe to call from any task, any number of times)."""
        if self._shutdown is None:
            self._pending_reason = self._pending_reason or reason
            return
        if not self._shutdown.is_set():
            self.shutdown_reason = reason
            logger.info("shutting down: %s", reason)
            self._shutdown.set()
            if self._startup_scope is not None:
                self._startup_scope.cancel()

    @property
    def failed(self) -> list[ServiceHandle]:
        return [h for h in self.handles if h.error is not None]

    async def run(self, *, task_status: TaskStatus[None] = anyio.TASK_STATUS_IGNORED) -> int:
        """Start every service, wait for shutdown, stop them; 0 if all went well, else 1.

        Cancelling this call is a shutdown request like any other: the services still
        stop in order, within the deadlines, before the cancellation goes on.
        """
        self._shutdown = anyio.Event()
        self._startup_scope = anyio.CancelScope()
        if self._pending_reason:
            self.request_shutdown(self._pending_reason)
        async with anyio.create_task_group() as outer:
            outer.start_soon(self._shutdown_when_cancelled)
            with anyio.CancelScope(shield=True):
                start_error = await self._serve(task_status)
            outer.cancel_scope.cancel()
        if start_error is not None:
            raise start_error
        return 1 if self.failed else 0

        # -- internals ----------------------------------------------------------------------

    async def _shutdown_when_cancelled(self) -> None:
        try:
            await anyio.sleep_forever()
        finally:
            self.request_shutdown("cancelled")

    async def _serve(self, task_status: TaskStatus[None]) -> ServiceError | None:
        assert self._shutdown is not None
        start_error: ServiceError | None = None
        async with anyio.create_task_group() as tg:
            if self.handle_signals:
                await tg.start(self._watch_signals)
            try:
                assert self._startup_scope is not None
                with self._startup_scope:
                    await self._start_all(tg)
                if not self._shutdown.is_set():
                    logger.info(
                        "ready: %d service(s) running%s",
                        len(self.handles),
                        (": " + ", ".join(h.name for h in self.handles)) if self.handles else "",
                    )
                task_status.started()
                await self._shutdown.wait()
            except ServiceError as exc:
                start_error = exc
            finally:
                await self._stop_all()
                tg.cancel_scope.cancel()
        return start_error

    async def _watch_signals(self, *, task_status: TaskStatus[None]) -> None:
        with anyio.open_signal_receiver(*SHUTDOWN_SIGNALS) as signals:
            task_status.started()
            async for signum in signals:
                name = signal.Signals(signum).name
                assert self._shutdown is not None
                if not self._shutdown.is_set():
                    self.request_shutdown(f"received {name} (send it again to skip draining)")
                else:
                    logger.warning("received %s again: skipping the drain", name)
                    self._force()

    def _force(self) -> None:
        """Skip what is left of the draining; services still stop in reverse order."""
        self._forced = True
        if self._drain_scope is not None:
            self._drain_scope.cancel()

    async def _start_all(self, tg: TaskGroup) -> None:
        for owner, service in self._services:
            assert self._shutdown is not None
            if self._shutdown.is_set():
                return
            handle = ServiceHandle(service=service, owner=owner)
            self.handles.append(handle)
            logger.debug("starting service %r (plugin %r)", handle.name, owner)
            try:
                with anyio.fail_after(self.startup_timeout):
                    await tg.start(self._run_service, handle)
            except TimeoutError:
                handle.error = TimeoutError(f"not ready after {self.startup_timeout:g} s")
                raise ServiceError(
                    f"service {handle.name!r} (plugin {owner!r}) was not ready within "
                    f"{self.startup_timeout:g} s (runtime.startup_timeout)"
                ) from None
            except Exception as exc:
                handle.error = exc
                raise ServiceError(
                    f"service {handle.name!r} (plugin {owner!r}) failed to start: "
                    f"{type(exc).__name__}: {exc}"
                ) from exc
            logger.info("service %r ready", handle.name)

    async def _run_service(self, handle: ServiceHandle, *, task_status: TaskStatus[None]) -> None:
        def started(value: Any = None) -> None:
            handle.started = True
            task_status.started(value)

        status = _ReadySignal(started)
        try:
            with anyio.CancelScope() as scope:
                handle.scope = scope
                try:
                    await handle.service.run(task_status=status)
                except Exception as exc:
                    if not handle.started:
                        raise
                    handle.error = exc
                    logger.error(
                        "service %r (plugin %r) failed: %s: %s",
                        handle.name,
                        handle.owner,
                        type(exc).__name__,
                        exc,
                        exc_info=logger.isEnabledFor(logging.DEBUG),
                    )
                    self.request_shutdown(f"service {handle.name!r} failed")
                else:
                    if not handle.started:
                        raise ServiceError(
                            f"service {handle.name!r} returned without signalling readiness"
                        )
                    if not scope.cancel_called:
                        logger.info("service %r finished", handle.name)
        finally:
            handle.done.set()

    async def _stop_all(self) -> None:
        for handle in reversed(self.handles):
            if handle.done.is_set() or handle.scope is None:
                continue
            drain = getattr(handle.service, "drain", None)
            if drain is not None and not self._forced:
                with anyio.move_on_after(self.drain_timeout) as drain_scope:
                    self._drain_scope = drain_scope
                    try:
                        await drain()
                    except Exception:
                        logger.exception("service %r failed while draining", handle.name)
                self._drain_scope = None
                if drain_scope.cancelled_caught and not self._forced:
                    logger.warning(
                        "service %r did not drain within %g s (runtime.drain_timeout)",
                        handle.name,
                        self.drain_timeout,
                    )
            handle.scope.cancel()
            with anyio.move_on_after(self.cleanup_timeout) as wait_scope:
                await handle.done.wait()
            if wait_scope.cancelled_caught:
                logger.warning(
                    "service %r did not stop within %g s (runtime.cleanup_timeout)",
                    handle.name,
                    self.cleanup_timeout,
                )
            else:
                logger.debug("service %r stopped", handle.name)


@attrs.frozen
class _ReadySignal:
    _started: Any

    def started(self, value: Any = None) -> None:
        self._started(value)
