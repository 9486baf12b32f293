"""Name-keyed registries: backends and contributions are found by name, never by order."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from typing import Any, Generic, TypeVar

from .errors import PluginConflictError, PluginError, RegistryError, UnknownBackendError

T = TypeVar("T")

NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.:-]{0,63}$")


class Registry(Generic[T]):
    """Objects registered by plugins under unique names.

    ``kind`` names the registry in messages (``hasher``). ``required`` lists the
    attributes every object must have, so that a malformed registration fails at
    start-up with the plugin's name instead of later in the middle of the work.
    ``extra_keys`` returns further names an object claims (aliases).
    """

    def __init__(
        self,
        kind: str,
        *,
        required: Iterable[str] = (),
        extra_keys: Callable[[Any], Iterable[str]] | None = None,
        config_key: str | None = None,
    ) -> None:
        self.kind = kind
        self.required = tuple(required)
        self.config_key = config_key
        self._extra_keys = extra_keys
        self._items: dict[str, T] = {}
        self._owners: dict[str, str] = {}

    def add(self, obj: T, *, owner: str) -> None:
        """Register ``obj`` under its ``name`` (and extra keys) on behalf of plugin ``owner``."""
        name = getattr(obj, "name", None)
        if not isinstance(name, str) or not NAME_RE.match(name):
            raise PluginError(
                f"plugin {owner!r} registered a {self.kind} without a valid name "
                f"(got {name!r}; expected letters, digits and _.:- up to 64 characters)"
            )
        missing = [attr for attr in self.required if not hasattr(obj, attr)]
        if missing:
            raise PluginError(
                f"plugin {owner!r} registered {self.kind} {name!r} without "
                + ", ".join(repr(m) for m in missing)
            )
        keys = [name, *(self._extra_keys(obj) if self._extra_keys else ())]
        for key in keys:
            if key in self._owners:
                raise PluginConflictError(
                    f"{self.kind} {key!r} is registered by both plugin "
                    f"{self._owners[key]!r} and plugin {owner!r}"
                )
        for key in keys:
            self._items[key] = obj
            self._owners[key] = owner

    def bind(self, owner: str) -> Callable[[T], None]:
        """The ``register`` callable handed to one plugin's hook implementation."""

        def register(obj: T, /) -> None:
            self.add(obj, owner=owner)

        register.__qualname__ = f"register_{self.kind}"
        return register

    def names(self) -> list[str]:
        return sorted(self._items)

    def owner(self, name: str) -> str:
        return self._owners[name]

    def __contains__(self, name: object) -> bool:
        return name in self._items

    def __len__(self) -> int:
        return len(self._items)

    def items(self) -> list[tuple[str, T]]:
        """Every (name, object) pair, in registration order."""
        return list(self._items.items())

    def get(self, name: str) -> T:
        try:
            return self._items[name]
        except KeyError:
            raise UnknownBackendError(self._unknown_message(name)) from None

    def select(self, name: str | None) -> T:
        if name is not None:
            return self.get(name)
        unique = {id(obj): obj for obj in self._items.values()}
        if len(unique) == 1:
            return next(iter(unique.values()))
        where = f" (set {self.config_key})" if self.config_key else ""
        if not unique:
            raise RegistryError(f"no {self.kind} is registered; enable a plugin that provides one")
        raise RegistryError(
            f"several {self.kind} backends are registered ({', '.join(self.names())}); "
            f"choose one{where}"
        )

    def _unknown_message(self, name: str) -> str:
        available = ", ".join(self.names()) or "none registered"
        where = f" (from {self.config_key})" if self.config_key else ""
        return f"unknown {self.kind} {name!r}{where}; available: {available}"
