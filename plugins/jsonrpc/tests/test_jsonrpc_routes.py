"""HTTP routes from other plugins (``zion_register_http_routes``): request handlers, ASGI
applications, mounts with static files, method checks, clashes; and on a real node, the
routes served next to ``/json_rpc`` and a clash stopping the server."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import anyio
import httpx
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.staticfiles import StaticFiles

from zion_core import ServiceError
from zion_hookspecs import HttpRoute, hookimpl
from zion_plugin_jsonrpc.app import plugin_routes

pytestmark = pytest.mark.anyio

BUILTIN = ["/json_rpc", "/openrpc.json", "/ws", "/get_info"]


async def hello(request: Request) -> Response:
    return JSONResponse({"hello": request.query_params.get("name", "world")})


class Echo:
    """An ASGI application answering its method and path."""

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        await PlainTextResponse(f"{scope['method']} {scope['path']}")(scope, receive, send)


def client(routes: list[HttpRoute]) -> httpx.AsyncClient:
    app = Starlette(routes=plugin_routes(routes, BUILTIN))
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://node")


async def test_handlers_asgi_apps_and_mounts(tmp_path: Path) -> None:
    site = tmp_path / "site"
    (site / "css").mkdir(parents=True)
    (site / "index.html").write_text("<h1>pool</h1>", encoding="utf-8")
    (site / "css" / "main.css").write_text("body{}", encoding="utf-8")
    routes = [
        HttpRoute("/hello", hello, name="hello"),
        HttpRoute("/echo", Echo(), ("GET", "post"), name="echo"),
        HttpRoute("/site/", StaticFiles(directory=site, html=True), name="site"),
    ]
    async with client(routes) as http:
        assert (await http.get("/hello", params={"name": "zion"})).json() == {"hello": "zion"}
        assert (await http.head("/hello")).status_code == 200
        assert (await http.post("/hello")).status_code == 405
        assert (await http.post("/echo")).text == "POST /echo"
        assert (await http.put("/echo")).status_code == 405
        index = await http.get("/site/")
        assert index.status_code == 200 and index.text == "<h1>pool</h1>"
        assert (await http.get("/site/css/main.css")).text == "body{}"
        assert (await http.get("/site/missing.js")).status_code == 404
        redirect = await http.get("/site")
        assert redirect.status_code in (307, 308)
        assert redirect.headers["location"].endswith("/site/")
        assert (await http.get("/other")).status_code == 404


@pytest.mark.parametrize(
    ("routes", "message"),
    [
        (
            [HttpRoute("/ws", hello, name="ws")],
            "path '/ws' clashes with '/ws' of the jsonrpc plugin",
        ),
        ([HttpRoute("/", Echo(), name="root")], "path '/' clashes with '/json_rpc'"),
        (
            [HttpRoute("/a/", Echo(), name="a"), HttpRoute("/a/b", hello, name="b")],
            "HTTP route 'b': path '/a/b' clashes with '/a/' of HTTP route 'a'",
        ),
        (
            [HttpRoute("/a/b", hello, name="b"), HttpRoute("/a/", Echo(), name="a")],
            "HTTP route 'a': path '/a/' clashes with '/a/b' of HTTP route 'b'",
        ),
        (
            [HttpRoute("/x", hello, name="one"), HttpRoute("/x", hello, name="two")],
            "path '/x' clashes with '/x' of HTTP route 'one'",
        ),
        ([HttpRoute("metrics", hello, name="rel")], "must start with '/'"),
        ([HttpRoute("/a b", hello, name="space")], "must start with '/' and have no spaces"),
        ([HttpRoute("/none", hello, (), name="none")], "no HTTP methods"),
    ],
)
async def test_bad_and_clashing_routes(routes: list[HttpRoute], message: str) -> None:
    with pytest.raises(ValueError, match=message.replace("(", r"\(")):
        plugin_routes(routes, BUILTIN)


class Routes:
    """A plugin with one route."""

    def __init__(self, route: HttpRoute) -> None:
        self.route = route

    @hookimpl
    def zion_register_http_routes(self, register: Any, node: Any) -> None:
        register(self.route)


NODE = ["consensus", "sqlite", "randomx", "jsonrpc"]
SETS = ["rpc.bind=127.0.0.1:0", "randomx.threads=1"]


async def test_routes_on_a_served_node(make_node: Callable[..., Any]) -> None:
    node = make_node(
        {"web": Routes(HttpRoute("/hello", hello, name="hello"))}, installed=NODE, sets=SETS
    )
    async with anyio.create_task_group() as tg:
        await tg.start(node.serve)
        try:
            port = node.registry("service").get("rpc").port
            async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}") as http:
                assert (await http.get("/hello")).json() == {"hello": "world"}
                info = await http.post(
                    "/json_rpc", json={"jsonrpc": "2.0", "id": 1, "method": "get_info"}
                )
                assert info.json()["result"]["status"] == "OK"
        finally:
            node.request_shutdown("test over")


async def test_a_clash_stops_the_server(make_node: Callable[..., Any]) -> None:
    node = make_node(
        {"web": Routes(HttpRoute("/json_rpc", hello, ("POST",), name="rpc2"))},
        installed=NODE,
        sets=SETS,
    )
    with pytest.raises(ServiceError, match="path '/json_rpc' clashes with '/json_rpc'"):
        await node.serve()
