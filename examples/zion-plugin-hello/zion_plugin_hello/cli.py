"""The ``zion hello`` command."""

from __future__ import annotations

from typing import Annotated

import typer

from .config import HelloConfig


def hello(
    name: Annotated[str, typer.Argument(help="Who to greet.")] = HelloConfig.name,
    shout: Annotated[bool, typer.Option("--shout", help="Greet in capitals.")] = False,
) -> None:
    """Print a greeting, with the hello section's default greeting (no node needed)."""
    message = HelloConfig().message(name)
    typer.echo(message.upper() if shout else message)
