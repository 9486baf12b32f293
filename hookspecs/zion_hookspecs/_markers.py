"""The pluggy markers shared by the ZION kernel and every plugin."""

from __future__ import annotations

import pluggy

PROJECT_NAME = "zion"
"""The pluggy project name: hook functions are named ``zion_*``."""

ENTRY_POINT_GROUP = "zion.plugins"
"""The entry-point group in which distributions publish ZION plugins."""

hookspec = pluggy.HookspecMarker(PROJECT_NAME)
"""Marker for hook specifications (used by this package only)."""

hookimpl = pluggy.HookimplMarker(PROJECT_NAME)
"""Marker for hook implementations: decorate every ``zion_*`` function of a plugin with it."""
