"""Terminal output for the CLI: rich consoles, logging set-up, error reporting.

Only the CLI installs handlers; the library modules just use ``logging.getLogger``.
"""

from __future__ import annotations

import logging
import sys
from typing import Any

from rich.console import Console
from rich.logging import RichHandler
from rich.markup import escape

stdout = Console(highlight=False)
stderr = Console(stderr=True, highlight=False)

PLAIN_FORMAT = "%(asctime)s %(levelname)-7s %(name)s: %(message)s"


class StderrHandler(logging.StreamHandler):  # type: ignore[type-arg]
    """A stream handler writing to whatever ``sys.stderr`` is when a record is emitted, so
    that a command run in-process (tests, embedding) never writes to a stream it closed."""

    def __init__(self) -> None:
        super().__init__(sys.stderr)

    @property
    def stream(self) -> Any:
        return sys.stderr

    @stream.setter
    def stream(self, value: Any) -> None:
        pass


def configure_logging(verbosity: int) -> None:
    """INFO by default, WARNING with ``-q``, DEBUG with ``-v``.

    On a terminal, rich log lines; otherwise (services, CI, pipes) plain timestamped lines.
    Tracebacks never show local variables: they may hold keys and passwords.
    """
    level = logging.DEBUG if verbosity > 0 else logging.WARNING if verbosity < 0 else logging.INFO
    handler: logging.Handler
    if sys.stderr.isatty():
        handler = RichHandler(
            console=stderr,
            show_path=False,
            rich_tracebacks=True,
            tracebacks_show_locals=False,
            log_time_format="%H:%M:%S",
        )
        handler.setFormatter(logging.Formatter("%(message)s"))
    else:
        handler = StderrHandler()
        handler.setFormatter(logging.Formatter(PLAIN_FORMAT))
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level)


def error(message: str) -> None:
    stderr.print(f"[bold red]error:[/] {escape(message)}", soft_wrap=True)


def warning(message: str) -> None:
    stderr.print(f"[yellow]warning:[/] {escape(message)}", soft_wrap=True)
