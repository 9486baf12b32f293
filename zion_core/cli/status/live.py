"""The live view of ``zion status``: a full-screen rich display, redrawn in place.

Tasks in one anyio task group:

- polling: a snapshot every ``interval`` seconds, or at once when an event says the
  chain moved; while the node does not answer, the view says "reconnecting…" and keeps
  the last snapshot, and polling retries every second;
- events: the node's WebSocket stream (``new_tip``, ``reorg``, ``mempool_tx``,
  ``block_found``, ``pool_stats``) through :class:`~zion_core.NodeEventStream`, pinged
  when silent and reconnected when it drops; ``pool_stats`` updates the pool panel
  directly, ``block_found`` marks the block as found by this node;
- a clock that redraws every second (ages, "updated … ago", a resized terminal);
- keys, when stdin is a terminal (read in cbreak mode, restored on the way out): ``q``
  quits, ``r`` refreshes;
- signals: SIGINT and SIGTERM quit, SIGWINCH redraws.
"""

from __future__ import annotations

import logging
import os
import signal
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, Final

import anyio
from rich.console import Console
from rich.live import Live

from ...events_client import EventStreamError, NodeEventStream
from .render import ViewState, render
from .snapshot import NodeAnswerError, NodeClient, NodeUnreachableError, collect, pool_section

__all__ = ["EVENTS", "StatusApp", "cbreak"]

logger = logging.getLogger(__name__)

EVENTS: Final = ("new_tip", "reorg", "mempool_tx", "block_found", "pool_stats")
RETRY_S: Final = 1.0
"""Seconds between attempts while the node does not answer."""
MIN_GAP_S: Final = 0.25
"""The least time between two snapshots (a burst of events makes one refresh)."""
TICK_S: Final = 1.0
PING_S: Final = 20.0
"""A silent event stream is pinged after this long, and dropped after as long again."""


@contextmanager
def cbreak(fd: int) -> Iterator[None]:
    """The terminal at ``fd`` in cbreak mode (keys arrive one by one, unechoed; Ctrl-C
    still interrupts) until the block ends."""
    import termios
    import tty

    saved = termios.tcgetattr(fd)
    try:
        tty.setcbreak(fd)
        yield
    finally:
        termios.tcsetattr(fd, termios.TCSADRAIN, saved)


class StatusApp:
    """The live view of the node behind ``client``."""

    def __init__(
        self,
        client: NodeClient,
        *,
        console: Console,
        interval: float = 2.0,
        blocks: int = 10,
        keys: bool = True,
        events: bool = True,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.client = client
        self.console = console
        self.interval = interval
        self.blocks = blocks
        self.keys = keys
        self.events = events
        self.clock = clock
        self.state = ViewState(url=client.url, interval=interval)
        self.snapshot: dict[str, Any] | None = None
        self.found: dict[str, str] = {}
        """Block ids seen in ``block_found`` events: found by this node."""
        self.refreshes = 0
        self._wake = anyio.Event()
        self._live: Live | None = None
        self._scope: anyio.CancelScope | None = None

    # -- drawing ---------------------------------------------------------------------------

    def view(self) -> Any:
        width, height = self.console.size
        return render(self.snapshot, self.state, width=width, height=height, now=self.clock())

    def redraw(self) -> None:
        if self._live is not None:
            self._live.update(self.view(), refresh=True)

    # -- control ---------------------------------------------------------------------------

    def stop(self) -> None:
        """Leave the view (``q``, Ctrl-C)."""
        if self._scope is not None:
            self._scope.cancel()

    def refresh_now(self) -> None:
        self._wake.set()

    async def run(self) -> int:
        """Show the view until :meth:`stop`; returns the exit status (0)."""
        with Live(
            console=self.console,
            screen=True,
            auto_refresh=False,
            redirect_stdout=False,
            redirect_stderr=False,
            vertical_overflow="crop",
        ) as live:
            self._live = live
            try:
                async with anyio.create_task_group() as tg:
                    self._scope = tg.cancel_scope
                    self.redraw()
                    tg.start_soon(self._poll)
                    if self.events:
                        tg.start_soon(self._follow_events)
                    tg.start_soon(self._tick)
                    if threading.current_thread() is threading.main_thread():
                        tg.start_soon(self._signals)
                    if self.keys:
                        tg.start_soon(self._read_keys)
            finally:
                self._live = None
        return 0

    # -- tasks -----------------------------------------------------------------------------

    async def _poll(self) -> None:
        last = -MIN_GAP_S
        while True:
            self._wake = anyio.Event()
            await anyio.sleep(max(0.0, last + MIN_GAP_S - time.monotonic()))
            last = time.monotonic()
            try:
                snapshot = await collect(self.client, blocks=self.blocks, found=self.found)
            except (NodeUnreachableError, NodeAnswerError) as exc:
                self.state.connected = False
                self.state.error = str(exc)
                self.state.attempts += 1
            else:
                self.snapshot = snapshot
                self.state.connected = True
                self.state.error = None
                self.state.attempts = 0
                self.state.updated_at = self.clock()
                self.refreshes += 1
            self.redraw()
            with anyio.move_on_after(self.interval if self.state.connected else RETRY_S):
                await self._wake.wait()

    async def _follow_events(self) -> None:
        query = f"events={','.join(EVENTS)}"
        while True:
            try:
                async with await NodeEventStream.connect(
                    self.client.url, query=query, ping_seconds=PING_S
                ) as stream:
                    self.state.events_live = True
                    self.redraw()
                    while True:
                        self.on_event(await stream.receive())
            except EventStreamError as exc:  # closed by the node included
                logger.debug("event stream: %s", exc)
            if self.state.events_live:
                self.state.events_live = False
                self.refresh_now()  # the node may be restarting: poll at once
            await anyio.sleep(RETRY_S)

    def on_event(self, message: dict[str, Any]) -> None:
        """One message of the event stream."""
        event, data = message.get("event"), message.get("data")
        if not isinstance(data, dict):
            return
        if event == "block_found" and isinstance(data.get("hash"), str):
            self.found[data["hash"]] = "node"
            self.refresh_now()
        elif event in ("new_tip", "reorg", "mempool_tx"):
            self.refresh_now()
        elif event == "pool_stats" and self.snapshot is not None:
            self.snapshot["pool"] = pool_section(data)
            self.redraw()

    async def _tick(self) -> None:
        while True:
            await anyio.sleep(TICK_S)
            self.redraw()

    async def _signals(self) -> None:
        with anyio.open_signal_receiver(signal.SIGINT, signal.SIGTERM, signal.SIGWINCH) as sigs:
            async for signum in sigs:
                if signum == signal.SIGWINCH:
                    self.redraw()
                else:
                    self.stop()
                    return

    async def _read_keys(self) -> None:
        fd = sys.stdin.fileno()
        with cbreak(fd):
            while True:
                await anyio.wait_readable(fd)
                data = os.read(fd, 64)
                if not data:
                    return  # stdin closed: no more keys
                keys = data.decode("utf-8", errors="ignore").lower()
                if "q" in keys:
                    self.stop()
                    return
                if "r" in keys:
                    self.refresh_now()
