"""Configuration layers, structuring and errors."""

from __future__ import annotations

from pathlib import Path

import attrs
import pytest
import tomli_w
from hypothesis import given
from hypothesis import strategies as st

from zion_core.config import (
    CORE_SECTIONS,
    ConfigSources,
    RawConfig,
    build_config,
    default_data_dir,
    load_raw,
    parse_assignment,
    parse_value,
)
from zion_core.errors import ConfigError
from zion_core.netaddr import endpoint_validator, parse_endpoint


@attrs.frozen
class PoolSection:
    bind: str = "127.0.0.1:3333"
    start_difficulty: int = attrs.field(default=1000, validator=attrs.validators.gt(0))
    fee_percent: float = 1.0
    tls: bool = False
    ports: tuple[int, ...] = ()
    mode: str | None = None


SECTIONS = {**CORE_SECTIONS, "pool": PoolSection}


def config_of(tmp_path: Path, text: str | None = None, **kwargs):
    path = None
    if text is not None:
        path = tmp_path / "zion.toml"
        path.write_text(text, encoding="utf-8")
    kwargs.setdefault("environ", {})
    sources = ConfigSources.from_cli(config_file=path, **kwargs)
    return build_config(load_raw(sources), SECTIONS, environ={"ZION_HOME": str(tmp_path)})


def test_defaults(tmp_path: Path) -> None:
    config = config_of(tmp_path)
    assert config.node.network == "mainnet"
    assert config.data_dir == tmp_path / "mainnet"
    assert config.section("pool") == PoolSection()
    assert config.runtime.async_backend == "asyncio"


def test_layers_in_order_file_env_set_flags(tmp_path: Path) -> None:
    text = '[node]\nnetwork = "testnet"\nlog_level = "debug"\n[pool]\nstart_difficulty = 5\nfee_percent = 2\nbind = "file"\n'
    environ = {
        "ZION_POOL__START_DIFFICULTY": "7",
        "ZION_POOL__BIND": "env",
        "ZION_CONFIGX": "ignored",
    }
    config = config_of(
        tmp_path,
        text,
        environ=environ,
        sets=["pool.bind=set", "node.network=mainnet"],
        network="devnet",
    )
    pool = config.section("pool")
    assert pool.start_difficulty == 7  # env beats file
    assert pool.bind == "set"  # --set beats env
    assert pool.fee_percent == 2.0 and isinstance(pool.fee_percent, float)
    assert config.node.network == "devnet"  # --network beats --set
    assert config.node.log_level == "debug"  # file value kept
    assert config.origin[("pool", "bind")] == "--set pool.bind"
    assert config.origin[("pool", "start_difficulty")] == "$ZION_POOL__START_DIFFICULTY"


def test_config_file_from_environment(tmp_path: Path) -> None:
    path = tmp_path / "env.toml"
    path.write_text('[node]\nnetwork = "devnet"\n')
    sources = ConfigSources.from_cli(environ={"ZION_CONFIG": str(path)})
    assert sources.file == path
    assert build_config(load_raw(sources), SECTIONS, environ={}).node.network == "devnet"


def test_values_from_set_are_toml(tmp_path: Path) -> None:
    config = config_of(
        tmp_path,
        sets=["pool.ports=[3333, 5555]", "pool.tls=true", "pool.bind=0.0.0.0:1", 'pool.mode="x=y"'],
    )
    pool = config.section("pool")
    assert pool.ports == (3333, 5555) and pool.tls is True
    assert pool.bind == "0.0.0.0:1" and pool.mode == "x=y"


def test_data_dir_flag_and_expansion(tmp_path: Path) -> None:
    config = config_of(tmp_path, sets=["node.data_dir=~/somewhere"])
    assert config.data_dir == Path("~/somewhere").expanduser()
    config = config_of(tmp_path, data_dir=tmp_path / "dd", network="devnet")
    assert config.data_dir == tmp_path / "dd"


@pytest.mark.parametrize(
    ("assignment", "message"),
    [
        (
            "pool.start_difficulty=abc",
            r"bad value for pool.start_difficulty \(from --set pool.start_difficulty\): expected an integer, got 'abc'",
        ),
        ("pool.start_difficulty=1.5", "expected an integer, got 1.5"),
        ("pool.start_difficulty=true", "expected an integer, got True"),
        ("pool.start_difficulty=0", r"bad value in \[pool\] .*'start_difficulty' must be > 0: 0"),
        ("pool.tls=1", "expected true or false, got 1"),
        ("pool.tls=yes", "expected true or false, got 'yes'"),
        ("pool.bind=5", "expected a string, got 5"),
        ("pool.ports=3333", "expected a list, each item an integer, got 3333"),
        ('pool.ports=["a"]', "bad value for pool.ports"),
        ("node.network=moonnet", "expected one of 'mainnet', 'testnet', 'devnet', got 'moonnet'"),
        ("runtime.async_backend=curio", "expected one of 'asyncio', 'trio'"),
        ("pool.bnd=x", r"unknown key pool.bnd \(from --set pool.bnd\) \(did you mean 'bind'\?\)"),
        (
            "pol.bind=x",
            r"unknown config section \[pol\] \(from --set pol.bind\) \(did you mean 'pool'\?\)",
        ),
    ],
)
def test_bad_values_name_the_key_and_source(tmp_path: Path, assignment: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message) as info:
        config_of(tmp_path, sets=[assignment])
    assert info.value.exit_code == 2
    assert info.value.__traceback__ is not None


def test_errors_from_file_name_the_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"unknown key pool.colour \(from .*zion.toml\)"):
        config_of(tmp_path, "[pool]\ncolour = 'red'\n")


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("network = 'devnet'\n", "top-level key 'network' must be inside a \\[section\\]"),
        ("[node\n", "is not valid TOML"),
        ("[pool]\nbind = 1\nbind = 2\n", "is not valid TOML"),
    ],
)
def test_malformed_files(tmp_path: Path, text: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        config_of(tmp_path, text)


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="does not exist"):
        load_raw(ConfigSources(file=tmp_path / "nope.toml"))


def test_unknown_section_hints_at_installed_plugins(tmp_path: Path) -> None:
    raw = load_raw(ConfigSources(sets=("stratum.bind=x",)))
    with pytest.raises(ConfigError, match="installed, not loaded: stratum"):
        build_config(raw, CORE_SECTIONS, environ={}, inactive_hint=["stratum"])


@pytest.mark.parametrize("item", ["novalue", "=5", "pool=5", ".x=1", "pool.=1"])
def test_malformed_assignments(item: str) -> None:
    with pytest.raises(ConfigError, match=r"expected section\.key=value"):
        parse_assignment(item)


def test_nested_keys_build_tables() -> None:
    raw = RawConfig()
    raw.put("pool", "limits.per_ip", 5, "--set")
    raw.put("pool", "limits.total", 9, "--set")
    assert raw.values == {"pool": {"limits": {"per_ip": 5, "total": 9}}}
    raw.put("pool", "flat", 1, "--set")
    with pytest.raises(ConfigError, match="not a table"):
        raw.put("pool", "flat.x", 1, "--set")


def test_to_dict_round_trips_through_toml(tmp_path: Path) -> None:
    config = config_of(tmp_path, sets=["pool.ports=[1,2]"], network="devnet")
    text = tomli_w.dumps(config.to_dict())
    path = tmp_path / "again.toml"
    path.write_text(text)
    again = build_config(load_raw(ConfigSources(file=path)), SECTIONS, environ={})
    assert again.sections == config.sections


def test_default_data_dir_honours_zion_home(tmp_path: Path) -> None:
    assert default_data_dir("devnet", {"ZION_HOME": str(tmp_path)}) == tmp_path / "devnet"
    assert default_data_dir("mainnet", {}) == Path("~/.zion/mainnet").expanduser()


toml_scalars = (
    st.integers(min_value=-(2**63), max_value=2**63 - 1)
    | st.booleans()
    | st.floats(allow_nan=False)
    | st.text(alphabet=st.characters(exclude_categories=["Cs"]), max_size=20)
)


@given(st.recursive(toml_scalars, lambda inner: st.lists(inner, max_size=4), max_leaves=10))
def test_parse_value_reads_what_toml_writes(value: object) -> None:
    text = tomli_w.dumps({"v": value})[len("v = ") :].strip()
    assert parse_value(text) == value


@given(st.text(alphabet=st.characters(exclude_categories=["Cs"]), max_size=30))
def test_parse_value_never_fails(text: str) -> None:
    parse_value(text)


def test_parse_value_takes_one_value_only() -> None:
    assert parse_value("1\nother = 2") == "1\nother = 2"
    assert parse_value("[1, 2]") == [1, 2]
    assert parse_value("plain words") == "plain words"


# -- HOST:PORT endpoints ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("127.0.0.1:3333", ("127.0.0.1", 3333)),
        ("localhost:0", ("localhost", 0)),
        ("[::1]:18081", ("::1", 18081)),
        ("0.0.0.0:65535", ("0.0.0.0", 65535)),
    ],
)
def test_endpoints_parse(text: str, expected: tuple[str, int]) -> None:
    assert parse_endpoint(text) == expected


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("127.0.0.1", "must be HOST:PORT"),
        (":3333", "must be HOST:PORT"),
        ("host:", "must be HOST:PORT"),
        ("host:65536", "port 0-65535"),
        ("host:-1", "must be HOST:PORT"),
        ("host:12a", "must be HOST:PORT"),
        ("::1:3333", "IPv6 host in brackets"),
        ("[]:3333", "must be HOST:PORT"),
    ],
)
def test_bad_endpoints_name_the_setting(text: str, message: str) -> None:
    with pytest.raises(ValueError, match=message) as info:
        parse_endpoint(text, what="p2p.bind")
    assert "p2p.bind" in str(info.value)


def test_endpoint_validator_allows_unset() -> None:
    @attrs.frozen
    class Section:
        bind: str = attrs.field(default="", validator=endpoint_validator)

    assert Section().bind == ""
    assert Section("127.0.0.1:1").bind == "127.0.0.1:1"
    with pytest.raises(ValueError, match="bind must be HOST:PORT"):
        Section("nope")
