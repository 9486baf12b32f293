"""The dashboard's ASGI application on its own (httpx's ASGI transport, asyncio and trio),
its static files, its configuration section and the pool ports it reads from the
``stratum`` service."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator, Callable, Mapping
from pathlib import Path
from typing import Any

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from zion_plugin_dashboard import DashboardConfig, dashboard_app, site_info
from zion_plugin_dashboard.app import CONTENT_SECURITY_POLICY, STATIC_DIR, pool_ports

SITE = {"title": "Test pool", "network": "devnet", "pool_ports": [{"port": 3333, "tls": False}]}
JS_FILES = sorted((STATIC_DIR / "js").glob("*.js"))


def asgi_client(site: Callable[[], Mapping[str, Any]] = lambda: SITE) -> httpx.AsyncClient:
    transport = httpx.ASGITransport(app=dashboard_app(site))
    return httpx.AsyncClient(transport=transport, base_url="http://dashboard")


@pytest.fixture
async def client(anyio_backend: Any) -> AsyncIterator[httpx.AsyncClient]:
    async with asgi_client() as client:
        yield client


@pytest.mark.anyio
async def test_the_directory_serves_the_page_with_its_security_headers(
    client: httpx.AsyncClient,
) -> None:
    response = await client.get("/")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")
    assert '<script type="module" src="js/main.js"></script>' in response.text
    assert response.headers["content-security-policy"] == CONTENT_SECURITY_POLICY
    assert response.headers["x-content-type-options"] == "nosniff"
    assert response.headers["referrer-policy"] == "no-referrer"
    assert response.headers["cache-control"] == "no-cache"
    assert "etag" in response.headers
    again = await client.get("/", headers={"if-none-match": response.headers["etag"]})
    assert again.status_code == 304


@pytest.mark.parametrize(
    ("path", "content_type"),
    [
        ("/index.html", "text/html"),
        ("/style.css", "text/css"),
        ("/favicon.svg", "image/svg+xml"),
        *((f"/js/{path.name}", "javascript") for path in JS_FILES),
    ],
)
@pytest.mark.anyio
async def test_static_files_have_their_content_types(
    client: httpx.AsyncClient, path: str, content_type: str
) -> None:
    response = await client.get(path)
    assert response.status_code == 200, path
    assert content_type in response.headers["content-type"]
    assert response.content == (STATIC_DIR / path.lstrip("/")).read_bytes()


@pytest.mark.anyio
async def test_site_json_is_read_at_each_request() -> None:
    calls: list[int] = []

    def site() -> dict[str, Any]:
        calls.append(1)
        return {"calls": len(calls)}

    async with asgi_client(site) as client:
        assert (await client.get("/site.json")).json() == {"calls": 1}
        response = await client.get("/site.json")
    assert response.json() == {"calls": 2}
    assert response.headers["cache-control"] == "no-store"
    assert response.headers["content-security-policy"] == CONTENT_SECURITY_POLICY


@pytest.mark.anyio
async def test_head_is_answered_and_writes_are_refused(client: httpx.AsyncClient) -> None:
    assert (await client.head("/")).status_code == 200
    assert (await client.post("/", content=b"x")).status_code == 405
    assert (await client.post("/site.json", content=b"x")).status_code == 405


@pytest.mark.parametrize(
    "path",
    [
        "/missing.js",
        "/../__init__.py",
        "/%2e%2e/__init__.py",
        "/..%2f__init__.py",
        "/js/../../app.py",
        "/%2e%2e/%2e%2e/pyproject.toml",
    ],
)
@pytest.mark.anyio
async def test_nothing_outside_the_static_directory_is_served(
    client: httpx.AsyncClient, path: str
) -> None:
    response = await client.get(path)
    assert response.status_code == 404, (path, response.text[:200])
    assert "import" not in response.text


@given(
    st.lists(st.sampled_from(["..", "%2e%2e", ".", "js", "app.py", "__init__.py", "x"]), max_size=6)
)
@settings(suppress_health_check=[HealthCheck.function_scoped_fixture])  # the backend's name
@pytest.mark.anyio
async def test_no_path_reaches_python_sources(anyio_backend: Any, parts: list[str]) -> None:
    async with asgi_client() as client:
        response = await client.get("/" + "/".join(parts))
    assert response.status_code in (200, 307, 404), response.status_code  # 307: a directory
    assert "from __future__" not in response.text


# -- the files themselves -------------------------------------------------------------------


def static_texts() -> dict[str, str]:
    return {
        str(path.relative_to(STATIC_DIR)): path.read_text(encoding="utf-8")
        for path in STATIC_DIR.rglob("*")
        if path.is_file()
    }


def test_every_file_the_page_names_exists() -> None:
    html = (STATIC_DIR / "index.html").read_text(encoding="utf-8")
    named = re.findall(r'(?:src|href)="([^"#][^"]*)"', html)
    assert named, "index.html names its files"
    for name in named:
        assert (STATIC_DIR / name).is_file(), name
    for path in JS_FILES:
        for module in re.findall(r'from "(\./[^"]+)"', path.read_text(encoding="utf-8")):
            assert (path.parent / module).is_file(), f"{path.name} imports {module}"


def test_nothing_is_loaded_from_another_site() -> None:
    for name, text in static_texts().items():
        without_namespaces = text.replace('xmlns="http://www.w3.org/2000/svg"', "")
        assert not re.search(r"(https?:)?//[a-z0-9.-]+\.[a-z]{2,}/", without_namespaces, re.I), name


def test_the_scripts_never_write_markup() -> None:
    """All data goes in as text (dom.js): no HTML parsing of strings anywhere."""
    for path in JS_FILES:
        text = path.read_text(encoding="utf-8")
        for sink in ("innerHTML", "outerHTML", "insertAdjacentHTML", "document.write", "eval("):
            assert sink not in text, f"{path.name} uses {sink}"


def test_the_page_is_small() -> None:
    total = sum(len(text.encode()) for text in static_texts().values())
    assert total < 96 * 1024, f"{total} bytes"


# -- configuration ----------------------------------------------------------------------


def test_config_defaults() -> None:
    config = DashboardConfig()
    assert config.title == "ZION pool"
    assert config.stratum_host == ""


@pytest.mark.parametrize("host", ["pool.example.org", "localhost", "10.0.0.1", "[::1]", "::1"])
def test_config_accepts_host_names_and_addresses(host: str) -> None:
    assert DashboardConfig(stratum_host=host).stratum_host == host


@pytest.mark.parametrize("host", ["http://pool", "pool example", "pool/x", "-pool", "a..b"])
def test_config_refuses_what_is_not_a_host(host: str) -> None:
    with pytest.raises(ValueError, match="stratum_host"):
        DashboardConfig(stratum_host=host)


@pytest.mark.parametrize("title", ["", "   ", "x" * 81, "two\nlines"])
def test_config_refuses_bad_titles(title: str) -> None:
    with pytest.raises(ValueError, match="title"):
        DashboardConfig(title=title)


# -- pool ports ---------------------------------------------------------------------------


class FakeRegistry:
    def __init__(self, services: dict[str, Any]) -> None:
        self.services = services

    def names(self) -> list[str]:
        return list(self.services)

    def get(self, name: str) -> Any:
        return self.services[name]


class FakeNode:
    network = "devnet"
    data_dir = Path("/nonexistent")

    def __init__(self, services: dict[str, Any]) -> None:
        self.services = FakeRegistry(services)

    def registry(self, kind: str) -> FakeRegistry:
        assert kind == "service"
        return self.services


class FakeServer:
    def __init__(self, bound: Any, fingerprint: Any = None) -> None:
        self.bound = bound
        self.tls_fingerprint = fingerprint


def test_no_stratum_service_means_no_pool() -> None:
    node: Any = FakeNode({})
    assert pool_ports(node) is None
    info = site_info(node, DashboardConfig(title="T", stratum_host="pool.example.org"))
    assert info == {
        "title": "T",
        "network": "devnet",
        "stratum_host": "pool.example.org",
        "pool_ports": None,
        "tls_fingerprint": None,
    }


def test_the_ports_are_the_stratum_services_listeners() -> None:
    server = FakeServer([("0.0.0.0", 3333, False), ("0.0.0.0", 3443, True)], "ab" * 32)
    node: Any = FakeNode({"stratum": server})
    info = site_info(node, DashboardConfig())
    assert info["pool_ports"] == [{"port": 3333, "tls": False}, {"port": 3443, "tls": True}]
    assert info["tls_fingerprint"] == "ab" * 32
    assert info["stratum_host"] is None


@given(
    st.one_of(
        st.none(),
        st.integers(),
        st.lists(
            st.one_of(
                st.tuples(st.text(max_size=3), st.integers(-5, 70000), st.booleans()),
                st.tuples(st.integers()),
                st.text(max_size=3),
                st.none(),
                st.tuples(st.text(max_size=2), st.booleans(), st.booleans()),
            ),
            max_size=5,
        ),
    )
)
def test_pool_ports_never_fail_on_what_the_service_holds(bound: Any) -> None:
    node: Any = FakeNode({"stratum": FakeServer(bound)})
    ports = pool_ports(node)
    assert ports is not None
    for port in ports:
        assert isinstance(port["port"], int) and 0 < port["port"] < 65536
        assert isinstance(port["tls"], bool)
