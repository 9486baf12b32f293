"""JSON Schemas (draft 2020-12) of the node API: every built-in method's params and result,
and the REST endpoints' request bodies and answers, with monerod's field names.

Params schemas allow unknown keys (``additionalProperties`` is left open) because monerod
ignores them and pools send extras (``client``, ``fill_pow_hash``...). Result schemas are
closed: they list every field the node answers, so a field added to the API without being
described here fails the description's tests.

The schemas use only keywords that mean the same in draft 2020-12 and draft 7 (``type``,
``properties``, ``required``, ``items`` as one schema, ``pattern``, ``minimum``, ``enum``,
``const``, ``anyOf``, ``not``...), so that draft-7 tools (OpenRPC's default dialect) read
them the same way; each top-level schema names its dialect with ``$schema``.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping, Sequence
from typing import Any, Final, Literal

import attrs

from zion_core.chain.address import ADDRESS_LENGTH, NETWORK_TAGS

from .api import MAX_HEADERS_RANGE, MAX_RESERVE_SIZE, TX_FLAG_NAMES

Schema = dict[str, Any]
"""A JSON Schema as a JSON object."""

DIALECT: Final = "https://json-schema.org/draft/2020-12/schema"
"""The ``$schema`` of every top-level schema here."""

UINT64_MAX: Final = (1 << 64) - 1
UINT32_MAX: Final = (1 << 32) - 1

# -- building blocks ------------------------------------------------------------------------


def uint(description: str, *, maximum: int = UINT64_MAX, minimum: int = 0) -> Schema:
    """A non-negative integer (monerod's ``uint64_t`` unless ``maximum`` says otherwise)."""
    return {"type": "integer", "minimum": minimum, "maximum": maximum, "description": description}


def boolean(description: str) -> Schema:
    """``true`` or ``false``."""
    return {"type": "boolean", "description": description}


def text(description: str) -> Schema:
    """Any string."""
    return {"type": "string", "description": description}


def hash_out(description: str) -> Schema:
    """A 32-byte hash as the node writes it: 64 lowercase hex digits."""
    return {
        "type": "string",
        "pattern": "^[0-9a-f]{64}$",
        "minLength": 64,
        "maxLength": 64,
        "description": description,
    }


def hash_in(description: str) -> Schema:
    """A 32-byte hash as the node reads it: 64 hex digits, either case."""
    return {
        "type": "string",
        "pattern": "^[0-9a-fA-F]{64}$",
        "minLength": 64,
        "maxLength": 64,
        "description": description,
    }


def hash_or_empty(description: str) -> Schema:
    """A 32-byte hash (64 lowercase hex digits), or ``""`` where there is none."""
    return {"type": "string", "pattern": "^([0-9a-f]{64})?$", "description": description}


def hex_out(description: str, *, min_bytes: int = 0) -> Schema:
    """Bytes as the node writes them: lowercase hex, two digits a byte."""
    return {
        "type": "string",
        "pattern": "^([0-9a-f]{2})*$",
        "minLength": 2 * min_bytes,
        "description": description,
    }


def wide(description: str) -> Schema:
    """monerod's ``wide_*`` 128-bit numbers: ``0x`` and lowercase hex digits."""
    return {"type": "string", "pattern": "^0x[0-9a-f]{1,32}$", "description": description}


def obj(
    properties: Mapping[str, Schema],
    *,
    required: Sequence[str] | None = None,
    closed: bool = True,
    description: str = "",
) -> Schema:
    """An object schema; ``required`` defaults to every property; ``closed`` forbids others."""
    schema: Schema = {
        "type": "object",
        "properties": dict(properties),
        "required": list(properties if required is None else required),
    }
    if closed:
        schema["additionalProperties"] = False
    if description:
        schema["description"] = description
    return schema


def array(
    items: Schema, description: str, *, min_items: int = 0, max_items: int | None = None
) -> Schema:
    """A JSON array of ``items``."""
    schema: Schema = {"type": "array", "items": items, "description": description}
    if min_items:
        schema["minItems"] = min_items
    if max_items is not None:
        schema["maxItems"] = max_items
    return schema


def top(schema: Schema) -> Schema:
    """``schema`` as a top-level schema: a copy that names its dialect."""
    return {"$schema": DIALECT, **copy.deepcopy(schema)}


STATUS_OK: Final[Schema] = {"type": "string", "const": "OK", "description": "Always `OK`."}
UNTRUSTED: Final[Schema] = {
    "type": "boolean",
    "description": "monerod's bootstrap-daemon flag: always `false` (the node answers itself).",
}


def ok_result(properties: Mapping[str, Schema], description: str) -> Schema:
    """A result object with ``status: "OK"`` and ``untrusted``, closed."""
    return top(
        obj({**properties, "status": STATUS_OK, "untrusted": UNTRUSTED}, description=description)
    )


def difficulty_fields(prefix: str, what: str) -> dict[str, Schema]:
    """monerod's three forms of a 128-bit difficulty: low 64 bits, high 64 bits, hex."""
    return {
        prefix: uint(f"{what}, low 64 bits."),
        f"{prefix}_top64": uint(f"{what}, high 64 bits."),
        f"wide_{prefix}": wide(f"{what}, all 128 bits as `0x` and hex digits."),
    }


ADDRESS: Final[Schema] = {
    "type": "string",
    "pattern": f"^[1-9A-HJ-NP-Za-km-z]{{{ADDRESS_LENGTH}}}$",
    "minLength": ADDRESS_LENGTH,
    "maxLength": ADDRESS_LENGTH,
    "description": "A ZION address of the node's network (base58).",
}

NETTYPE: Final[Schema] = {
    "type": "string",
    "enum": list(NETWORK_TAGS),
    "description": "The node's network.",
}

BLOCK_HEADER: Final[Schema] = obj(
    {
        "block_size": uint("Size of the block's blob in bytes."),
        "block_weight": uint("monerod's weight: the blob size (ZION has no weight penalty)."),
        "long_term_weight": uint("monerod's long-term weight: the blob size."),
        **difficulty_fields("cumulative_difficulty", "The chain's work up to this block"),
        "depth": uint("How many main-chain blocks are above this one (0 for the tip)."),
        **difficulty_fields("difficulty", "This block's difficulty"),
        "hash": hash_out("The block id."),
        "height": uint("The block's height (genesis: 0)."),
        "major_version": uint("Header major version."),
        "minor_version": uint("Header minor version."),
        "miner_tx_hash": hash_out("The miner (coinbase) transaction's hash."),
        "nonce": uint("The header nonce (32 bits).", maximum=UINT32_MAX),
        "num_txes": uint("Number of transactions besides the miner transaction."),
        "orphan_status": boolean("`true` for a block off the main chain."),
        "pow_hash": hash_or_empty('The proof-of-work hash; always `""` (not computed).'),
        "prev_hash": hash_out("The parent block's id."),
        "reward": uint("The miner transaction's amount (reward + fees, atomic units)."),
        "timestamp": uint("Header timestamp (Unix seconds)."),
    },
    description="monerod's `block_header_response`.",
)

BLOCK_JSON: Final[Schema] = obj(
    {
        "major_version": uint("Header major version."),
        "minor_version": uint("Header minor version."),
        "timestamp": uint("Header timestamp (Unix seconds)."),
        "prev_id": hash_out("The parent block's id."),
        "nonce": uint("The header nonce.", maximum=UINT32_MAX),
        "miner_tx": obj(
            {
                "version": uint("Transaction version."),
                "unlock_time": uint("Height until which the output is locked."),
                "vin": array(
                    obj({"gen": obj({"height": uint("The block's height.")})}),
                    "The generation input.",
                    min_items=1,
                    max_items=1,
                ),
                "vout": array(
                    {
                        "type": "object",
                        "properties": {
                            "amount": uint("Atomic units."),
                            "target": {
                                "anyOf": [
                                    obj({"key": hash_out("The one-time output key.")}),
                                    obj(
                                        {
                                            "tagged_key": obj(
                                                {
                                                    "key": hash_out("The one-time output key."),
                                                    "view_tag": {
                                                        "type": "string",
                                                        "pattern": "^[0-9a-f]{2}$",
                                                        "description": "The view tag byte.",
                                                    },
                                                }
                                            )
                                        }
                                    ),
                                ]
                            },
                        },
                        "required": ["amount", "target"],
                        "additionalProperties": False,
                    },
                    "The outputs.",
                    min_items=1,
                ),
                "extra": array(uint("A byte.", maximum=255), "tx extra, as bytes."),
                "rct_signatures": obj({"type": {"type": "integer", "const": 0}}),
            }
        ),
        "tx_hashes": array(hash_out("A transaction hash."), "The block's transactions."),
    },
    description="The block as monerod's `get_block` describes it in `json`.",
)

# -- JSON-RPC methods -----------------------------------------------------------------------

ParamStructure = Literal["by-name", "by-position", "either"]


@attrs.frozen
class Param:
    """One OpenRPC content descriptor of a method's params."""

    name: str
    description: str
    schema: Schema
    required: bool = True


@attrs.frozen
class MethodSpec:
    """What the API description says about one built-in JSON-RPC method.

    ``params_schema`` describes the whole ``params`` member of a request (an object for
    ``by-name`` methods, an array for ``by-position`` ones); ``params`` are the OpenRPC
    content descriptors of it; ``errors`` the codes the method itself may answer.
    """

    name: str
    summary: str
    description: str
    tag: str
    param_structure: ParamStructure
    params: tuple[Param, ...]
    params_schema: Schema
    result_description: str
    result_schema: Schema
    errors: tuple[int, ...]


NO_PARAMS: Final[Schema] = top(
    {
        "type": "object",
        "description": "No parameters: the method ignores `params` (`{}` or none at all).",
    }
)


def by_name(
    properties: Mapping[str, Schema], *, required: Sequence[str], **extra: Any
) -> tuple[ParamStructure, tuple[Param, ...], Schema]:
    """An object of named params (unknown keys allowed, as monerod ignores them)."""
    schema = top({**obj(properties, required=required, closed=False), **extra})
    param = Param(
        "params",
        "The request's `params` member itself: one JSON object with the fields below "
        "(not wrapped in a `params` key).",
        schema,
    )
    return "by-name", (param,), schema


def no_params() -> tuple[ParamStructure, tuple[Param, ...], Schema]:
    """A method without parameters (an object, if any, is ignored)."""
    param = Param("params", "Optional and ignored.", NO_PARAMS, required=False)
    return "by-name", (param,), NO_PARAMS


def one_positional(param: Param) -> tuple[ParamStructure, tuple[Param, ...], Schema]:
    """monerod's positional methods: ``params`` is an array of exactly one value."""
    schema = top(array(param.schema, f"`[{param.name}]`.", min_items=1, max_items=1))
    return "by-position", (param,), schema


def _method(
    name: str,
    summary: str,
    description: str,
    tag: str,
    params: tuple[ParamStructure, tuple[Param, ...], Schema],
    result: Schema,
    errors: tuple[int, ...],
) -> MethodSpec:
    structure, descriptors, params_schema = params
    return MethodSpec(
        name=name,
        summary=summary,
        description=description,
        tag=tag,
        param_structure=structure,
        params=descriptors,
        params_schema=params_schema,
        result_description=result.get("description", ""),
        result_schema=result,
        errors=errors,
    )


HEADER_RESULT: Final = ok_result(
    {"block_header": BLOCK_HEADER}, "`block_header`: the block's header fields."
)

METHODS: Final[dict[str, MethodSpec]] = {
    spec.name: spec
    for spec in (
        _method(
            "get_info",
            "General information about the node and its chain.",
            "monerod's `get_info`. `height` is the number of blocks (tip height + 1), "
            "`difficulty` the next block's. `synchronized`, `busy_syncing`, `target_height` and "
            "the connection counts come from the node's sync sources (the p2p plugin); "
            "other peer and bootstrap fields are zero or empty.",
            "node",
            no_params(),
            ok_result(
                {
                    "adjusted_time": uint("The node's clock (Unix seconds)."),
                    "alt_blocks_count": uint("Side blocks known (always 0)."),
                    "block_size_limit": uint("The largest block blob allowed, in bytes."),
                    "block_size_median": uint("Half the block size limit."),
                    "block_weight_limit": uint("As `block_size_limit`."),
                    "block_weight_median": uint("As `block_size_median`."),
                    "bootstrap_daemon_address": text('Always `""`.'),
                    "busy_syncing": boolean("Whether blocks or headers are being downloaded now."),
                    "credits": uint("RPC payment credits (always 0)."),
                    **difficulty_fields("cumulative_difficulty", "The main chain's work"),
                    "database_size": uint("Always 0 (not measured)."),
                    **difficulty_fields("difficulty", "The next block's difficulty"),
                    "free_space": uint("Always 0 (not measured)."),
                    "grey_peerlist_size": uint("P2P peers (always 0)."),
                    "height": uint("Number of main-chain blocks (tip height + 1).", minimum=1),
                    "height_without_bootstrap": uint("As `height`.", minimum=1),
                    "incoming_connections_count": uint("Connected inbound P2P peers."),
                    "mainnet": boolean("`true` on mainnet."),
                    "nettype": NETTYPE,
                    "offline": boolean("Always `false`."),
                    "outgoing_connections_count": uint("Connected outbound P2P peers."),
                    "restricted": boolean("Whether this RPC server is restricted."),
                    "rpc_connections_count": uint("Always 0 (not counted)."),
                    "stagenet": boolean("Always `false` (ZION has no stagenet)."),
                    "start_time": uint("When the node's RPC started (Unix seconds)."),
                    "synchronized": boolean(
                        "Whether the chain has caught up with the network (always `true` "
                        "for a node without a network plugin)."
                    ),
                    "target": uint("Block time target in seconds.", minimum=1),
                    "target_height": uint(
                        "The most blocks a peer claims; at least `height`.", minimum=1
                    ),
                    "testnet": boolean("`true` on testnet."),
                    "top_block_hash": hash_out("The tip's id."),
                    "top_hash": hash_or_empty('monerod\'s deprecated field: always `""`.'),
                    "tx_pool_size": uint("Transactions in the mempool."),
                    "update_available": boolean("Always `false`."),
                    "version": text("The ZION version."),
                    "was_bootstrap_ever_used": boolean("Always `false`."),
                    "white_peerlist_size": uint("P2P peers (always 0)."),
                },
                "The node's state, with monerod's `get_info` fields.",
            ),
            (-5, -9),
        ),
        _method(
            "get_block_count",
            "The number of blocks in the main chain.",
            "monerod's `get_block_count`: `count` is the tip height + 1.",
            "chain",
            no_params(),
            ok_result(
                {"count": uint("Number of main-chain blocks.", minimum=1)},
                "`count`: the number of main-chain blocks.",
            ),
            (-9,),
        ),
        _method(
            "on_get_block_hash",
            "The id of the main-chain block at a height.",
            "monerod's `on_get_block_hash`: params are an array of one height.",
            "chain",
            one_positional(Param("height", "A main-chain height.", uint("A block height."))),
            top(hash_out("The block id at that height.")),
            (-1, -2, -9),
        ),
        _method(
            "get_block_template",
            "A block template to mine on the tip.",
            "monerod's `get_block_template`. Send `wallet_address` and either "
            f"`reserve_size` (0-{MAX_RESERVE_SIZE} zero bytes reserved in the miner "
            "transaction's extra) or `extra_nonce` (hex, as xmrig sends it: its bytes are "
            "written into the reserved space), not both.",
            "mining",
            by_name(
                {
                    "wallet_address": ADDRESS,
                    "reserve_size": uint(
                        "Bytes to reserve for the pool's extra nonce.", maximum=MAX_RESERVE_SIZE
                    ),
                    "extra_nonce": {
                        "type": "string",
                        "pattern": f"^([0-9a-fA-F]{{2}}){{0,{MAX_RESERVE_SIZE}}}$",
                        "maxLength": 2 * MAX_RESERVE_SIZE,
                        "description": "Hex bytes to write into the reserved space.",
                    },
                },
                required=["wallet_address"],
                **{"not": {"required": ["reserve_size", "extra_nonce"]}},
            ),
            ok_result(
                {
                    "blockhashing_blob": hex_out(
                        "The hashing blob (header, tree root, tx count).", min_bytes=1
                    ),
                    "blocktemplate_blob": hex_out("The whole block template.", min_bytes=1),
                    **difficulty_fields("difficulty", "The template's difficulty"),
                    "expected_reward": uint("Reward + fees of the template (atomic units)."),
                    "height": uint("The template's height.", minimum=1),
                    "next_seed_hash": hash_or_empty(
                        "The next RandomX key block id when the key changes within the seed "
                        'lag, else `""`.'
                    ),
                    "prev_hash": hash_out("The tip the template builds on."),
                    "reserved_offset": uint(
                        "Byte offset of the reserved space in `blocktemplate_blob` (0: none)."
                    ),
                    "seed_hash": hash_out("The RandomX key block id."),
                    "seed_height": uint("The RandomX key block's height."),
                },
                "A template and what a miner needs to hash it.",
            ),
            (-32602, -1, -3, -4, -9),
        ),
        _method(
            "submit_block",
            "Submit a mined block.",
            "monerod's `submit_block`: params are an array of one hex block blob. The block "
            "is verified (RandomX included) and added; a known block is answered `OK` again.",
            "mining",
            one_positional(
                Param("blob", "The block, hex.", hex_out("A block blob, hex.", min_bytes=1))
            ),
            ok_result(
                {
                    "block_id": hash_out("The submitted block's id."),
                    "block_status": {
                        "type": "string",
                        "enum": ["connected", "side", "known"],
                        "description": "Where the block went: the main chain, a side "
                        "chain, or nowhere (already stored).",
                    },
                },
                "The block's id and where it went.",
            ),
            (-1, -6, -7, -9),
        ),
        _method(
            "get_last_block_header",
            "The tip's header.",
            "monerod's `get_last_block_header`.",
            "chain",
            no_params(),
            HEADER_RESULT,
            (-5, -9),
        ),
        _method(
            "get_block_header_by_height",
            "The header of the main-chain block at a height.",
            "monerod's `get_block_header_by_height`.",
            "chain",
            by_name({"height": uint("A main-chain height.")}, required=["height"]),
            HEADER_RESULT,
            (-32602, -1, -2, -5, -9),
        ),
        _method(
            "get_block_header_by_hash",
            "The header of a block by id (side-chain blocks too).",
            "monerod's `get_block_header_by_hash`; a side-chain block has `orphan_status: true`.",
            "chain",
            by_name({"hash": hash_in("A block id.")}, required=["hash"]),
            HEADER_RESULT,
            (-32602, -1, -5, -9),
        ),
        _method(
            "get_block_headers_range",
            "The headers of a range of main-chain blocks.",
            "monerod's `get_block_headers_range`: heights inclusive, at most "
            f"{MAX_HEADERS_RANGE} headers.",
            "chain",
            by_name(
                {
                    "start_height": uint("The first height."),
                    "end_height": uint("The last height (inclusive)."),
                },
                required=["start_height", "end_height"],
            ),
            ok_result(
                {
                    "headers": array(
                        BLOCK_HEADER,
                        "The headers, lowest height first.",
                        min_items=1,
                        max_items=MAX_HEADERS_RANGE,
                    )
                },
                "`headers`: the range's block headers.",
            ),
            (-32602, -1, -2, -5, -9),
        ),
        _method(
            "get_block",
            "A block: blob, header, JSON description and transaction ids.",
            "monerod's `get_block`, by `hash` when given, else by `height`.",
            "chain",
            by_name(
                {"height": uint("A main-chain height."), "hash": hash_in("A block id.")},
                required=[],
                anyOf=[{"required": ["height"]}, {"required": ["hash"]}],
            ),
            ok_result(
                {
                    "blob": hex_out("The block, hex.", min_bytes=1),
                    "block_header": BLOCK_HEADER,
                    "json": {
                        "type": "string",
                        "contentMediaType": "application/json",
                        "contentSchema": BLOCK_JSON,
                        "description": "The block described as JSON, in a string (as monerod).",
                    },
                    "miner_tx_hash": hash_out("The miner transaction's hash."),
                    "tx_hashes": array(
                        hash_out("A transaction hash."), "The block's transactions."
                    ),
                },
                "The block in its several forms.",
            ),
            (-32602, -1, -2, -5, -9),
        ),
        _method(
            "get_fee_estimate",
            "The fee to pay.",
            "monerod's `get_fee_estimate`. ZION's fee is flat: `fee` is the network's "
            "minimum fee per transaction (not per byte), repeated in `fees`.",
            "node",
            no_params(),
            ok_result(
                {
                    "fee": uint("The minimum fee, atomic units."),
                    "fees": array(
                        uint("A fee, atomic units."),
                        "Fees for monerod's four priorities.",
                        min_items=4,
                        max_items=4,
                    ),
                    "quantization_mask": uint("Round fees up to a multiple of this.", minimum=1),
                },
                "The flat minimum fee.",
            ),
            (-9,),
        ),
        _method(
            "get_version",
            "The RPC version and the node's height.",
            "monerod's `get_version`: `version` is the RPC version that the shapes follow "
            "(`major << 16 | minor`); `zion_version` the node's software version.",
            "node",
            no_params(),
            ok_result(
                {
                    "version": uint("RPC version, `major << 16 | minor`.", maximum=UINT32_MAX),
                    "release": boolean("Whether this is a release build."),
                    "current_height": uint("Number of main-chain blocks.", minimum=1),
                    "target_height": uint(
                        "The most blocks a peer claims; at least `current_height`.", minimum=1
                    ),
                    "hard_forks": array(
                        obj({"height": uint("Activation height."), "hf_version": uint("Version.")}),
                        "Hard forks (none yet).",
                    ),
                    "zion_version": text("The node's software version."),
                },
                "Versions and height.",
            ),
            (-9,),
        ),
    )
}
"""The built-in JSON-RPC methods by canonical name (their aliases come from the API)."""

DISCOVER_RESULT: Final = top(
    {
        "type": "object",
        "required": ["openrpc", "info", "methods"],
        "properties": {
            "openrpc": {"type": "string", "pattern": r"^1\.3\.\d+$"},
            "info": obj({"title": text("Title."), "version": text("Version.")}, closed=False),
            "methods": {"type": "array", "items": {"type": "object"}},
        },
        "description": "This OpenRPC document.",
    }
)

# -- REST endpoints -------------------------------------------------------------------------

FAILURE: Final = top(
    obj(
        {
            "status": {
                "type": "string",
                "enum": ["Failed", "BUSY"],
                "description": "`BUSY` while the chain opens, else `Failed`.",
            },
            "reason": text("What went wrong."),
            "untrusted": UNTRUSTED,
        },
        description="A refused request.",
    )
)

GET_HEIGHT: Final = ok_result(
    {
        "height": uint("Number of main-chain blocks (tip height + 1).", minimum=1),
        "hash": hash_out("The tip's id."),
    },
    "The chain's height and tip (what xmrig polls).",
)

_FLAGS: Final = {name: boolean(f"monerod's `{name}` flag.") for name in TX_FLAG_NAMES}

SEND_RAW_TRANSACTION: Final = top(
    obj(
        {
            **_FLAGS,
            "status": {"type": "string", "enum": ["OK", "Failed"], "description": "The outcome."},
            "reason": text('Why it failed (`""` on success, or a note on an orphan).'),
            "tx_hash": hash_out("The transaction's hash (on success)."),
            "untrusted": UNTRUSTED,
        },
        required=[*TX_FLAG_NAMES, "status", "reason", "untrusted"],
        description="monerod's answer: the outcome and the flags of the rule that failed.",
    )
)

_TX_ENTRY: Final = obj(
    {
        "as_hex": hex_out("The transaction, hex.", min_bytes=1),
        "as_json": text('Always `""` (not decoded).'),
        "tx_hash": hash_out("The transaction's hash."),
        "in_pool": boolean("Whether it is in the mempool (not yet mined)."),
        "block_height": uint("Its block's height (0 when pooled)."),
        "block_timestamp": uint("Its block's timestamp (0 when pooled)."),
        "confirmations": uint("Main-chain blocks from its block to the tip (0 when pooled)."),
        "double_spend_seen": boolean("Always `false`."),
    },
    description="A found transaction.",
)

GET_TRANSACTIONS: Final = ok_result(
    {
        "txs": array(_TX_ENTRY, "The transactions found, in the order asked."),
        "txs_as_hex": array(hex_out("A transaction, hex.", min_bytes=1), "Their blobs."),
        "missed_tx": array(text("A hash as sent."), "The hashes not found."),
    },
    "The transactions found and the hashes missed.",
)

GET_TRANSACTION_POOL: Final = ok_result(
    {
        "transactions": array(
            obj(
                {
                    "id_hash": hash_out("The transaction's hash."),
                    "tx_blob": hex_out("The transaction, hex.", min_bytes=1),
                    "blob_size": uint("Blob size in bytes.", minimum=1),
                    "weight": uint("As `blob_size`.", minimum=1),
                    "fee": uint("Fee, atomic units."),
                    "relayed": boolean("Always `true`."),
                    "do_not_relay": boolean("Always `false`."),
                    "double_spend_seen": boolean("Always `false`."),
                    "kept_by_block": boolean("Always `false`."),
                },
                description="A pooled transaction.",
            ),
            "The mempool's transactions.",
        ),
        "spent_key_images": array(
            {"type": "object"}, "monerod's key images: always empty (ZION has none)."
        ),
    },
    "The mempool.",
)

SEND_RAW_TRANSACTION_PARAMS: Final = top(
    obj(
        {
            "tx_as_hex": hex_out("The transaction, hex.", min_bytes=1),
            "do_not_relay": boolean("Keep it on this node (`not_relayed` in the answer)."),
        },
        required=["tx_as_hex"],
        closed=False,
    )
)

GET_TRANSACTIONS_PARAMS: Final = top(
    obj(
        {
            "txs_hashes": array(hash_in("A transaction hash."), "The hashes to look up."),
            "decode_as_json": boolean('Accepted and ignored (`as_json` is always `""`).'),
        },
        required=[],
        closed=False,
    )
)

NO_BODY: Final = top(
    {"description": "No body needed; a JSON body, if any, is ignored (it must still parse)."}
)


@attrs.frozen
class RestSpec:
    """One REST endpoint (with its alias paths)."""

    path: str
    aliases: tuple[str, ...]
    summary: str
    request_schema: Schema
    response_schema: Schema
    http_methods: tuple[str, ...] = ("GET", "POST")


REST: Final[tuple[RestSpec, ...]] = (
    RestSpec("/get_height", ("/getheight",), "The chain's height and tip id.", NO_BODY, GET_HEIGHT),
    RestSpec(
        "/get_info",
        ("/getinfo",),
        "As the `get_info` method.",
        NO_BODY,
        METHODS["get_info"].result_schema,
    ),
    RestSpec(
        "/send_raw_transaction",
        ("/sendrawtransaction",),
        "Add a transaction to the mempool.",
        SEND_RAW_TRANSACTION_PARAMS,
        SEND_RAW_TRANSACTION,
    ),
    RestSpec(
        "/get_transactions",
        ("/gettransactions",),
        "Pooled and mined transactions by hash.",
        GET_TRANSACTIONS_PARAMS,
        GET_TRANSACTIONS,
    ),
    RestSpec(
        "/get_transaction_pool", (), "The mempool's transactions.", NO_BODY, GET_TRANSACTION_POOL
    ),
)
"""The REST endpoints. Each answers its response schema or :data:`FAILURE` (HTTP 200;
400 for a body that is not JSON, 413 for one over ``max_body_bytes``)."""

__all__ = [
    "BLOCK_HEADER",
    "BLOCK_JSON",
    "DIALECT",
    "DISCOVER_RESULT",
    "FAILURE",
    "METHODS",
    "REST",
    "MethodSpec",
    "Param",
    "RestSpec",
    "Schema",
]
