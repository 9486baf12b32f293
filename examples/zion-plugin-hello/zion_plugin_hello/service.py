"""The ``hello`` service and its status panel."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

import anyio
from zion_hookspecs import ReadySignal

from .config import HelloConfig

logger = logging.getLogger(__name__)


class HelloService:
    """Logs the greeting every ``hello.interval`` seconds until the node stops.

    The runtime calls :meth:`run` in its task group and waits for
    ``task_status.started()`` before starting the next service. On shutdown it awaits
    :meth:`drain` (with a deadline), then cancels :meth:`run`.
    """

    name = "hello"

    def __init__(self, config: HelloConfig) -> None:
        self.config = config
        self.greetings = 0
        self.running = False

    async def run(self, *, task_status: ReadySignal) -> None:
        self.running = True
        try:
            task_status.started()  # nothing to prepare: ready at once
            while True:
                self.greetings += 1
                logger.info("%s", self.config.message())
                await anyio.sleep(self.config.interval)
        finally:
            self.running = False

    async def drain(self) -> None:
        logger.info("Goodbye, %s!", self.config.name)


class HelloPanel:
    """The ``hello`` status panel: the greeting and how often it was logged."""

    name = "hello"
    title = "Hello"

    def __init__(self, service: HelloService) -> None:
        self._service = service

    def snapshot(self) -> Mapping[str, Any]:
        return {
            "message": self._service.config.message(),
            "interval_seconds": self._service.config.interval,
            "greetings": self._service.greetings,
            "running": self._service.running,
        }
