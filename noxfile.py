"""The test matrix. ``nox`` runs the default sessions; ``nox -l`` lists them.

Every session installs the locked workspace (``uv.lock``) into its own environment with
``uv sync``, then adds what it tests on top.
"""

from __future__ import annotations

import json
from pathlib import Path

import nox

nox.needs_version = ">=2024.10"
nox.options.default_venv_backend = "uv"
nox.options.error_on_missing_interpreters = True

ROOT = Path(__file__).resolve().parent
ASYNC_BACKENDS = ["asyncio", "trio"]
RANDOMX_MODES = ["light", "fast"]
FAST_MODE_MEMORY = 5 << 30  # two 2 GiB datasets (a key and the next) plus the test process


def available_memory() -> int:
    """MemAvailable from /proc/meminfo, in bytes (0 where unknown)."""
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemAvailable:"):
                return int(line.split()[1]) * 1024
    except OSError:
        pass
    return 0


def sync(session: nox.Session, *groups: str) -> None:
    """Install the workspace packages, locked, with the given dependency groups."""
    session.run_install(
        "uv",
        "sync",
        "--locked",
        "--all-packages",
        "--no-default-groups",
        *(f"--group={group}" for group in groups),
        env={"UV_PROJECT_ENVIRONMENT": session.virtualenv.location},
        external=True,
    )


@nox.session(tags=["tests"])
@nox.parametrize("backend", ASYNC_BACKENDS, ids=ASYNC_BACKENDS)
def tests(session: nox.Session, backend: str) -> None:
    """The test suite; async tests on ``backend``.

    The first backend runs everything; the others run only the async tests, which are
    the ones whose behaviour depends on the backend.
    """
    sync(session, "test")
    env = {"ZION_TEST_BACKENDS": backend}
    if backend != ASYNC_BACKENDS[0]:
        env["ZION_TEST_ASYNC_ONLY"] = "1"
    session.run("pytest", *session.posargs, env=env)


@nox.session(tags=["tests", "hashing"])
@nox.parametrize("mode", RANDOMX_MODES, ids=RANDOMX_MODES)
def randomx(session: nox.Session, mode: str) -> None:
    """The randomx plugin's tests in ``mode``, async tests on asyncio and trio.

    Fast mode builds 2 GiB datasets; it runs where the machine has the memory.
    """
    if mode == "fast" and available_memory() < FAST_MODE_MEMORY:
        session.skip(
            f"fast mode needs {FAST_MODE_MEMORY >> 30} GiB of available memory; "
            f"this machine has {available_memory() >> 30} GiB"
        )
    sync(session, "test")
    session.run("python", "tools/xmrig.py", "fetch")
    session.run(
        "pytest",
        # fast mode adds what depends on the mode: the backend tests
        "plugins/randomx/tests" if mode == "light" else "plugins/randomx/tests/test_backend.py",
        *session.posargs,
        env={"ZION_RANDOMX_MODES": mode},
    )


@nox.session
def lint(session: nox.Session) -> None:
    """ruff: lint rules and formatting."""
    sync(session, "lint")
    session.run("ruff", "check", ".")
    session.run("ruff", "format", "--check", ".")


@nox.session
def typing(session: nox.Session) -> None:
    """mypy --strict on the kernel and the hook specifications."""
    sync(session, "typing", "test")
    session.run("mypy")


@nox.session
def examples(session: nox.Session) -> None:
    """Build and install the example plugin and a plugin generated from the template,
    run their own tests, and check that ``zion plugins`` discovers them."""
    sync(session, "test")
    tmp = Path(session.create_tmp()).resolve()
    dist = tmp / "dist"

    def build_install_test(project: Path, plugin: str) -> None:
        session.run(
            "python",
            "-m",
            "pip",
            "wheel",
            "--no-deps",
            "--no-build-isolation",
            "-w",
            str(dist),
            str(project),
        )
        wheel = next(dist.glob(f"{project.name.replace('-', '_')}-*.whl"))
        session.install(str(wheel))
        session.run("pytest", "-p", "no:cacheprovider", str(project / "tests"))
        listing = session.run("zion", "plugins", "--json", silent=True)
        plugins = {p["name"]: p for p in json.loads(str(listing))}
        if plugins.get(plugin, {}).get("status") != "ok":
            session.error(f"zion plugins does not list {plugin!r} as ok: {listing}")
        session.log(f"zion plugins lists {plugin!r}: {plugins[plugin]['distribution']}")

    build_install_test(ROOT / "examples" / "zion-plugin-hello", "hello")

    config = tmp / "cookiecutter.yaml"
    config.write_text(f'replay_dir: "{tmp}/replay"\ncookiecutters_dir: "{tmp}/cc"\n')
    generated = tmp / "generated"
    session.run(
        "cookiecutter",
        "--no-input",
        "--overwrite-if-exists",
        "--config-file",
        str(config),
        "-o",
        str(generated),
        str(ROOT / "examples" / "template"),
        "plugin_name=generated-demo",
    )
    build_install_test(generated / "zion-plugin-generated-demo", "generated-demo")
