"""The ``[hello]`` configuration section."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class HelloConfig:
    """``[hello]``: what to say, to whom, and how often.

    Every field has a default. The kernel fills the section from the config file
    (``[hello]``), the environment (``ZION_HELLO__INTERVAL=30``) and ``--set
    hello.interval=30``, checks each value's type, and reports bad values and unknown
    keys as a ``ConfigError`` naming the key. The checks that types cannot express go in
    ``__post_init__`` (a ``ValueError`` becomes a ``ConfigError`` too).
    """

    greeting: str = "Hello"
    name: str = "miner"
    interval: float = 10.0
    """Seconds between two greetings."""

    def __post_init__(self) -> None:
        if not self.interval > 0:
            raise ValueError(f"interval must be greater than 0, got {self.interval!r}")

    def message(self, name: str | None = None) -> str:
        """The greeting line: ``Hello, miner!``."""
        return f"{self.greeting}, {self.name if name is None else name}!"
