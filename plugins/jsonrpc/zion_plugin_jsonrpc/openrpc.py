"""The node's machine-readable API description (OpenRPC 1.3), served at
``GET /openrpc.json`` and by the JSON-RPC method ``rpc.discover``.

Conventions of the document (each also stated in its text):

- **Params.** monerod's named params are one JSON object that *is* the request's
  ``params`` member. Such methods have ``paramStructure: "by-name"`` and one content
  descriptor, ``params``, whose schema is that whole object (with cross-field rules such
  as "height or hash" that per-field descriptors could not state). monerod's positional
  methods (``on_get_block_hash``, ``submit_block``) are ``by-position`` with one descriptor
  for the array's one element. Every method also carries ``x-params-schema``: the JSON
  Schema of the whole ``params`` member, object or array, ready for validators and fuzzers.
- **Aliases.** A method's other names (monerod's squashed ``getblockcount`` forms, a
  plugin's ``aliases``) are listed in ``x-aliases`` on its one entry, never as entries.
- **Admin methods** (the server's gate: restricted plugin methods, and monerod's restricted
  ones in restricted mode) carry ``x-restricted: true`` and list ``-32003 Unauthorized``;
  every method carries the flag.
- **Errors.** Each method lists the codes it may answer, the protocol ones included
  (``-32700``, ``-32600``, ``-32005``, ``-32603``); ``components.errors`` has them all.
- **REST.** The REST-like endpoints are described in the top-level ``x-rest`` list.
- **Schemas** are JSON Schema draft 2020-12 (see :mod:`.schemas`).
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Mapping, Sequence
from typing import Any, Final

from zion_hookspecs import RpcMethod

from . import schemas
from .api import ZION_VERSION
from .errors import (
    BLOCK_NOT_ACCEPTED,
    CORE_BUSY,
    INTERNAL,
    INTERNAL_ERROR,
    INVALID_PARAMS,
    INVALID_REQUEST,
    METHOD_NOT_FOUND,
    PARSE_ERROR,
    RATE_LIMITED,
    TOO_BIG_HEIGHT,
    TOO_BIG_RESERVE_SIZE,
    UNAUTHORIZED,
    WRONG_BLOCKBLOB,
    WRONG_PARAM,
    WRONG_WALLET_ADDRESS,
)

OPENRPC_VERSION: Final = "1.3.2"
DISCOVER: Final = "rpc.discover"

ERRORS: Final[dict[int, tuple[str, str]]] = {
    PARSE_ERROR: ("PARSE_ERROR", "Parse error"),
    INVALID_REQUEST: ("INVALID_REQUEST", "Invalid Request"),
    METHOD_NOT_FOUND: ("METHOD_NOT_FOUND", "Method not found"),
    INVALID_PARAMS: ("INVALID_PARAMS", "Invalid params"),
    INTERNAL_ERROR: ("INTERNAL_ERROR", "Internal error"),
    UNAUTHORIZED: ("UNAUTHORIZED", "Unauthorized"),
    RATE_LIMITED: ("RATE_LIMITED", "Too many requests"),
    WRONG_PARAM: ("WRONG_PARAM", "Wrong param"),
    TOO_BIG_HEIGHT: (
        "TOO_BIG_HEIGHT",
        "Requested block height greater than current top block height",
    ),
    TOO_BIG_RESERVE_SIZE: ("TOO_BIG_RESERVE_SIZE", "Too big reserved size, maximum 255"),
    WRONG_WALLET_ADDRESS: ("WRONG_WALLET_ADDRESS", "Failed to parse wallet address"),
    INTERNAL: ("INTERNAL", "Internal error: can't get block by hash"),
    WRONG_BLOCKBLOB: ("WRONG_BLOCKBLOB", "Wrong block blob"),
    BLOCK_NOT_ACCEPTED: ("BLOCK_NOT_ACCEPTED", "Block not accepted"),
    CORE_BUSY: ("CORE_BUSY", "Core is busy"),
}
"""Every error code the API answers: its component name and monerod's message."""

PROTOCOL_ERRORS: Final = (PARSE_ERROR, INVALID_REQUEST, RATE_LIMITED, INTERNAL_ERROR)
"""Errors any call may get: a body that is not JSON, a malformed call, a client over its
request rate (HTTP 429), a node bug."""


def _description() -> str:
    """The document's ``info.description``: the conventions it follows."""
    from .app import MAX_BATCH  # app imports this module

    return f"""\
The ZION node's API: monerod-compatible JSON-RPC 2.0 at `POST /json_rpc` (one call, or a
batch of 1 to {MAX_BATCH} calls), always answered with HTTP 200 and either `result` or
`error: {{code, message[, data]}}`.

Conventions of this document:

- **Params.** monerod's named params are one JSON object that *is* the request's `params`
  member. Those methods are `by-name` with a single content descriptor named `params`
  whose schema is the whole object: send `{{"params": {{"height": 5}}}}`, not
  `{{"params": {{"params": {{...}}}}}}`. Unknown keys are ignored, as monerod ignores them.
  Positional methods (`on_get_block_hash`, `submit_block`) are `by-position` with one
  element. Every method's `x-params-schema` is the schema of the whole `params` member.
- **Aliases** (monerod's squashed names such as `getblockcount`) are listed in each
  method's `x-aliases` and are served exactly as the method.
- **`x-restricted`** is `true` for admin methods: they need the header
  `Authorization: Bearer <admin token>`, else they are answered `-32003 Unauthorized`.
- **Errors** use monerod's codes (-1 to -7 and -9) besides JSON-RPC's; `-32700`, `-32600`,
  `-32603` and `-32005` (a client over its request rate, HTTP 429 with `Retry-After`) can
  answer any call.
- **REST.** monerod's REST-like endpoints are listed in `x-rest`: paths (with aliases),
  HTTP methods, and the JSON Schemas of the body and of the answer. A refused REST request
  is answered `{{"status": "Failed" | "BUSY", "reason", "untrusted"}}` (`x-rest-failure`),
  with HTTP 400 for a body that is not JSON and 413 for one over the size limit (a client
  over its request rate gets the JSON-RPC `-32005` error with HTTP 429 there too).
- **Schemas** are JSON Schema draft 2020-12, written with keywords that draft 7 reads the
  same way. Result objects are closed (`additionalProperties: false`).
"""


def _plain(value: Any) -> Any:
    """A deep copy of a JSON-shaped value as plain dicts and lists (mappings and tuples
    included), so that the document shares nothing with the schemas it was built from."""
    if isinstance(value, Mapping):
        return {str(key): _plain(item) for key, item in value.items()}
    if isinstance(value, Sequence) and not isinstance(value, str | bytes):
        return [_plain(item) for item in value]
    return value


def _error(code: int) -> dict[str, Any]:
    return {"code": code, "message": ERRORS[code][1]}


def _errors(codes: tuple[int, ...], restricted: bool) -> list[dict[str, Any]]:
    ordered = dict.fromkeys((*codes, *((UNAUTHORIZED,) if restricted else ()), *PROTOCOL_ERRORS))
    return [_error(code) for code in ordered]


def _descriptor(param: schemas.Param) -> dict[str, Any]:
    return {
        "name": param.name,
        "description": param.description,
        "required": param.required,
        "schema": _plain(param.schema),
    }


def _builtin_entry(
    spec: schemas.MethodSpec, aliases: list[str], restricted: bool
) -> dict[str, Any]:
    return {
        "name": spec.name,
        "summary": spec.summary,
        "description": spec.description,
        "tags": [{"name": spec.tag}],
        "paramStructure": spec.param_structure,
        "params": [_descriptor(param) for param in spec.params],
        "result": {
            "name": "result",
            "description": spec.result_description,
            "schema": _plain(spec.result_schema),
        },
        "errors": _errors(spec.errors, restricted),
        "x-aliases": aliases,
        "x-restricted": restricted,
        "x-params-schema": _plain(spec.params_schema),
    }


def _undescribed_entry(name: str, aliases: list[str], restricted: bool) -> dict[str, Any]:
    """A built-in method that :data:`.schemas.METHODS` does not describe (yet)."""
    return {
        "name": name,
        "summary": name,
        "description": "Not described yet: params and result are any JSON.",
        "tags": [{"name": "node"}],
        "paramStructure": "either",
        "params": [{"name": "params", "required": False, "schema": {}}],
        "result": {"name": "result", "schema": {}},
        "errors": _errors((INVALID_PARAMS,), restricted),
        "x-aliases": aliases,
        "x-restricted": restricted,
        "x-params-schema": {},
    }


def _plugin_entry(method: RpcMethod, aliases: list[str], restricted: bool) -> dict[str, Any]:
    params_schema: dict[str, Any] = _plain(method.params_schema or {})
    is_object = params_schema.get("type") == "object"
    summary = method.description.strip().split("\n", 1)[0] or method.name
    descriptor: dict[str, Any] = {
        "name": "params",
        "description": (
            "The request's `params` member itself (one JSON object, not wrapped in a `params` key)."
            if is_object
            else "The request's `params` member itself."
        ),
        "required": bool(method.params_schema),
        "schema": params_schema,
    }
    return {
        "name": method.name,
        "summary": summary,
        "description": method.description or "A method contributed by a plugin.",
        "tags": [{"name": "plugin"}],
        "paramStructure": "by-name" if is_object else "either",
        "params": [descriptor],
        "result": {"name": "result", "schema": _plain(method.result_schema or {})},
        "errors": _errors((INVALID_PARAMS, WRONG_PARAM), restricted),
        "x-aliases": aliases,
        "x-restricted": restricted,
        "x-params-schema": _plain(params_schema),
    }


def _discover_entry() -> dict[str, Any]:
    return {
        "name": DISCOVER,
        "summary": "This API description.",
        "description": "The OpenRPC document also served at `GET /openrpc.json`.",
        "tags": [{"name": "node"}],
        "paramStructure": "either",
        "params": [],
        "result": {
            "name": "OpenRPC document",
            "schema": _plain(schemas.DISCOVER_RESULT),
        },
        "errors": _errors((), False),
        "x-aliases": [],
        "x-restricted": False,
        "x-params-schema": {"description": "Ignored."},
    }


def _group(table: Mapping[str, Any], same: Callable[[Any, Any], bool]) -> list[list[str]]:
    """The keys of ``table`` grouped by the object they name (aliases together), sorted."""
    groups: list[list[str]] = []
    for key in sorted(table):
        for group in groups:
            if same(table[group[0]], table[key]):
                group.append(key)
                break
        else:
            groups.append([key])
    return groups


def _canonical(keys: list[str], known: Mapping[str, Any], own_name: str | None) -> str:
    """The name to list ``keys`` under: a described one, else the handler's own name, else
    the most snake_case one (monerod's aliases are the squashed forms)."""
    for key in keys:
        if key in known:
            return key
    if own_name in keys:
        return own_name
    return max(keys, key=lambda key: (key.count("_"), key))


def _rest() -> list[dict[str, Any]]:
    return [
        {
            "path": spec.path,
            "aliases": list(spec.aliases),
            "methods": list(spec.http_methods),
            "summary": spec.summary,
            "request": {"contentType": "application/json", "schema": _plain(spec.request_schema)},
            "response": {
                "contentType": "application/json",
                "schema": _plain(spec.response_schema),
            },
        }
        for spec in schemas.REST
    ]


def document(
    builtin: Mapping[str, Any],
    extra: Mapping[str, RpcMethod],
    *,
    admin: Collection[str] | None = None,
) -> dict[str, Any]:
    """The OpenRPC document of the built-in methods and the plugins' methods.

    ``builtin`` maps every served name (aliases included) to its handler, as
    :meth:`.api.NodeApi.methods` returns it; ``extra`` maps every name and alias of the
    plugins' methods to its :class:`~zion_hookspecs.RpcMethod`. ``admin`` names the methods
    that need the admin token (the server's gate); without it, the plugins' ``restricted``
    methods are the admin ones.
    """

    def restricted(keys: list[str], default: bool) -> bool:
        return default if admin is None else any(key in admin for key in keys)

    methods: list[dict[str, Any]] = []
    for keys in _group(builtin, lambda a, b: bool(a == b)):
        own = getattr(builtin[keys[0]], "__name__", None)
        name = _canonical(keys, schemas.METHODS, own)
        aliases = [key for key in keys if key != name]
        spec = schemas.METHODS.get(name)
        gated = restricted(keys, False)
        methods.append(
            _builtin_entry(spec, aliases, gated)
            if spec is not None
            else _undescribed_entry(name, aliases, gated)
        )
    for keys in _group(extra, lambda a, b: a is b):
        method = extra[keys[0]]
        name = method.name if method.name in keys else keys[0]
        aliases = [key for key in keys if key != name]
        methods.append(_plugin_entry(method, aliases, restricted(keys, method.restricted)))
    methods.append(_discover_entry())
    methods.sort(key=lambda entry: str(entry["name"]))
    return {
        "openrpc": OPENRPC_VERSION,
        "info": {
            "title": "ZION node API",
            "version": ZION_VERSION,
            "description": _description(),
            "license": {"name": "MIT"},
        },
        "servers": [
            {
                "name": "this node",
                "url": "/json_rpc",
                "summary": "JSON-RPC 2.0 over HTTP POST, relative to this document.",
            }
        ],
        "methods": methods,
        "components": {
            "errors": {
                name: {"code": code, "message": message} for code, (name, message) in ERRORS.items()
            },
            "schemas": {
                "block_header": _plain(schemas.BLOCK_HEADER),
                "block_json": _plain(schemas.BLOCK_JSON),
                "rest_failure": _plain(schemas.FAILURE),
            },
        },
        "x-rest": _rest(),
        "x-rest-failure": _plain(schemas.FAILURE),
    }


__all__ = ["DISCOVER", "ERRORS", "OPENRPC_VERSION", "document"]
