"""The node's OpenRPC document: served by a real devnet node, valid OpenRPC 1.3 with valid
draft 2020-12 schemas, complete (every built-in method, alias and plugin method, the REST
endpoints), and true (the node's real answers validate against it)."""

from __future__ import annotations

import http.client
import json
from collections.abc import AsyncIterator, Callable, Iterator
from types import MappingProxyType, SimpleNamespace
from typing import Any

import anyio
import anyio.to_thread
import pytest
from jsonschema import Draft202012Validator

from zion_core.chain.keys import WalletKeys
from zion_core.chain.transaction import OutPoint, Transaction, TxOutput
from zion_hookspecs import RpcMethod, hookimpl
from zion_plugin_jsonrpc import openrpc, schemas
from zion_plugin_jsonrpc.api import ZION_VERSION, NodeApi

pytestmark = pytest.mark.anyio

INSTALLED = ["consensus", "sqlite", "randomx", "jsonrpc"]
SETS = ["chain.initial_difficulty=1", "rpc.bind=127.0.0.1:0", "randomx.threads=1"]
KEYS = WalletKeys.from_seed(bytes(32))
ADDRESS = str(KEYS.address("devnet"))
MINED = 3
"""Blocks mined on top of genesis before the tests look."""

SUM_PARAMS: dict[str, Any] = {
    "type": "object",
    "properties": {"a": {"type": "integer"}, "b": {"type": "integer"}},
    "required": ["a", "b"],
}
SUM_RESULT: dict[str, Any] = {
    "type": "object",
    "properties": {"sum": {"type": "integer"}},
    "required": ["sum"],
    "additionalProperties": False,
}


def _sum(params: Any) -> dict[str, int]:
    """``{"sum": a + b}`` of ``{"a", "b"}``."""
    if not isinstance(params, dict):
        raise TypeError("params must be an object")
    a, b = params.get("a"), params.get("b")
    if not all(isinstance(x, int) and not isinstance(x, bool) for x in (a, b)):
        raise ValueError("a and b must be integers")
    assert isinstance(a, int) and isinstance(b, int)
    return {"sum": a + b}


class SchemaPlugin:
    """A plugin contributing a restricted, described method and an undescribed one."""

    @hookimpl
    def zion_register_rpc_methods(self, register: Any, node: Any) -> None:
        register(
            RpcMethod(
                "test_sum",
                _sum,
                restricted=True,
                aliases=("testsum",),
                description="Add two integers.\n\nA test plugin's method.",
                params_schema=MappingProxyType(SUM_PARAMS),
                result_schema=SUM_RESULT,
            )
        )
        register(RpcMethod("test_echo", lambda params: {"echo": params}))


# -- the OpenRPC 1.3 meta-schema's essentials, as a draft 2020-12 schema ---------------------

EXTENSIONS: dict[str, Any] = {"^x-": True}


def closed(properties: dict[str, Any], required: list[str]) -> dict[str, Any]:
    """An OpenRPC object: these properties and ``x-`` extensions, nothing else."""
    return {
        "type": "object",
        "required": required,
        "properties": properties,
        "patternProperties": EXTENSIONS,
        "additionalProperties": False,
    }


STRING = {"type": "string"}
NAME = {"type": "string", "minLength": 1}
CONTENT_DESCRIPTOR = closed(
    {
        "name": NAME,
        "summary": STRING,
        "description": STRING,
        "required": {"type": "boolean"},
        "deprecated": {"type": "boolean"},
        "schema": {"type": ["object", "boolean"]},
    },
    ["name", "schema"],
)
ERROR_OBJECT = {
    "type": "object",
    "required": ["code", "message"],
    "properties": {"code": {"type": "integer"}, "message": STRING, "data": True},
    "additionalProperties": False,
}
METHOD_OBJECT = closed(
    {
        "name": NAME,
        "summary": STRING,
        "description": STRING,
        "tags": {"type": "array", "items": closed({"name": NAME, "description": STRING}, ["name"])},
        "paramStructure": {"enum": ["by-position", "by-name", "either"]},
        "params": {"type": "array", "items": CONTENT_DESCRIPTOR},
        "result": CONTENT_DESCRIPTOR,
        "errors": {"type": "array", "items": ERROR_OBJECT},
        "deprecated": {"type": "boolean"},
        # this node's extensions
        "x-aliases": {"type": "array", "items": NAME, "uniqueItems": True},
        "x-restricted": {"type": "boolean"},
        "x-params-schema": {"type": ["object", "boolean"]},
    },
    ["name", "params", "result", "x-aliases", "x-restricted", "x-params-schema"],
)
REST_BODY = closed(
    {"contentType": {"const": "application/json"}, "schema": {"type": "object"}}, ["schema"]
)
OPENRPC_META: dict[str, Any] = {
    "$schema": schemas.DIALECT,
    **closed(
        {
            "openrpc": {"type": "string", "pattern": r"^1\.3\.\d+$"},
            "info": closed(
                {
                    "title": STRING,
                    "description": STRING,
                    "termsOfService": STRING,
                    "version": STRING,
                    "contact": {"type": "object"},
                    "license": closed({"name": STRING, "url": STRING}, []),
                },
                ["title", "version"],
            ),
            "servers": {
                "type": "array",
                "items": closed(
                    {
                        "url": STRING,
                        "name": STRING,
                        "summary": STRING,
                        "description": STRING,
                        "variables": {"type": "object"},
                    },
                    ["url"],
                ),
            },
            "methods": {"type": "array", "items": METHOD_OBJECT},
            "components": {
                "type": "object",
                "properties": {
                    "schemas": {"type": "object", "additionalProperties": {"type": "object"}},
                    "errors": {"type": "object", "additionalProperties": ERROR_OBJECT},
                },
            },
            "x-rest": {
                "type": "array",
                "items": closed(
                    {
                        "path": {"type": "string", "pattern": "^/"},
                        "aliases": {"type": "array", "items": {"type": "string", "pattern": "^/"}},
                        "methods": {"type": "array", "items": {"enum": ["GET", "POST"]}},
                        "summary": STRING,
                        "request": REST_BODY,
                        "response": REST_BODY,
                    },
                    ["path", "aliases", "methods", "request", "response"],
                ),
            },
            "x-rest-failure": {"type": "object"},
        },
        ["openrpc", "info", "methods"],
    ),
}


def all_schemas(doc: dict[str, Any]) -> Iterator[tuple[str, Any]]:
    """Every JSON Schema in the document, with where it is."""
    for method in doc["methods"]:
        name = method["name"]
        for param in method["params"]:
            yield f"{name} param {param['name']}", param["schema"]
        yield f"{name} result", method["result"]["schema"]
        yield f"{name} x-params-schema", method["x-params-schema"]
    for key, schema in doc["components"]["schemas"].items():
        yield f"components.schemas.{key}", schema
    for rest in doc["x-rest"]:
        yield f"{rest['path']} request", rest["request"]["schema"]
        yield f"{rest['path']} response", rest["response"]["schema"]
    yield "x-rest-failure", doc["x-rest-failure"]


def method_entry(doc: dict[str, Any], name: str) -> dict[str, Any]:
    """The document's entry for ``name`` (a method's name or one of its aliases)."""
    for method in doc["methods"]:
        if name == method["name"] or name in method["x-aliases"]:
            entry: dict[str, Any] = method
            return entry
    raise AssertionError(f"{name!r} is not in the document")


def rest_entry(doc: dict[str, Any], path: str) -> dict[str, Any]:
    """The ``x-rest`` entry for ``path`` (an endpoint's path or one of its aliases)."""
    for rest in doc["x-rest"]:
        if path == rest["path"] or path in rest["aliases"]:
            entry: dict[str, Any] = rest
            return entry
    raise AssertionError(f"{path!r} is not in x-rest")


def check(schema: Any, value: Any) -> None:
    """Assert that ``value`` validates against ``schema``, with every error in the message."""
    errors = [
        f"{'/'.join(map(str, e.absolute_path))}: {e.message}"
        for e in Draft202012Validator(schema).iter_errors(value)
    ]
    assert not errors, errors


def reject_constant(name: str) -> Any:
    """``json.loads``' hook for ``NaN``, ``Infinity`` and ``-Infinity``: refuse them."""
    raise ValueError(f"{name} is not JSON")


def strict_json(data: bytes) -> Any:
    """``data`` parsed as RFC 8259 JSON (no ``NaN`` or ``Infinity``)."""
    return json.loads(data, parse_constant=reject_constant)


# -- a node ---------------------------------------------------------------------------------


class Client:
    """A keep-alive HTTP/1.1 client for the node's RPC port (blocking; call from a thread)."""

    def __init__(self, port: int, plugin_methods: list[str], token: str) -> None:
        self.port = port
        self.plugin_methods = plugin_methods
        """Every method name and alias that plugins registered."""
        self.token = token
        """The admin token, sent with every request unless ``auth=False``."""
        self.connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)

    def send(
        self, method: str, path: str, body: bytes | None = None, *, auth: bool = True
    ) -> tuple[int, Any]:
        """One HTTP exchange: the status and the JSON answer."""
        headers = {"Content-Type": "application/json"} if body is not None else {}
        if auth:
            headers["Authorization"] = f"Bearer {self.token}"
        self.connection.request(method, path, body=body, headers=headers)
        response = self.connection.getresponse()
        return response.status, strict_json(response.read())

    def call(self, method: str, params: Any = None, *, auth: bool = True) -> dict[str, Any]:
        """One JSON-RPC call: the whole response object."""
        payload: dict[str, Any] = {"jsonrpc": "2.0", "id": 7, "method": method}
        if params is not None:
            payload["params"] = params
        body = json.dumps(payload).encode()
        status, response = self.send("POST", "/json_rpc", body, auth=auth)
        assert status == 200 and response["id"] == 7 and response["jsonrpc"] == "2.0"
        assert ("result" in response) != ("error" in response), response
        reply: dict[str, Any] = response
        return reply

    def result(self, method: str, params: Any = None) -> Any:
        """The result of one call that must succeed."""
        response = self.call(method, params)
        assert "error" not in response, response
        return response["result"]

    def mine(self, count: int) -> None:
        """Mine ``count`` blocks (difficulty 1: a template is already a valid block)."""
        for _ in range(count):
            template = self.result(
                "get_block_template", {"wallet_address": ADDRESS, "reserve_size": 8}
            )
            assert self.result("submit_block", [template["blocktemplate_blob"]])["status"] == "OK"


@pytest.fixture
async def client(make_node: Callable[..., Any]) -> AsyncIterator[Client]:
    node = make_node({"schema_plugin": SchemaPlugin()}, installed=INSTALLED, sets=SETS)
    services = node.registry("service")
    rpc_service = services.get("rpc")
    async with anyio.create_task_group() as tg:
        await tg.start(services.get("chain").run)
        await tg.start(rpc_service.run)
        client = Client(
            rpc_service.port, node.registry("rpc_method").names(), rpc_service.admin_token
        )
        try:
            await anyio.to_thread.run_sync(client.mine, MINED)
            yield client
        finally:
            client.connection.close()
            with anyio.fail_after(10):
                await rpc_service.drain()
            tg.cancel_scope.cancel()


async def served_document(client: Client) -> dict[str, Any]:
    """The document from ``GET /openrpc.json``, which ``rpc.discover`` must answer too."""
    status, doc = await anyio.to_thread.run_sync(client.send, "GET", "/openrpc.json")
    assert status == 200
    discovered = await anyio.to_thread.run_sync(client.result, "rpc.discover")
    assert discovered == doc
    result: dict[str, Any] = doc
    return result


# -- tests ----------------------------------------------------------------------------------


async def test_the_document_is_valid_openrpc_with_valid_schemas(client: Client) -> None:
    doc = await served_document(client)
    Draft202012Validator.check_schema(OPENRPC_META)
    check(OPENRPC_META, doc)
    assert doc["info"]["version"] == ZION_VERSION
    assert doc["servers"][0]["url"] == "/json_rpc"
    checked = 0
    for where, schema in all_schemas(doc):
        try:
            Draft202012Validator.check_schema(schema)
        except Exception as exc:
            raise AssertionError(f"{where}: {exc}") from None
        checked += 1
    assert checked > 40
    # every error code is one of the API's, with its message
    for method in doc["methods"]:
        codes = [error["code"] for error in method["errors"]]
        assert len(codes) == len(set(codes)) and set(codes) <= set(openrpc.ERRORS)
        assert {-32700, -32600, -32603} <= set(codes)
    assert {e["code"] for e in doc["components"]["errors"].values()} == set(openrpc.ERRORS)
    assert {-1, -2, -3, -4, -5, -6, -7, -9} <= set(openrpc.ERRORS)


async def test_the_document_lists_every_method_alias_and_endpoint(client: Client) -> None:
    doc = await served_document(client)
    names = [method["name"] for method in doc["methods"]]
    aliases = [alias for method in doc["methods"] for alias in method["x-aliases"]]
    assert len(names + aliases) == len(set(names + aliases)), "a name is listed twice"
    served = set(NodeApi(None, "devnet").methods())  # type: ignore[arg-type]
    assert {"test_sum", "testsum", "test_echo"} <= set(client.plugin_methods)
    assert served | {"rpc.discover", *client.plugin_methods} == set(names + aliases)
    # every built-in method is described, under monerod's snake_case name
    assert set(schemas.METHODS) <= set(names)
    assert method_entry(doc, "getblockcount")["name"] == "get_block_count"
    assert method_entry(doc, "on_getblockhash")["name"] == "on_get_block_hash"
    for name in schemas.METHODS:
        entry = method_entry(doc, name)
        assert entry["summary"] and entry["description"] and entry["x-restricted"] is False
        if entry["paramStructure"] == "by-name":
            (param,) = entry["params"]
            assert param["name"] == "params" and param["schema"] == entry["x-params-schema"]
            assert param["schema"]["type"] == "object"
        else:
            assert entry["paramStructure"] == "by-position"
            assert entry["x-params-schema"]["type"] == "array"
    # the plugins' methods, with their schemas, aliases and restriction
    described = method_entry(doc, "testsum")
    assert described["name"] == "test_sum" and described["x-aliases"] == ["testsum"]
    assert described["x-restricted"] is True and described["summary"] == "Add two integers."
    assert described["paramStructure"] == "by-name"
    assert described["x-params-schema"] == SUM_PARAMS
    assert described["result"]["schema"] == SUM_RESULT
    undescribed = method_entry(doc, "test_echo")
    assert undescribed["x-restricted"] is False and undescribed["x-params-schema"] == {}
    # REST endpoints and their aliases
    paths = {path for rest in doc["x-rest"] for path in [rest["path"], *rest["aliases"]]}
    assert paths == {
        "/get_height",
        "/getheight",
        "/get_info",
        "/getinfo",
        "/send_raw_transaction",
        "/sendrawtransaction",
        "/get_transactions",
        "/gettransactions",
        "/get_transaction_pool",
    }


async def test_real_answers_validate_against_the_document(client: Client) -> None:
    doc = await served_document(client)

    def result(name: str, params: Any = None) -> Any:
        response = client.call(name, params)
        assert "error" not in response, (name, response)
        check(method_entry(doc, name)["result"]["schema"], response["result"])
        return response["result"]

    def error(name: str, params: Any, *, auth: bool = True) -> dict[str, Any]:
        response = client.call(name, params, auth=auth)
        assert "result" not in response, (name, response)
        codes = {e["code"] for e in method_entry(doc, name)["errors"]}
        assert response["error"]["code"] in codes, (name, response)
        failure: dict[str, Any] = response["error"]
        return failure

    def rest(path: str, body: Any = None, *, failed: bool = False) -> Any:
        answers = []
        for method in rest_entry(doc, path)["methods"]:
            encoded = None if body is None else json.dumps(body).encode()
            status, answer = client.send(method, path, encoded)
            assert status == 200, (path, answer)
            schema = doc["x-rest-failure"] if failed else rest_entry(doc, path)["response"]
            check(schema if failed else schema["schema"], answer)
            answers.append(answer)
        return answers[-1]

    def scenario() -> None:
        info = result("get_info")
        assert info["height"] == MINED + 1
        tip = result("get_last_block_header")["block_header"]
        block = result("get_block", {"height": MINED})
        assert block["block_header"] == tip
        calls: dict[str, Any] = {
            "get_info": None,
            "get_block_count": {},
            "on_get_block_hash": [MINED],
            "get_block_template": {"wallet_address": ADDRESS, "extra_nonce": "ab" * 8},
            "submit_block": [block["blob"]],
            "get_last_block_header": None,
            "get_block_header_by_height": {"height": 1},
            "get_block_header_by_hash": {"hash": tip["hash"].upper(), "client": "x"},
            "get_block_headers_range": {"start_height": 0, "end_height": MINED},
            "get_block": {"hash": tip["hash"]},
            "get_fee_estimate": None,
            "get_version": {},
            "test_sum": {"a": -2, "b": 3, "c": "ignored"},
            "test_echo": [1],
            "rpc.discover": None,
        }
        assert set(calls) <= {method["name"] for method in doc["methods"]}
        for name, params in calls.items():
            for alias in [name, *method_entry(doc, name)["x-aliases"]]:
                result(alias, params)
        assert result("on_getblockhash", [MINED]) == tip["hash"]
        assert result("submitblock", [block["blob"]])["block_status"] == "known"
        assert result("testsum", {"a": 2, "b": 3}) == {"sum": 5}
        assert result("test_echo", [1]) == {"echo": [1]}
        headers = result("getblockheadersrange", {"start_height": 0, "end_height": MINED})
        assert [h["height"] for h in headers["headers"]] == list(range(MINED + 1))
        content = method_entry(doc, "get_block")["result"]["schema"]["properties"]["json"]
        for params in ({"height": 0}, {"hash": tip["hash"]}):
            check(content["contentSchema"], json.loads(result("getblock", params)["json"]))
        result("get_block_template", {"wallet_address": ADDRESS, "reserve_size": 0})
        template = result("get_block_template", {"wallet_address": ADDRESS})
        assert template["height"] == MINED + 1 and template["reserved_offset"] == 0

        # failures answer codes the document lists for the method
        assert error("on_get_block_hash", [MINED + 1])["code"] == -2
        assert error("on_get_block_hash", {"height": 1})["code"] == -1
        assert error("get_block_header_by_height", {"height": "1"})["code"] == -32602
        assert error("get_block_header_by_hash", {"hash": "00" * 32})["code"] == -5
        assert error("get_block_header_by_hash", {"hash": "00"})["code"] == -1
        assert error("get_block_headers_range", {"start_height": 2, "end_height": 1})["code"] == -2
        assert error("get_block", {})["code"] == -1
        assert error("get_block_template", {"wallet_address": "Z"})["code"] == -4
        both = {"wallet_address": ADDRESS, "extra_nonce": "00", "reserve_size": 1}
        assert error("get_block_template", both)["code"] == -3
        assert (
            error("get_block_template", {"wallet_address": ADDRESS, "extra_nonce": "0"})["code"]
            == -1
        )
        assert error("submit_block", ["00"])["code"] == -6
        assert error("submit_block", [])["code"] == -1
        assert error("test_sum", {"a": 1})["code"] == -32602
        assert error("testsum", {"a": 1, "b": 2}, auth=False)["code"] == -32003

        # REST, every path and alias, GET and POST
        height = rest("/get_height")
        assert rest("/getheight", {})["hash"] == height["hash"] == tip["hash"]
        assert rest("/get_info")["top_block_hash"] == tip["hash"]
        rest("/getinfo", {"ignored": True})
        rest("/get_transaction_pool")
        sent = rest("/send_raw_transaction", {"tx_as_hex": "00"})
        assert sent["status"] == "Failed" and sent["sanity_check_failed"] is True
        rest("/sendrawtransaction", {"tx_as_hex": "deadbeef", "do_not_relay": True})
        rest("/sendrawtransaction", [], failed=False)
        missing = rest("/get_transactions", {"txs_hashes": ["00" * 32, "AB" * 32]})
        assert missing["missed_tx"] == ["00" * 32, "AB" * 32]
        rest("/gettransactions", {"txs_hashes": [tip["miner_tx_hash"]], "decode_as_json": True})
        rest("/get_transactions", {"txs_hashes": ["zz"]}, failed=True)
        rest("/get_transactions", {"txs_hashes": 5}, failed=True)

    await anyio.to_thread.run_sync(scenario)


class FakeMempool:
    def __init__(self, txs: list[Transaction]) -> None:
        self.txs = {tx.txid: tx for tx in txs}

    def __len__(self) -> int:
        return len(self.txs)

    def get(self, txid: bytes) -> Transaction | None:
        return self.txs.get(txid)

    def transactions(self) -> list[Transaction]:
        return list(self.txs.values())


class FakeService:
    def __init__(self, txs: list[Transaction]) -> None:
        self.chain = SimpleNamespace(tip=SimpleNamespace(height=5))
        self.mempool = FakeMempool(txs)


def test_pooled_transactions_validate_against_the_rest_schemas() -> None:
    payee = WalletKeys.from_seed(bytes([1]) * 32)
    output = TxOutput(
        amount=10**9, spend_key=payee.spend.public_key, view_key=payee.view.public_key
    )
    tx = Transaction(
        unlock_time=0, inputs=(OutPoint(txid=bytes(32), index=0),), outputs=(output,), fee=10**8
    )
    tx = tx.with_signatures((KEYS.spend.sign(tx.signing_message),))
    api = NodeApi(FakeService([tx]), "devnet")  # type: ignore[arg-type]
    pool = api.get_transaction_pool()
    assert len(pool["transactions"]) == 1
    check(schemas.GET_TRANSACTION_POOL, pool)
    found = api.get_transactions({"txs_hashes": [tx.txid.hex()]})
    assert found["txs"][0]["in_pool"] is True
    check(schemas.GET_TRANSACTIONS, found)


def test_undescribed_and_odd_methods_still_get_entries() -> None:
    def handler(params: Any) -> Any:
        return params

    plugin = RpcMethod(
        "plug",
        handler,
        aliases=("plug2",),
        params_schema=MappingProxyType({"type": "array", "prefixItems": ({"type": "integer"},)}),
    )
    doc = openrpc.document(
        {"new_method": handler, "newmethod": handler}, {"plug": plugin, "plug2": plugin}
    )
    check(OPENRPC_META, doc)
    entry = method_entry(doc, "newmethod")
    assert entry["name"] == "new_method" and entry["x-aliases"] == ["newmethod"]
    assert entry["params"][0]["schema"] == {} and entry["paramStructure"] == "either"
    plug = method_entry(doc, "plug2")
    assert plug["paramStructure"] == "either" and plug["params"][0]["required"] is True
    assert plug["x-restricted"] is False and -32003 not in [e["code"] for e in plug["errors"]]
    assert plug["x-params-schema"] == {"type": "array", "prefixItems": [{"type": "integer"}]}
    for _where, schema in all_schemas(doc):
        Draft202012Validator.check_schema(schema)
    # the document is a fresh copy: changing it changes no later document
    doc["methods"].clear()
    method_entry(openrpc.document({"new_method": handler}, {}), "new_method")["result"]["schema"][
        "x"
    ] = 1
    assert (
        "x"
        not in method_entry(openrpc.document({"new_method": handler}, {}), "new_method")["result"][
            "schema"
        ]
    )


def test_the_admin_gate_decides_which_methods_are_restricted() -> None:
    plugin = RpcMethod("plug", lambda params: params, restricted=True)
    api = NodeApi(None, "devnet").methods()  # type: ignore[arg-type]
    default = openrpc.document(api, {"plug": plugin})
    assert method_entry(default, "plug")["x-restricted"] is True
    assert method_entry(default, "getblocktemplate")["x-restricted"] is False
    gated = openrpc.document(api, {"plug": plugin}, admin={"plug", "submitblock"})
    check(OPENRPC_META, gated)
    for name in ("plug", "submit_block"):
        entry = method_entry(gated, name)
        assert entry["x-restricted"] is True and -32003 in [e["code"] for e in entry["errors"]]
    assert method_entry(gated, "get_block_template")["x-restricted"] is False
