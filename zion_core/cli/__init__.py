"""The ``zion`` command line.

Built-in commands: ``run``, ``plugins``, ``config show``, ``diagnose``, ``status``.
Installed plugins add their own through ``zion_register_commands``; those are imported
only when the command asked for is not a built-in one (or for ``--help``), and a plugin
that fails to import costs a warning, not the whole command line.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from importlib.metadata import version
from typing import Annotated, Any

import typer
from rich.markup import escape

from ..errors import PluginConflictError, ZionError
from ..plugins import PluginHost, discover, import_entry, split_names
from . import output
from .config_cmd import config_app
from .diagnose import diagnose
from .plugins_cmd import plugins
from .run import run
from .status import status

BUILTIN_COMMANDS = ("run", "plugins", "config", "diagnose", "status")


def _version_callback(value: bool) -> None:
    if value:
        from platform import python_version

        output.stdout.print(
            f"zion {version('zion')} (zion-hookspecs {version('zion-hookspecs')}, "
            f"Python {python_version()})"
        )
        raise typer.Exit()


def _root(
    version_: Annotated[
        bool,
        typer.Option(
            "--version", callback=_version_callback, is_eager=True, help="Show the version."
        ),
    ] = False,
    verbose: Annotated[
        int, typer.Option("--verbose", "-v", count=True, help="More log output.")
    ] = 0,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="Only warnings and errors.")] = False,
) -> None:
    """ZION: a node and mining platform for a RandomX proof-of-work chain."""


def build_app() -> typer.Typer:
    app = typer.Typer(
        name="zion",
        no_args_is_help=True,
        pretty_exceptions_enable=False,
        context_settings={"help_option_names": ["-h", "--help"]},
        rich_markup_mode="rich",
    )
    app.callback()(_root)
    app.command("run")(run)
    app.command("plugins")(plugins)
    app.command("diagnose")(diagnose)
    app.command("status")(status)
    app.add_typer(config_app, name="config")
    return app


def _command_name(info: Any) -> str:
    if info.name:
        return str(info.name)
    return str(info.callback.__name__).lower().replace("_", "-")


def add_plugin_commands(app: typer.Typer, *, blocked: Sequence[str] = ()) -> list[str]:
    """Add the commands of every installed, unblocked plugin; returns warnings."""
    warnings: list[str] = []
    host = PluginHost()
    for entry in discover().values():
        if entry.name in blocked:
            continue
        try:
            host.register(import_entry(entry), name=entry.name, entry=entry)
        except ZionError as exc:
            warnings.append(f"{exc} (its commands are unavailable)")
    taken = {name: "zion" for name in BUILTIN_COMMANDS}
    subs: dict[str, typer.Typer] = {}

    def kwargs_for(plugin: str) -> dict[str, Any]:
        subs[plugin] = typer.Typer()
        return {"cli": subs[plugin]}

    def on_error(plugin: str, exc: Exception) -> None:
        warnings.append(
            f"plugin {plugin!r} failed to add its commands: {type(exc).__name__}: {exc}"
        )
        subs.pop(plugin, None)

    for plugin, _ in host.call_each("zion_register_commands", kwargs_for, on_error=on_error):
        sub = subs[plugin]
        infos: list[tuple[str, Any, bool]] = [
            (_command_name(c), c, False) for c in sub.registered_commands
        ]
        infos += [
            (
                g.name or getattr(getattr(g.typer_instance, "info", None), "name", None) or "",
                g,
                True,
            )
            for g in sub.registered_groups
        ]
        for name, info, is_group in infos:
            if name in taken:
                owner = taken[name]
                warnings.append(
                    str(
                        PluginConflictError(
                            f"command {name!r} of plugin {plugin!r} is already provided by "
                            f"{'the kernel' if owner == 'zion' else f'plugin {owner!r}'}; skipped"
                        )
                    )
                )
                continue
            taken[name] = plugin
            (app.registered_groups if is_group else app.registered_commands).append(info)
    return warnings


def _first_command(args: Sequence[str]) -> str | None:
    for arg in args:
        if arg == "--":
            return None
        if not arg.startswith("-"):
            return arg
    return None


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``zion`` console script; returns the exit status."""
    args = list(sys.argv[1:] if argv is None else argv)
    command = _first_command(args)
    globals_ = args[: args.index(command)] if command is not None else args
    verbosity = sum(len(a) - 1 for a in globals_ if a.startswith("-v") and set(a[1:]) == {"v"})
    verbosity += globals_.count("--verbose")
    if "-q" in globals_ or "--quiet" in globals_:
        verbosity = -1
    output.configure_logging(verbosity)
    app = build_app()
    if command not in BUILTIN_COMMANDS:
        import os

        for warning in add_plugin_commands(
            app, blocked=split_names(os.environ.get("ZION_DISABLED_PLUGINS", ""))
        ):
            output.warning(warning)
    try:
        app(args=args, prog_name="zion", standalone_mode=True)
    except SystemExit as exc:  # typer's own exit: usage errors (2), --help, typer.Exit
        code = exc.code
        return code if isinstance(code, int) else (0 if code is None else 1)
    except ZionError as exc:
        output.error(str(exc))
        if verbosity > 0 and exc.__cause__ is not None:
            output.stderr.print_exception(show_locals=False)
        return exc.exit_code
    except KeyboardInterrupt:
        output.error("interrupted")
        return 130
    except Exception as exc:  # an unexpected failure: short message, traceback on -v
        output.stderr.print(f"[bold red]{escape(f'[{type(exc).__name__}]')}[/]: {escape(str(exc))}")
        if verbosity > 0:
            output.stderr.print_exception(show_locals=False)
        else:
            output.stderr.print("run with -v for the traceback")
        return 1
    return 0


def entry() -> None:
    """Console-script wrapper."""
    sys.exit(main())
