"""Fuzzing the node API, driven by the OpenRPC document that a real devnet node serves.

For every method in the document, Hypothesis sends (a) params valid by the method's
``x-params-schema``, mixed with values the node knows (its blocks' heights, hashes and
blobs, a real address) so that success paths are reached too, and (b) params of the wrong
shape; then garbage request bodies (random bytes, truncated JSON, deep nesting, huge
numbers, wrong ``jsonrpc``/``id``/``method`` members, batches: empty, mixed, too long), and
the REST endpoints with arbitrary bodies and HTTP methods.

Invariants: no HTTP 5xx; every body is RFC 8259 JSON; every JSON-RPC response echoes the
call's ``id`` (``null`` for an id that is no string, number or null) and has exactly one of
``result``/``error``; error codes are integers with string messages, never ``-32603`` (a
node bug), and for built-in methods one of the codes the document lists for the method;
schema-valid params never get a protocol error (nor ``-32602`` from a built-in method); an
``x-restricted`` method called without the admin token gets ``-32003``; a result validates
against the method's result schema; a REST answer validates against the endpoint's response
schema or the failure schema; and the node's state (tip, height, work, mempool) is the same
after every refused request. Bodies that once broke these invariants (nesting deeper than
the JSON decoder's recursion limit, non-finite numbers, unknown paths and HTTP methods)
are regression tests at the end.

Hypothesis runs in a worker thread with blocking HTTP while the node serves on the event
loop; each example set is derandomized (fixed seed) and bounded, so CI runs the same
examples every time.

``hypothesis-jsonschema`` 0.23's strategy for *objects* uses a Hypothesis internal that
Hypothesis 6.170 no longer has (``many.more()``), so object schemas are composed here with
``fixed_dictionaries`` from ``from_schema`` strategies for each property, and filtered by
the whole schema (which also enforces ``anyOf``/``not`` across properties).
"""

from __future__ import annotations

import http.client
import json
import math
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any, Final

import anyio
import anyio.to_thread
import pytest
from hypothesis import HealthCheck, currently_in_test_context, given, note, settings
from hypothesis import strategies as st
from hypothesis_jsonschema import from_schema
from jsonschema import Draft202012Validator

from zion_core.chain.keys import WalletKeys
from zion_hookspecs import RpcMethod, hookimpl

pytestmark = pytest.mark.anyio

INSTALLED = ["consensus", "sqlite", "randomx", "jsonrpc"]
MAX_BODY = 64 * 1024
SETS = [
    "chain.initial_difficulty=1",
    "rpc.bind=127.0.0.1:0",
    "randomx.threads=1",
    f"rpc.max_body_bytes={MAX_BODY}",
]
ADDRESS = str(WalletKeys.from_seed(bytes(32)).address("devnet"))
MINED = 3
MAX_BATCH = 100
SAFE_DEPTH = 200
"""Nesting depth of the generated garbage (deeper bodies: see the regression tests below)."""

EXAMPLES: Final = 50
FUZZ: Final = settings(
    max_examples=EXAMPLES,
    deadline=None,
    derandomize=True,
    database=None,
    print_blob=False,
    suppress_health_check=[
        HealthCheck.too_slow,
        HealthCheck.filter_too_much,
        HealthCheck.data_too_large,
        HealthCheck.large_base_example,
    ],
)
"""Fixed, bounded, reproducible: the same examples on every run."""

PROTOCOL_ERRORS: Final = {-32700, -32600, -32601, -32603}
"""Codes that schema-valid params of a served method must never get."""

SUM_PARAMS: dict[str, Any] = {
    "type": "object",
    "properties": {"a": {"type": "integer"}, "b": {"type": "integer"}},
    "required": ["a", "b"],
}


def _sum(params: Any) -> dict[str, int]:
    """``{"sum": a + b}`` of ``{"a", "b"}``."""
    if not isinstance(params, dict):
        raise TypeError("params must be an object")
    a, b = params.get("a"), params.get("b")
    if (
        not (isinstance(a, int) and isinstance(b, int))
        or isinstance(a, bool)
        or isinstance(b, bool)
    ):
        raise ValueError("a and b must be integers")
    return {"sum": a + b}


class FuzzPlugin:
    """A plugin method with schemas, fuzzed like the built-in ones."""

    @hookimpl
    def zion_register_rpc_methods(self, register: Any, node: Any) -> None:
        register(
            RpcMethod(
                "test_sum",
                _sum,
                aliases=("testsum",),
                restricted=True,
                params_schema=SUM_PARAMS,
                result_schema={
                    "type": "object",
                    "properties": {"sum": {"type": "integer"}},
                    "required": ["sum"],
                    "additionalProperties": False,
                },
            )
        )


def reject_constant(name: str) -> Any:
    """``json.loads``' hook for ``NaN``, ``Infinity`` and ``-Infinity``: refuse them."""
    raise ValueError(f"{name} is not JSON")


def finite_float(text: str) -> float:
    value = float(text)
    if math.isinf(value):
        raise ValueError(f"{text[:20]} is out of a double's range")
    return value


def strict_json(data: bytes) -> Any:
    """``data`` as RFC 8259 JSON: ``NaN``, ``Infinity`` and numbers beyond a double's range
    are refused (as the node refuses them)."""
    return json.loads(data, parse_constant=reject_constant, parse_float=finite_float)


def log(text: str) -> None:
    """Note ``text`` for Hypothesis' report of a failing example (outside examples: nothing)."""
    if currently_in_test_context():
        note(text)


def dumps(value: Any) -> bytes:
    """``value`` as compact JSON bytes."""
    return json.dumps(value, separators=(",", ":")).encode()


# -- strategies -----------------------------------------------------------------------------

JSON: Final = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=20),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4)
    ),
    max_leaves=12,
)
"""Any JSON value (finite numbers)."""

PROBES: Final[tuple[Any, ...]] = (None, True, 1, -1, 1.5, "", "x", [], [1], {}, {"a": 1})


def accepts_everything(schema: Any) -> bool:
    """Whether ``schema`` accepts JSON of every type (so no params can be wrong)."""
    validator = Draft202012Validator(schema)
    return all(validator.is_valid(probe) for probe in PROBES)


LEAF_TYPES: Final = {"string", "integer", "number", "boolean", "null"}


def schema_strategy(schema: Any) -> st.SearchStrategy[Any]:
    """Values valid by ``schema``: ``from_schema`` for scalars and arrays of scalars; objects,
    arrays of objects and untyped schemas composed here, filtered by the schema."""
    if not isinstance(schema, dict):
        return JSON if schema is not False else st.nothing()
    kind = schema.get("type")
    if kind in LEAF_TYPES:
        return from_schema(schema)
    validator = Draft202012Validator(schema)
    if kind == "object":
        return object_strategy(schema, {})
    if kind == "array":
        items = schema.get("items", {})
        if isinstance(items, dict) and items.get("type") in LEAF_TYPES:
            return from_schema(schema)
        return st.lists(
            schema_strategy(items),
            min_size=schema.get("minItems", 0),
            max_size=min(schema.get("maxItems", 4), schema.get("minItems", 0) + 4),
        ).filter(validator.is_valid)
    return JSON.filter(validator.is_valid)


def value_strategy(
    schema: Any, hint: st.SearchStrategy[Any] | None = None
) -> st.SearchStrategy[Any]:
    """Values valid by ``schema``, some of them drawn from ``hint`` (values the node knows)."""
    base = schema_strategy(schema)
    if hint is None:
        return base
    return st.one_of(base, hint.filter(Draft202012Validator(schema).is_valid))


def object_strategy(
    schema: dict[str, Any], hints: dict[str, st.SearchStrategy[Any]]
) -> st.SearchStrategy[dict[str, Any]]:
    """Objects valid by ``schema``: its properties (required ones always), unknown keys where
    allowed, filtered by the whole schema."""
    properties: dict[str, Any] = schema.get("properties", {})
    required = set(schema.get("required", []))
    fields = {name: value_strategy(sub, hints.get(name)) for name, sub in properties.items()}
    base = st.fixed_dictionaries(
        {name: fields[name] for name in properties if name in required},
        optional={name: fields[name] for name in properties if name not in required},
    )
    if schema.get("additionalProperties", True) is not False:
        extra = st.dictionaries(
            st.text(max_size=10).filter(lambda key: key not in properties), JSON, max_size=3
        )
        base = st.builds(lambda known, unknown: {**unknown, **known}, base, extra)
    return base.filter(Draft202012Validator(schema).is_valid)


def valid_params(
    entry: dict[str, Any], hints: dict[str, st.SearchStrategy[Any]]
) -> st.SearchStrategy[Any]:
    """``params`` valid by the method's ``x-params-schema``."""
    schema = entry["x-params-schema"]
    if isinstance(schema, dict) and schema.get("type") == "object":
        return object_strategy(schema, hints)
    if entry["paramStructure"] == "by-position" and len(entry["params"]) == 1:
        hint = hints.get(entry["params"][0]["name"])
        if hint is not None:
            return value_strategy(schema, hint.map(lambda value: [value]))
    return schema_strategy(schema)


ABSENT: Final = object()
"""A call without a ``params`` member."""


def invalid_params(entry: dict[str, Any]) -> st.SearchStrategy[Any]:
    """``params`` that the method's ``x-params-schema`` refuses: other JSON types, the
    known fields with wrong values, arrays of the wrong length..."""
    schema = entry["x-params-schema"]
    validator = Draft202012Validator(schema)
    known = list(schema.get("properties", {})) if isinstance(schema, dict) else []
    keyed = (
        st.fixed_dictionaries({}, optional=dict.fromkeys(known, JSON)) if known else st.nothing()
    )
    return st.one_of(st.just(ABSENT), JSON, keyed, st.lists(JSON, max_size=3)).filter(
        lambda params: params is ABSENT or not validator.is_valid(params)
    )


def valid_id(value: Any) -> bool:
    """JSON-RPC 2.0: an id is a string, a number or null."""
    return value is None or (isinstance(value, str | int | float) and not isinstance(value, bool))


def call(method: Any, params: Any = ABSENT, request_id: Any = 1) -> dict[str, Any]:
    """A JSON-RPC 2.0 call object."""
    payload: dict[str, Any] = {"jsonrpc": "2.0", "id": request_id, "method": method}
    if params is not ABSENT:
        payload["params"] = params
    return payload


def nested(depth: int, leaf: Any = 0) -> Any:
    """``leaf`` inside ``depth`` levels of objects and arrays, alternately."""
    value = leaf
    for level in range(depth):
        value = [value] if level % 2 else {"k": value}
    return value


# -- the node and its client ----------------------------------------------------------------


class Fuzzer:
    """Blocking HTTP to the node (call from a worker thread) and the checks on its answers."""

    def __init__(self, port: int, token: str) -> None:
        self.port = port
        self.token = token
        self.connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        self.doc: dict[str, Any] = {}
        self.entries: dict[str, dict[str, Any]] = {}
        self.builtin: set[str] = set()
        self.hints: dict[str, st.SearchStrategy[Any]] = {}
        self.baseline: tuple[Any, ...] = ()
        self.validators: dict[int, Draft202012Validator] = {}

    def raw(
        self, method: str, path: str, body: bytes | None = None, *, auth: bool = True
    ) -> tuple[int, bytes]:
        """One HTTP exchange (with the admin token unless ``auth=False``); a fresh
        connection where the server closed the last one."""
        headers = {"Content-Type": "application/json"} if body is not None else {}
        if auth:
            headers["Authorization"] = f"Bearer {self.token}"
        for attempt in range(2):
            try:
                self.connection.request(method, path, body=body, headers=headers)
                response = self.connection.getresponse()
                return response.status, response.read()
            except (http.client.HTTPException, ConnectionError):
                self.connection.close()
                self.connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
                if attempt:
                    raise
        raise AssertionError("unreachable")

    def json(
        self, method: str, path: str, body: bytes | None = None, *, auth: bool = True
    ) -> tuple[int, Any]:
        """One HTTP exchange whose answer must be JSON without a 5xx status."""
        status, data = self.raw(method, path, body, auth=auth)
        log(f"{method} {path} {body[:300] if body else body!r} -> {status} {data[:300]!r}")
        assert status < 500, (status, data[:500])
        try:
            return status, strict_json(data)
        except ValueError as exc:
            raise AssertionError(f"not JSON ({exc}): {data[:300]!r}") from None

    def result(self, method: str, params: Any = ABSENT) -> Any:
        """The result of one call that must succeed."""
        status, response = self.json("POST", "/json_rpc", dumps(call(method, params)))
        assert status == 200 and "result" in response, response
        return response["result"]

    def state(self) -> tuple[Any, ...]:
        """What no failed call may change: height, tip, work and mempool size."""
        _, info = self.json("GET", "/get_info")
        return (
            info["height"],
            info["top_block_hash"],
            info["wide_cumulative_difficulty"],
            info["tx_pool_size"],
        )

    def assert_state_unchanged(self) -> None:
        """Fail if the node's state differs from the one before the fuzzing."""
        assert self.state() == self.baseline, "a refused request changed the node"

    def validator(self, schema: Any) -> Draft202012Validator:
        """A validator for one of the document's schemas (built once)."""
        cached = self.validators.get(id(schema))
        if cached is None:
            cached = self.validators[id(schema)] = Draft202012Validator(schema)
        return cached

    def setup(self, plugin_methods: list[str], mine: int) -> None:
        """Mine ``mine`` blocks, read the document and note what the node knows."""
        for _ in range(mine):
            template = self.result("get_block_template", {"wallet_address": ADDRESS})
            self.result("submit_block", [template["blocktemplate_blob"]])
        blocks = [self.result("get_block", {"height": height}) for height in range(mine + 1)]
        blobs = [block["blob"] for block in blocks]
        hashes = [block["block_header"]["hash"] for block in blocks]
        status, self.doc = self.json("GET", "/openrpc.json")
        assert status == 200
        for entry in self.doc["methods"]:
            for name in [entry["name"], *entry["x-aliases"]]:
                self.entries[name] = entry
        self.builtin = {
            name for name, entry in self.entries.items() if entry["name"] not in plugin_methods
        }
        heights = st.integers(0, mine + 1)
        self.hints = {
            "wallet_address": st.just(ADDRESS),
            "address": st.just(ADDRESS),
            "hash": st.sampled_from([*hashes, *(h.upper() for h in hashes)]),
            "height": heights,
            "start_height": heights,
            "end_height": heights,
            "blob": st.sampled_from(blobs),
        }
        self.baseline = self.state()

    # -- checks on answers ------------------------------------------------------------------

    def check_response(self, response: Any, request: Any, auth: bool = True) -> None:
        """One JSON-RPC response object to one call (any JSON the client sent)."""
        assert isinstance(response, dict), response
        assert response.get("jsonrpc") == "2.0", response
        assert set(response) in ({"jsonrpc", "id", "result"}, {"jsonrpc", "id", "error"}), response
        request_id = request.get("id") if isinstance(request, dict) else None
        if valid_id(request_id):
            assert response["id"] == request_id, (response["id"], request_id)
        else:  # JSON-RPC 2.0: an id is a string, a number or null
            assert response["id"] is None and response["error"]["code"] == -32600, response
        method = request.get("method") if isinstance(request, dict) else None
        entry = self.entries.get(method) if isinstance(method, str) else None
        if entry is not None and entry["x-restricted"] and not auth and valid_id(request_id):
            assert response.get("error", {}).get("code") == -32003, response
        if "error" in response:
            error = response["error"]
            assert isinstance(error, dict) and set(error) <= {"code", "message", "data"}, error
            assert type(error["code"]) is int and isinstance(error["message"], str), error
            assert error["code"] != -32603, f"internal error for {request!r}"
            if entry is not None and method in self.builtin:
                documented = {e["code"] for e in entry["errors"]}
                assert error["code"] in documented, (method, error, sorted(documented))
            return
        assert entry is not None, f"a result for an unknown method: {request!r}"
        errors = list(self.validator(entry["result"]["schema"]).iter_errors(response["result"]))
        assert not errors, (method, [e.message for e in errors[:3]])

    def post(self, body: bytes, auth: bool = True) -> Any:
        """POST ``body`` to ``/json_rpc`` and check the answer against what was sent."""
        status, answer = self.json("POST", "/json_rpc", body, auth=auth)
        assert status == (413 if len(body) > MAX_BODY else 200), status
        try:
            request = strict_json(body)
        except (ValueError, UnicodeDecodeError, RecursionError):
            request = ABSENT
        if request is ABSENT:
            self.check_response(answer, None)
            assert answer["error"]["code"] in (-32700, -32600), answer
        elif isinstance(request, list) and 0 < len(request) <= MAX_BATCH:
            assert isinstance(answer, list) and len(answer) == len(request), answer
            for response, item in zip(answer, request, strict=True):
                self.check_response(response, item, auth)
        elif isinstance(request, list):
            self.check_response(answer, None)
            assert answer["error"]["code"] == -32600, answer
        else:
            self.check_response(answer, request, auth)
        return answer

    def rest(self, http_method: str, path: str, body: bytes | None) -> None:
        """A REST call: JSON, 200 (400 for a body that is not JSON), a documented shape."""
        status, answer = self.json(http_method, path, body)
        entry = next(r for r in self.doc["x-rest"] if path in (r["path"], *r["aliases"]))
        failure = self.validator(self.doc["x-rest-failure"])
        if status == 400:
            assert failure.is_valid(answer) and answer["reason"] == "Parse error", answer
            return
        assert status == 200, (status, answer)
        shaped = self.validator(entry["response"]["schema"]).is_valid(answer)
        assert shaped or failure.is_valid(answer), (path, answer)


@asynccontextmanager
async def running(make_node: Callable[..., Any], mine: int) -> AsyncIterator[Fuzzer]:
    """A devnet node with ``mine`` blocks over genesis, and its fuzzer; on the way out,
    the node's state must be what it was before the fuzzing."""
    node = make_node({"fuzz_plugin": FuzzPlugin()}, installed=INSTALLED, sets=SETS)
    services = node.registry("service")
    rpc_service = services.get("rpc")
    plugin_methods = [method.name for _, method in node.registry("rpc_method").items()]
    async with anyio.create_task_group() as tg:
        await tg.start(services.get("chain").run)
        await tg.start(rpc_service.run)
        fuzzer = Fuzzer(rpc_service.port, rpc_service.admin_token)
        try:
            await anyio.to_thread.run_sync(fuzzer.setup, plugin_methods, mine)
            yield fuzzer
            await anyio.to_thread.run_sync(fuzzer.assert_state_unchanged)
        finally:
            fuzzer.connection.close()
            with anyio.fail_after(10):
                await rpc_service.drain()
            tg.cancel_scope.cancel()


@pytest.fixture
async def fuzzer(make_node: Callable[..., Any]) -> AsyncIterator[Fuzzer]:
    """A node with a few blocks mined (heights, hashes and blobs to hint at)."""
    async with running(make_node, MINED) as fuzzer:
        yield fuzzer


@pytest.fixture
async def bare(make_node: Callable[..., Any]) -> AsyncIterator[Fuzzer]:
    """A node with its genesis block only (quicker: no RandomX verification)."""
    async with running(make_node, 0) as fuzzer:
        yield fuzzer


# -- JSON-RPC methods -----------------------------------------------------------------------


def fuzz_method(fuzzer: Fuzzer, entry: dict[str, Any], valid: bool) -> None:
    """Fuzz one method (by its name and aliases) with valid or with wrong params."""
    name = entry["name"]
    builtin = name in fuzzer.builtin
    strategy = valid_params(entry, fuzzer.hints) if valid else invalid_params(entry)
    refused = PROTOCOL_ERRORS | ({-32602} if builtin else set())

    @FUZZ
    @given(
        method=st.sampled_from([name, *entry["x-aliases"]]),
        params=strategy,
        request_id=st.one_of(st.integers(), st.text(max_size=8)),
        auth=st.sampled_from([True, True, True, False]),
    )
    def one_call(method: str, params: Any, request_id: Any, auth: bool) -> None:
        request = call(method, params, request_id)
        answer = fuzzer.post(dumps(request), auth)
        if "error" in answer:
            if valid and auth:
                assert answer["error"]["code"] not in refused, (request, answer)
            fuzzer.assert_state_unchanged()
        elif name == "submit_block":
            assert answer["result"]["block_status"] == "known", answer

    one_call()


def fuzz_methods(fuzzer: Fuzzer, valid: bool) -> list[str]:
    """Fuzz every documented method; the names of those skipped (params that cannot be
    wrong: the schema accepts any JSON)."""
    skipped = []
    for entry in fuzzer.doc["methods"]:
        if not valid and accepts_everything(entry["x-params-schema"]):
            skipped.append(entry["name"])
            continue
        fuzz_method(fuzzer, entry, valid)
    return skipped


async def test_fuzz_valid_params_of_every_method(fuzzer: Fuzzer) -> None:
    assert await anyio.to_thread.run_sync(fuzz_methods, fuzzer, True) == []
    assert {"test_sum", "get_block", "submit_block", "rpc.discover"} <= {
        e["name"] for e in fuzzer.doc["methods"]
    }


async def test_fuzz_wrong_params_of_every_method(fuzzer: Fuzzer) -> None:
    skipped = await anyio.to_thread.run_sync(fuzz_methods, fuzzer, False)
    assert "rpc.discover" in skipped and not {"get_info", "get_block", "test_sum"} & set(skipped)


# -- garbage bodies -------------------------------------------------------------------------


ODD_NUMBERS: Final = ("1e400", "-1e400", "1e-400", "0.5", "1E2", "-0", "1.0")


def with_number(number: str, name: str, positional: bool) -> bytes:
    """A call whose params hold ``number`` (written as is) where heights and sizes go."""
    keys = ("height", "start_height", "end_height", "reserve_size")
    fields = ",".join(f'"{key}":{number}' for key in keys)
    params = f"[{number}]" if positional else "{" + fields + "}"
    return f'{{"jsonrpc":"2.0","id":1,"method":{json.dumps(name)},"params":{params}}}'.encode()


def garbage(names: list[str]) -> st.SearchStrategy[bytes]:
    """Request bodies that are not (quite) JSON-RPC."""
    method = st.one_of(st.sampled_from(names), st.text(max_size=12), JSON)
    good_call = st.builds(
        call, st.sampled_from(names), st.one_of(st.just(ABSENT), JSON), st.integers()
    )
    envelope = st.fixed_dictionaries(
        {},
        optional={"jsonrpc": JSON, "id": JSON, "method": method, "params": JSON, "extra": JSON},
    )
    item = st.one_of(good_call, envelope, JSON)
    encoded = st.one_of(good_call, envelope).map(dumps)
    digits = st.integers(1, 6000).map(lambda n: "9" * n)
    return st.one_of(
        st.binary(max_size=300),
        st.text(max_size=100).map(str.encode),
        encoded.flatmap(lambda body: st.integers(0, len(body) - 1).map(lambda cut: body[:cut])),
        st.builds(
            lambda depth, where, name: dumps(
                nested(depth) if where == "body" else {**call(name, 0), where: nested(depth)}
            ),
            st.integers(1, SAFE_DEPTH),
            st.sampled_from(["body", "params", "id", "method", "jsonrpc"]),
            st.sampled_from(names),
        ),
        st.builds(
            with_number,
            st.one_of(digits, digits.map(lambda d: "-" + d), st.sampled_from(ODD_NUMBERS)),
            st.sampled_from(names),
            st.booleans(),
        ),
        st.builds(lambda body: body.encode(), digits),
        envelope.map(dumps),
        st.lists(item, max_size=6).map(dumps),
        st.integers(MAX_BATCH - 1, MAX_BATCH + 3).map(
            lambda n: dumps([call("get_block_count", ABSENT, i) for i in range(n)])
        ),
        st.lists(st.lists(item, max_size=2), max_size=3).map(dumps),
    )


async def test_fuzz_garbage_bodies(fuzzer: Fuzzer) -> None:
    names = sorted(fuzzer.entries)

    @settings(FUZZ, max_examples=4 * EXAMPLES)
    @given(body=garbage(names), auth=st.booleans())
    def one_body(body: bytes, auth: bool) -> None:
        fuzzer.post(body, auth)
        fuzzer.assert_state_unchanged()

    await anyio.to_thread.run_sync(one_body)


async def test_empty_oversized_and_batch_edges(bare: Fuzzer) -> None:
    fuzzer = bare

    def edges() -> None:
        assert fuzzer.post(b"[]")["error"]["code"] == -32600
        assert fuzzer.post(b"")["error"]["code"] == -32700
        assert fuzzer.post(b"{}")["error"]["code"] == -32600
        too_long = dumps([call("get_block_count", ABSENT, i) for i in range(MAX_BATCH + 1)])
        assert fuzzer.post(too_long)["error"]["code"] == -32600
        full = fuzzer.post(dumps([call("get_block_count", ABSENT, i) for i in range(MAX_BATCH)]))
        assert [r["id"] for r in full] == list(range(MAX_BATCH))
        mixed = fuzzer.post(dumps([call("nope"), 5, [], call("getblockcount", {}, "x")]))
        assert [r.get("error", {}).get("code") for r in mixed] == [-32601, -32600, -32600, None]
        huge = fuzzer.post(b"[" + b"0," * MAX_BODY + b"0]")
        assert huge["error"]["code"] == -32600
        fuzzer.assert_state_unchanged()

    await anyio.to_thread.run_sync(edges)


# -- REST -----------------------------------------------------------------------------------


async def test_fuzz_rest_endpoints(fuzzer: Fuzzer) -> None:
    paths = [path for rest in fuzzer.doc["x-rest"] for path in [rest["path"], *rest["aliases"]]]
    shaped = st.one_of(
        [
            object_strategy(rest["request"]["schema"], {})
            for rest in fuzzer.doc["x-rest"]
            if rest["request"]["schema"].get("type") == "object"
        ]
    )
    bodies = st.one_of(
        st.none(),
        st.binary(max_size=200),
        JSON.map(dumps),
        shaped.map(dumps),
        shaped.map(dumps).flatmap(
            lambda body: st.integers(0, len(body)).map(lambda cut: body[:cut])
        ),
    )

    @settings(FUZZ, max_examples=4 * EXAMPLES)
    @given(path=st.sampled_from(paths), http_method=st.sampled_from(["GET", "POST"]), body=bodies)
    def one_request(path: str, http_method: str, body: bytes | None) -> None:
        fuzzer.rest(http_method, path, body)
        fuzzer.assert_state_unchanged()

    @settings(FUZZ, max_examples=EXAMPLES)
    @given(
        path=st.sampled_from([*paths, "/json_rpc", "/openrpc.json", "/nope", "/"]),
        http_method=st.sampled_from(["PUT", "DELETE", "PATCH", "OPTIONS", "GET", "POST"]),
        body=st.one_of(st.none(), st.binary(max_size=50)),
    )
    def any_method(path: str, http_method: str, body: bytes | None) -> None:
        status, data = fuzzer.raw(http_method, path, body)
        log(f"{http_method} {path} {body!r} -> {status} {data[:200]!r}")
        assert status < 500, (status, data[:300])
        fuzzer.assert_state_unchanged()

    await anyio.to_thread.run_sync(one_request)
    await anyio.to_thread.run_sync(any_method)


# -- bodies that once broke the invariants (regressions) ------------------------------------

DEPTH = 1000
"""Nesting that Python's ``json.loads`` refuses with ``RecursionError`` (not ``ValueError``)."""


async def test_deeply_nested_json_rpc_body_is_answered_as_json(bare: Fuzzer) -> None:
    def deep() -> None:
        for body in (
            b"[" * DEPTH + b"]" * DEPTH,
            b'{"jsonrpc":"2.0","id":1,"method":"get_info","params":'
            + b"[" * DEPTH
            + b"]" * DEPTH
            + b"}",
        ):
            status, answer = bare.json("POST", "/json_rpc", body)
            assert status == 200 and answer["error"]["code"] in (-32700, -32600), answer

    await anyio.to_thread.run_sync(deep)


async def test_deeply_nested_rest_body_is_answered_as_json(bare: Fuzzer) -> None:
    def deep() -> None:
        status, answer = bare.json("POST", "/get_transactions", b"[" * DEPTH + b"]" * DEPTH)
        assert status == 400 and answer["status"] == "Failed", answer

    await anyio.to_thread.run_sync(deep)


@pytest.mark.parametrize("number", ["1e400", "-1e400", "NaN", "Infinity"])
async def test_non_finite_ids_get_json_answers(bare: Fuzzer, number: str) -> None:
    body = f'{{"jsonrpc":"2.0","id":{number},"method":"get_block_count"}}'.encode()
    await anyio.to_thread.run_sync(bare.post, body)


async def test_unknown_paths_and_http_methods_get_json_answers(bare: Fuzzer) -> None:
    def probe() -> None:
        for method, path in [("PUT", "/get_info"), ("GET", "/json_rpc"), ("GET", "/nope")]:
            status, data = bare.raw(method, path)
            assert status in (404, 405)
            strict_json(data)

    await anyio.to_thread.run_sync(probe)
