"""Configuration: TOML file, environment variables and ``--set``, structured with cattrs.

Layers, lowest first: the defaults of each section's class, the TOML file (``--config``
or ``ZION_CONFIG``), environment variables ``ZION_<SECTION>__<KEY>``, ``--set
section.key=value`` (repeatable) and the dedicated command-line flags (``--network``,
``--data-dir``). Values from the environment and ``--set`` are read as TOML values
(``5``, ``true``, ``["a", "b"]``); anything that is not valid TOML is taken as a string.

Every section is an attrs class (or dataclass) registered through the
``zion_register_config`` hook. Unknown sections, unknown keys and bad values raise
:class:`~zion_core.errors.ConfigError` naming the key and where it came from.
"""

from __future__ import annotations

import dataclasses
import difflib
import os
import re
import tomllib
import types
import typing
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any, Literal, get_args, get_origin

import attrs
import cattrs

from .errors import ConfigError

Network = Literal["mainnet", "testnet", "devnet"]
NETWORKS: tuple[str, ...] = get_args(Network)

SECTION_RE = re.compile(r"^[a-z][a-z0-9_]{0,39}$")
ENV_PREFIX = "ZION_"


# --------------------------------------------------------------------- core sections


@attrs.frozen
class NodeConfig:
    """``[node]``: which network, where the data lives, how much to log.

    ``mine_before_sync``: hand out block templates (``get_block_template``, the built-in
    miner, the pool) before the chain has caught up with the network. Off by default: a
    block mined on an outdated tip is lost work. Devnet never waits.
    """

    network: Network = "mainnet"
    data_dir: Path | None = None
    log_level: Literal["debug", "info", "warning", "error"] = "info"
    mine_before_sync: bool = False


@attrs.frozen
class PluginsConfig:
    """``[plugins]``: plugins to load (besides the essential ones) and plugins to block."""

    enabled: tuple[str, ...] = ()
    disabled: tuple[str, ...] = ()


@attrs.frozen
class BackendsConfig:
    """``[backends]``: which registered backend to use for each role.

    A role left unset works when exactly one loaded plugin provides it.
    """

    consensus: str | None = None
    hasher: str | None = None
    storage: str | None = None
    transport: str | None = None
    pool_policy: str | None = None


_positive = attrs.validators.gt(0.0)


@attrs.frozen
class RuntimeConfig:
    """``[runtime]``: the async backend and the service start/stop deadlines (seconds)."""

    async_backend: Literal["asyncio", "trio"] = "asyncio"
    startup_timeout: float = attrs.field(default=60.0, validator=_positive)
    drain_timeout: float = attrs.field(default=10.0, validator=_positive)
    cleanup_timeout: float = attrs.field(default=5.0, validator=_positive)


CORE_SECTIONS: dict[str, type[Any]] = {
    "node": NodeConfig,
    "plugins": PluginsConfig,
    "backends": BackendsConfig,
    "runtime": RuntimeConfig,
}


def default_data_dir(network: str, environ: Mapping[str, str] | None = None) -> Path:
    """``$ZION_HOME/<network>``, with ``ZION_HOME`` defaulting to ``~/.zion``."""
    env = os.environ if environ is None else environ
    return Path(env.get("ZION_HOME") or "~/.zion").expanduser() / network


# ------------------------------------------------------------------------ raw layers


@attrs.frozen
class ConfigSources:
    """Where configuration comes from; build one with :meth:`from_cli`."""

    file: Path | None = None
    environ: Mapping[str, str] = attrs.field(factory=dict)
    sets: tuple[str, ...] = ()
    flags: Mapping[str, Mapping[str, Any]] = attrs.field(factory=dict)

    @classmethod
    def from_cli(
        cls,
        *,
        config_file: Path | None = None,
        sets: Sequence[str] = (),
        network: str | None = None,
        data_dir: Path | None = None,
        environ: Mapping[str, str] | None = None,
    ) -> ConfigSources:
        env = dict(os.environ if environ is None else environ)
        if config_file is None and env.get("ZION_CONFIG"):
            config_file = Path(env["ZION_CONFIG"])
        node_flags: dict[str, Any] = {}
        if network is not None:
            node_flags["network"] = network
        if data_dir is not None:
            node_flags["data_dir"] = str(data_dir)
        return cls(
            file=config_file,
            environ=env,
            sets=tuple(sets),
            flags={"node": node_flags} if node_flags else {},
        )


@attrs.define
class RawConfig:
    """Merged, unvalidated values: ``values[section][key]`` and where each came from."""

    values: dict[str, dict[str, Any]] = attrs.field(factory=dict)
    origin: dict[tuple[str, str], str] = attrs.field(factory=dict)
    section_origin: dict[str, str] = attrs.field(factory=dict)

    def put(self, section: str, key: str, value: Any, origin: str) -> None:
        table = self.values.setdefault(section, {})
        self.section_origin.setdefault(section, origin)
        head, _, rest = key.partition(".")
        if rest:
            node = table.setdefault(head, {})
            if not isinstance(node, dict):
                raise ConfigError(f"{section}.{head} is not a table, cannot set {section}.{key}")
            parts = rest.split(".")
            for part in parts[:-1]:
                node = node.setdefault(part, {})
                if not isinstance(node, dict):
                    raise ConfigError(f"cannot set {section}.{key}: {part} is not a table")
            node[parts[-1]] = value
        else:
            table[head] = value
        self.origin[(section, head)] = origin

    def get(self, section: str, key: str, default: Any = None) -> Any:
        return self.values.get(section, {}).get(key, default)


def parse_value(text: str) -> Any:
    """A TOML value (``5``, ``true``, ``["a"]``, ``"x"``), or the text itself as a string."""
    try:
        document = tomllib.loads(f"v = {text}")
    except tomllib.TOMLDecodeError:
        return text
    return document["v"] if len(document) == 1 else text


def parse_assignment(item: str) -> tuple[str, str, Any]:
    """``section.key=value`` → (section, key, value)."""
    name, sep, text = item.partition("=")
    name = name.strip()
    section, dot, key = name.partition(".")
    if not sep or not dot or not key or not section:
        raise ConfigError(f"--set {item!r}: expected section.key=value (e.g. node.network=devnet)")
    return section, key, parse_value(text.strip())


def load_raw(sources: ConfigSources) -> RawConfig:
    """Merge every layer above the defaults into a :class:`RawConfig`."""
    raw = RawConfig()
    if sources.file is not None:
        origin = str(sources.file)
        try:
            data = tomllib.loads(sources.file.read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise ConfigError(f"config file {origin} does not exist") from None
        except OSError as exc:
            raise ConfigError(f"config file {origin} cannot be read: {exc.strerror}") from None
        except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
            raise ConfigError(f"config file {origin} is not valid TOML: {exc}") from None
        for section, table in data.items():
            if not isinstance(table, dict):
                raise ConfigError(
                    f"{origin}: top-level key {section!r} must be inside a [section] table"
                )
            for key, value in table.items():
                raw.put(section, key, value, origin)
    for var, text in sorted(sources.environ.items()):
        if not var.startswith(ENV_PREFIX) or "__" not in var:
            continue
        section, _, key = var[len(ENV_PREFIX) :].partition("__")
        if not section or not key:
            continue
        raw.put(section.lower(), key.lower().replace("__", "."), parse_value(text), f"${var}")
    for item in sources.sets:
        section, key, value = parse_assignment(item)
        raw.put(section, key, value, f"--set {section}.{key}")
    for section, table in sources.flags.items():
        for key, value in table.items():
            raw.put(section, key, value, f"--{key.replace('_', '-')}")
    return raw


# ----------------------------------------------------------------------- structuring


def _strict(kind: type, accept: Callable[[Any], bool]) -> Callable[[Any, Any], Any]:
    def hook(value: Any, _type: Any) -> Any:
        if not accept(value):
            raise TypeError(f"expected {describe_type(kind)}, got {value!r}")
        return kind(value) if kind is float else value

    return hook


def _is_collection(tp: Any) -> bool:
    return get_origin(tp) in (list, tuple, set, frozenset)


def _make_converter() -> cattrs.Converter:
    conv = cattrs.Converter(forbid_extra_keys=True)
    conv.register_structure_hook(str, _strict(str, lambda v: isinstance(v, str)))
    conv.register_structure_hook(bool, _strict(bool, lambda v: isinstance(v, bool)))
    conv.register_structure_hook(
        int, _strict(int, lambda v: isinstance(v, int) and not isinstance(v, bool))
    )
    conv.register_structure_hook(
        float, _strict(float, lambda v: isinstance(v, int | float) and not isinstance(v, bool))
    )

    def structure_path(value: Any, _type: Any) -> Path:
        if not isinstance(value, str) or not value:
            raise TypeError(f"expected a path, got {value!r}")
        return Path(value).expanduser()

    conv.register_structure_hook(Path, structure_path)
    conv.register_unstructure_hook(Path, str)

    def collection_factory(tp: Any) -> Callable[[Any, Any], Any]:
        origin = get_origin(tp)
        args = [a for a in get_args(tp) if a is not Ellipsis] or [Any]
        item_type = args[0]

        def structure(value: Any, _type: Any) -> Any:
            if not isinstance(value, list | tuple):
                raise TypeError(f"expected {describe_type(tp)}, got {value!r}")
            return origin(conv.structure(item, item_type) for item in value)

        return structure

    conv.register_structure_hook_factory(_is_collection, collection_factory)
    return conv


_converter = _make_converter()


def describe_type(tp: Any) -> str:
    """A human description of a field type, for error messages."""
    origin = get_origin(tp)
    if tp is str:
        return "a string"
    if tp is bool:
        return "true or false"
    if tp is int:
        return "an integer"
    if tp is float:
        return "a number"
    if tp is Path:
        return "a path"
    if origin is Literal:
        return "one of " + ", ".join(repr(a) for a in get_args(tp))
    if origin in (list, tuple, set, frozenset):
        args = [a for a in get_args(tp) if a is not Ellipsis]
        return f"a list, each item {describe_type(args[0])}" if args else "a list"
    if origin in (typing.Union, types.UnionType):
        parts = [describe_type(a) for a in get_args(tp) if a is not type(None)]
        return " or ".join(parts)
    if attrs.has(tp) or dataclasses.is_dataclass(tp):
        return "a table"
    return getattr(tp, "__name__", str(tp))


def section_fields(cls: type[Any]) -> dict[str, tuple[Any, bool]]:
    """``{field: (type, has_default)}`` for an attrs class or a dataclass."""
    if attrs.has(cls):
        attrs.resolve_types(cls)
        return {
            f.alias or f.name: (f.type, f.default is not attrs.NOTHING)
            for f in attrs.fields(cls)
            if f.init
        }
    if dataclasses.is_dataclass(cls):
        hints = typing.get_type_hints(cls)
        return {
            f.name: (
                hints[f.name],
                f.default is not dataclasses.MISSING
                or f.default_factory is not dataclasses.MISSING,
            )
            for f in dataclasses.fields(cls)
            if f.init
        }
    raise TypeError(f"{cls!r} is not an attrs class or a dataclass")


def _suggest(word: str, choices: Iterable[str]) -> str:
    close = difflib.get_close_matches(word, list(choices), n=1)
    return f" (did you mean {close[0]!r}?)" if close else ""


def _cattrs_detail(exc: BaseException, prefix: str) -> str:
    if isinstance(exc, cattrs.BaseValidationError):
        return "; ".join(
            m.replace("@ $", f"at {prefix}") for m in cattrs.transform_error(exc, path="$")
        )
    return str(exc)


def structure_section(
    section: str, cls: type[Any], table: Mapping[str, Any], raw: RawConfig
) -> Any:
    """Build one section object from its raw table, with errors naming key and source."""
    fields = section_fields(cls)
    for key in table:
        if key not in fields:
            origin = raw.origin.get((section, key), "?")
            known = ", ".join(sorted(fields)) or "none"
            raise ConfigError(
                f"unknown key {section}.{key} (from {origin}){_suggest(key, fields)}; "
                f"known keys of [{section}]: {known}"
            )
    values: dict[str, Any] = {}
    for key, value in table.items():
        tp, _ = fields[key]
        origin = raw.origin.get((section, key), "?")
        try:
            values[key] = _converter.structure(value, tp)
        except Exception as exc:
            detail = _cattrs_detail(exc, f"{section}.{key}")
            if get_origin(tp) is Literal or tp in (int, float, str, bool, Path):
                detail = f"expected {describe_type(tp)}, got {value!r}"
            raise ConfigError(f"bad value for {section}.{key} (from {origin}): {detail}") from None
    missing = [k for k, (_, has_default) in fields.items() if not has_default and k not in values]
    if missing:
        raise ConfigError(f"[{section}] needs " + ", ".join(f"{section}.{k}" for k in missing))
    try:
        return cls(**values)
    except (ValueError, TypeError) as exc:
        origins = sorted({raw.origin.get((section, k), "?") for k in values})
        where = f" (from {', '.join(origins)})" if origins else ""
        raise ConfigError(f"bad value in [{section}]{where}: {exc}") from None


@attrs.frozen
class ZionConfig:
    """The effective configuration: one structured object per registered section."""

    sections: Mapping[str, Any]
    origin: Mapping[tuple[str, str], str] = attrs.field(factory=dict)

    @property
    def node(self) -> NodeConfig:
        return typing.cast(NodeConfig, self.sections["node"])

    @property
    def plugins(self) -> PluginsConfig:
        return typing.cast(PluginsConfig, self.sections["plugins"])

    @property
    def backends(self) -> BackendsConfig:
        return typing.cast(BackendsConfig, self.sections["backends"])

    @property
    def runtime(self) -> RuntimeConfig:
        return typing.cast(RuntimeConfig, self.sections["runtime"])

    @property
    def data_dir(self) -> Path:
        assert self.node.data_dir is not None  # filled in by build_config
        return self.node.data_dir

    def section(self, name: str) -> Any:
        try:
            return self.sections[name]
        except KeyError:
            raise ConfigError(
                f"no config section {name!r}; known sections: {', '.join(sorted(self.sections))}"
            ) from None

    def to_dict(self) -> dict[str, dict[str, Any]]:
        """JSON/TOML-shaped view (``None`` values left out, as TOML has no null)."""
        return {
            name: _drop_none(_converter.unstructure(obj)) for name, obj in self.sections.items()
        }


def _drop_none(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _drop_none(v) for k, v in value.items() if v is not None}
    if isinstance(value, list | tuple):
        return [_drop_none(v) for v in value]
    if isinstance(value, set | frozenset):
        return sorted(_drop_none(v) for v in value)
    return value


def build_config(
    raw: RawConfig,
    sections: Mapping[str, type[Any]],
    *,
    environ: Mapping[str, str] | None = None,
    inactive_hint: Iterable[str] = (),
) -> ZionConfig:
    """Structure ``raw`` into the registered ``sections``.

    ``inactive_hint`` names installed plugins that are not loaded, for the hint in the
    unknown-section error.
    """
    for section in raw.values:
        if section not in sections:
            origin = raw.section_origin.get(section, "?")
            hint = ""
            inactive = sorted(inactive_hint)
            if inactive:
                hint = (
                    "; is the plugin that provides it enabled? "
                    f"(installed, not loaded: {', '.join(inactive)})"
                )
            raise ConfigError(
                f"unknown config section [{section}] (from {origin}){_suggest(section, sections)}; "
                f"known sections: {', '.join(sorted(sections))}{hint}"
            )
    built: dict[str, Any] = {}
    for name, cls in sections.items():
        built[name] = structure_section(name, cls, raw.values.get(name, {}), raw)
    node: NodeConfig = built["node"]
    if node.data_dir is None:
        built["node"] = attrs.evolve(node, data_dir=default_data_dir(node.network, environ))
    return ZionConfig(sections=built, origin=dict(raw.origin))


def validate_section_name(name: str) -> None:
    if not SECTION_RE.match(name):
        raise ConfigError(
            f"invalid config section name {name!r}: use lowercase letters, digits and _ "
            "(it is also the environment variable prefix)"
        )
