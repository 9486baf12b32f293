"""Helpers for testing ZION plugins: build a node from in-process plugin objects.

The ``zion`` pytest plugin (installed with the kernel) exposes them as fixtures::

    def test_my_service(make_node):
        node = make_node({"hello": my_plugin_module}, sets=["hello.greeting='hi'"])
        assert "hello" in node.registry("service").names()
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

from ..bootstrap import load_plugins
from ..config import ConfigSources
from ..node import ZionNode
from ..plugins import discover


def make_node(
    plugins: Mapping[str, Any] | None = None,
    *,
    data_dir: Path,
    network: str = "devnet",
    sets: Sequence[str] = (),
    config_file: Path | None = None,
    environ: Mapping[str, str] | None = None,
    installed: Iterable[str] = (),
    requested: Iterable[str] | None = None,
    essential: Sequence[str] = (),
) -> ZionNode:
    """A configured node (not running) with ``plugins`` registered in-process.

    Installed plugins are ignored unless named in ``installed``; those in ``requested``
    (default: all of ``installed``) are loaded as ``--plugin`` would, the others only when
    a loaded plugin needs them. The environment is empty unless ``environ`` is given, so
    the test is not affected by the caller's shell.
    """
    installed = list(installed)
    sources = ConfigSources.from_cli(
        config_file=config_file,
        sets=sets,
        network=network,
        data_dir=data_dir,
        environ=dict(environ or {}),
    )
    discovered = {name: e for name, e in discover().items() if name in installed}
    loaded = load_plugins(
        sources,
        plugins=list(installed if requested is None else requested),
        extra_plugins=list((plugins or {}).items()),
        discovered=discovered,
        essential=essential,
    )
    return loaded.build_node()


__all__ = ["make_node"]
