"""Discovery, selection and loading of plugins, with real (fake) installed distributions."""

from __future__ import annotations

from pathlib import Path

import pytest

from zion_core.errors import (
    PluginConflictError,
    PluginLoadError,
    UnknownPluginError,
    UsageError,
)
from zion_core.plugins import (
    PluginHost,
    PluginSelection,
    discover,
    inspect_plugin,
    split_names,
)

GOOD = """
from zion_hookspecs import hookimpl

@hookimpl
def zion_register_config(register):
    pass
"""


def test_discover_reads_metadata_without_importing(fake_dists, unique) -> None:
    module = unique("never_imported")
    fake_dists.add(
        "zion-plugin-alpha", {"alpha": module}, {module: "raise SystemExit('imported!')"}
    )
    found = discover([str(fake_dists.root)])
    assert list(found) == ["alpha"]
    entry = found["alpha"]
    assert (entry.distribution, entry.version, entry.value) == ("zion-plugin-alpha", "1.0", module)
    assert entry.problem is None


def test_discover_counts_a_distribution_once(fake_dists, tmp_path: Path) -> None:
    fake_dists.add("zion-plugin-alpha", {"alpha": "mod_a"})
    fake_dists.add("zion-plugin-alpha", {"alpha": "mod_b"}, version="2.0", root=tmp_path / "other")
    found = discover([str(fake_dists.root), str(tmp_path / "other")])
    assert found["alpha"].version == "1.0"
    assert found["alpha"].problem is None


def test_one_name_from_two_distributions_is_a_conflict(fake_dists) -> None:
    fake_dists.add("zion-plugin-one", {"shared": "mod_one"})
    fake_dists.add("zion-plugin-two", {"shared": "mod_two"})
    entry = discover([str(fake_dists.root)])["shared"]
    assert entry.problem is not None
    assert "zion-plugin-one" in entry.problem and "zion-plugin-two" in entry.problem
    with pytest.raises(PluginConflictError, match="published by both"):
        PluginHost().load([entry])


def test_reserved_names_belong_to_their_distribution(fake_dists) -> None:
    fake_dists.add("evil-package", {"stratum": "evil"})
    fake_dists.add("zion-plugin-metrics", {"metrics": "zion_plugin_metrics"})
    found = discover([str(fake_dists.root)])
    assert "reserved for the distribution zion-plugin-stratum" in (found["stratum"].problem or "")
    assert found["metrics"].problem is None
    assert found["metrics"].reserved


def test_selection_merges_config_env_and_cli() -> None:
    selection = PluginSelection.from_sources(
        cli_enabled=["c", "a"],
        cli_blocked=["x"],
        config_enabled=["a", "b"],
        config_blocked=["y"],
        environ={"ZION_PLUGINS": "b, d  e", "ZION_DISABLED_PLUGINS": "z"},
    )
    assert selection.requested == ("a", "b", "d", "e", "c")
    assert selection.blocked == {"x", "y", "z"}


def test_split_names() -> None:
    assert split_names(" a,b  c,,d ") == ["a", "b", "c", "d"]
    assert split_names("") == []


def test_unknown_plugin_lists_the_available_ones(fake_dists) -> None:
    fake_dists.add("zion-plugin-alpha", {"alpha": "a"})
    fake_dists.add("zion-plugin-beta", {"beta": "b"})
    discovered = discover([str(fake_dists.root)])
    with pytest.raises(UnknownPluginError) as info:
        PluginSelection(requested=("alpha", "gamma")).resolve(discovered, essential=())
    assert info.value.exit_code == 2
    assert "'gamma'" in str(info.value)
    assert "available plugins: alpha, beta" in str(info.value)


def test_only_named_and_essential_plugins_are_selected(fake_dists) -> None:
    for name in ("core-rules", "alpha", "beta", "gamma"):
        fake_dists.add(f"zion-plugin-{name}", {name: name.replace("-", "_")})
    discovered = discover([str(fake_dists.root)])
    chosen = PluginSelection(requested=("gamma", "alpha")).resolve(
        discovered, essential=("core-rules",)
    )
    assert [e.name for e in chosen] == ["core-rules", "gamma", "alpha"]


def test_blocking_wins_over_requesting(fake_dists) -> None:
    fake_dists.add("zion-plugin-alpha", {"alpha": "a"})
    discovered = discover([str(fake_dists.root)])
    selection = PluginSelection(requested=("alpha",), blocked=frozenset({"alpha", "unknown"}))
    assert selection.resolve(discovered, essential=()) == []


def test_essential_plugins_cannot_be_blocked(fake_dists) -> None:
    fake_dists.add("zion-plugin-rules", {"rules": "rules"})
    discovered = discover([str(fake_dists.root)])
    with pytest.raises(UsageError, match="essential and cannot be blocked"):
        PluginSelection(blocked=frozenset({"rules"})).resolve(discovered, essential=("rules",))


def test_missing_essential_plugin_is_an_error() -> None:
    with pytest.raises(PluginLoadError, match="install zion-plugin-rules"):
        PluginSelection().resolve({}, essential=("rules",))


def test_import_failure_names_distribution_entry_point_and_cause(fake_dists, unique) -> None:
    module = unique("broken")
    fake_dists.add(
        "zion-plugin-broken", {"broken": module}, {module: "import does_not_exist_anywhere\n"}
    )
    entry = discover([str(fake_dists.root)])["broken"]
    with pytest.raises(PluginLoadError) as info:
        PluginHost().load([entry])
    message = str(info.value)
    assert "zion-plugin-broken 1.0" in message
    assert f"'broken = {module}'" in message
    assert "ModuleNotFoundError" in message and "does_not_exist_anywhere" in message
    assert isinstance(info.value.__cause__, ModuleNotFoundError)


def test_impl_of_an_unknown_hook_is_rejected(fake_dists, unique) -> None:
    module = unique("typo")
    fake_dists.add(
        "zion-plugin-typo",
        {"typo": module},
        {
            module: "from zion_hookspecs import hookimpl\n@hookimpl\ndef zion_registr_config(register): pass\n"
        },
    )
    entry = discover([str(fake_dists.root)])["typo"]
    with pytest.raises(PluginLoadError, match="unknown hook"):
        PluginHost().load([entry])


def test_impl_with_wrong_arguments_is_rejected(fake_dists, unique) -> None:
    module = unique("badargs")
    fake_dists.add(
        "zion-plugin-badargs",
        {"badargs": module},
        {
            module: "from zion_hookspecs import hookimpl\n@hookimpl\ndef zion_register_config(registry): pass\n"
        },
    )
    entry = discover([str(fake_dists.root)])["badargs"]
    with pytest.raises(PluginLoadError, match="does not match the hook specifications"):
        PluginHost().load([entry])


def test_inspect_reports_hooks_or_why_broken(fake_dists, unique) -> None:
    good, bad = unique("good"), unique("bad")
    fake_dists.add("zion-plugin-good", {"good": good}, {good: GOOD})
    fake_dists.add("zion-plugin-bad", {"bad": bad}, {bad: "raise RuntimeError('boom')\n"})
    found = discover([str(fake_dists.root)])
    report, plugin = inspect_plugin(found["good"])
    assert report.status == "ok" and report.hooks == ("zion_register_config",)
    assert plugin is not None
    report, plugin = inspect_plugin(found["bad"])
    assert report.status == "broken" and plugin is None
    assert "zion-plugin-bad" in (report.error or "") and "RuntimeError: boom" in (
        report.error or ""
    )


def test_a_plugin_name_registers_once() -> None:
    host = PluginHost()
    host.register_builtins()
    with pytest.raises(PluginConflictError):
        host.register(object(), name="core")


def test_call_each_runs_in_registration_order_and_names_the_failing_plugin() -> None:
    from zion_hookspecs import hookimpl

    calls: list[str] = []

    def plugin(tag: str, fail: bool = False) -> object:
        class P:
            @hookimpl
            def zion_diagnose(self, report: object) -> None:
                calls.append(tag)
                if fail:
                    raise ValueError("bad")

        return P()

    host = PluginHost()
    for tag in ("first", "second", "third"):
        host.register(plugin(tag, fail=tag == "second"), name=tag)
    with pytest.raises(ValueError, match="bad") as info:
        list(host.call_each("zion_diagnose", lambda _p: {"report": None}))
    assert calls == ["first", "second"]
    assert any("second" in note for note in info.value.__notes__)
    calls.clear()
    failures: list[str] = []
    list(
        host.call_each(
            "zion_diagnose", lambda _p: {"report": None}, on_error=lambda p, e: failures.append(p)
        )
    )
    assert calls == ["first", "second", "third"] and failures == ["second"]
