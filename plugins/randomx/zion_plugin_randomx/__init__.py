"""``zion-plugin-randomx``: RandomX v1 through librandomx.

Registers the ``randomx-cpu`` hashing backend (light or fast mode, verification thread
pool, key manager that prepares the next seed), the ``[randomx]`` config section, the
``zion bench randomx`` and ``zion mine`` commands, and RandomX lines for ``zion diagnose``.
With ``[miner] address`` set, it also runs the node's solo miner, the ``miner`` service
(:mod:`.solo`), whose numbers the RPC method ``mining_status`` reports. The RPC method
``randomx_status`` reports the mode and memory of the verifier and of that miner, and the
``randomx`` metrics source exports them with the hashes computed (:mod:`.metrics`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Final

from zion_hookspecs import RpcMethod, hookimpl

from .backend import RandomXCpu
from .config import RandomXConfig, SoloMinerConfig

if TYPE_CHECKING:
    import typer

    from zion_hookspecs import (
        DiagnosticsReport,
        HashBackend,
        MetricsSource,
        Node,
        Register,
        RegisterConfigSection,
        Service,
    )

SECTION = "randomx"
MINER_SECTION = "miner"


@hookimpl
def zion_register_config(register: RegisterConfigSection) -> None:
    register(SECTION, RandomXConfig)
    register(MINER_SECTION, SoloMinerConfig)


@hookimpl
def zion_configure(node: Node) -> None:
    miner: SoloMinerConfig = node.config_section(MINER_SECTION)
    if miner.address:
        miner.parsed_address(node.network)  # an address of another network fails here


@hookimpl
def zion_register_services(register: Register[Service], node: Node) -> None:
    miner: SoloMinerConfig = node.config_section(MINER_SECTION)
    if miner.address:
        from .solo import SoloMiner

        register(SoloMiner(node, miner, node.config_section(SECTION)))


MINING_STATUS_SCHEMA: Final = {
    "type": "object",
    "required": ["active", "speed", "threads_count", "address", "status", "untrusted"],
    "properties": {
        "active": {"type": "boolean"},
        "speed": {"type": "integer", "minimum": 0},
        "threads_count": {"type": "integer", "minimum": 0},
        "address": {"type": "string"},
        "pow_algorithm": {"type": "string"},
        "block_target": {"type": ["integer", "null"]},
        "block_reward": {"type": "integer", "minimum": 0},
        "difficulty": {"type": "integer", "minimum": 0},
        "wide_difficulty": {"type": "string"},
        "blocks_found": {"type": "integer", "minimum": 0},
        "recent_blocks": {
            "type": "array",
            "items": {
                "type": "object",
                "required": ["height", "hash"],
                "properties": {
                    "height": {"type": "integer", "minimum": 0},
                    "hash": {"type": "string", "pattern": "^[0-9a-f]{64}$"},
                },
            },
        },
        "status": {"const": "OK"},
        "untrusted": {"const": False},
    },
}


_BACKEND_STATUS_SCHEMA: Final = {
    "oneOf": [
        {"type": "null"},
        {
            "type": "object",
            "required": ["backend", "mode", "threads", "flags", "keys", "memory_bytes"],
            "properties": {
                "backend": {"type": "string"},
                "mode": {"enum": ["light", "fast"]},
                "threads": {"type": "integer", "minimum": 1},
                "flags": {"type": "array", "items": {"type": "string"}},
                "jit": {"type": "boolean"},
                "large_pages": {"type": "boolean"},
                "keys": {"type": "integer", "minimum": 0},
                "current_key": {"type": "string"},
                "memory_bytes": {"type": "integer", "minimum": 0},
                "dataset_progress": {
                    "oneOf": [
                        {"type": "null"},
                        {
                            "type": "object",
                            "required": ["done", "total"],
                            "properties": {
                                "done": {"type": "integer", "minimum": 0},
                                "total": {"type": "integer", "minimum": 1},
                            },
                        },
                    ]
                },
            },
        },
    ]
}
RANDOMX_STATUS_SCHEMA: Final = {
    "type": "object",
    "required": ["verifier", "miner", "status", "untrusted"],
    "properties": {
        "verifier": _BACKEND_STATUS_SCHEMA,
        "miner": _BACKEND_STATUS_SCHEMA,
        "status": {"const": "OK"},
        "untrusted": {"const": False},
    },
}


@hookimpl
def zion_register_rpc_methods(register: Register[RpcMethod], node: Node) -> None:
    def mining_status(params: Any) -> dict[str, Any]:
        services = node.registry("service")
        if "miner" not in services.names():
            status: dict[str, Any] = {
                "active": False,
                "speed": 0,
                "threads_count": 0,
                "address": "",
                "pow_algorithm": "RandomX",
            }
        else:
            status = services.get("miner").mining_status()
        return {**status, "status": "OK", "untrusted": False}

    register(
        RpcMethod(
            "mining_status",
            mining_status,
            description="The built-in miner ([miner] address): monerod's mining_status "
            "fields (active, speed in hashes per second over the last minute, "
            "threads_count, address, block_reward, difficulty), blocks_found and "
            "recent_blocks (height and hash of the last blocks found, newest first).",
            params_schema={},
            result_schema=MINING_STATUS_SCHEMA,
        )
    )

    def randomx_status(params: Any) -> dict[str, Any]:
        hashers = node.registry("hasher")
        verifier = (
            hashers.get(RandomXCpu.name).status() if RandomXCpu.name in hashers.names() else None
        )
        services = node.registry("service")
        miner = None
        if "miner" in services.names():
            backend = services.get("miner").backend
            miner = backend.status() if backend is not None else None
        return {"verifier": verifier, "miner": miner, "status": "OK", "untrusted": False}

    register(
        RpcMethod(
            "randomx_status",
            randomx_status,
            description="RandomX on this node: the verifier's and the built-in miner's "
            "mode (light or fast), threads, flags, keys held and their memory in bytes, "
            "and the progress of a dataset being built.",
            params_schema={},
            result_schema=RANDOMX_STATUS_SCHEMA,
        )
    )


@hookimpl
def zion_register_hashers(register: Register[HashBackend], node: Node) -> None:
    from .progress import dataset_feed

    register(RandomXCpu(node.config_section(SECTION), progress=dataset_feed()))


@hookimpl
def zion_register_metrics(register: Register[MetricsSource], node: Node) -> None:
    from .metrics import RandomXMetrics

    register(RandomXMetrics(node))  # hashes, verification latency, mode and memory


@hookimpl
def zion_unconfigure(node: Node) -> None:
    registry = node.registry("hasher")
    if RandomXCpu.name in registry.names():
        registry.get(RandomXCpu.name).close()


@hookimpl
def zion_register_commands(cli: typer.Typer) -> None:
    from .cli import register_commands

    register_commands(cli)


@hookimpl
def zion_diagnose(report: DiagnosticsReport) -> None:
    from .diagnose import report_lines

    for key, value in report_lines():
        report.add(key, value)


__all__ = ["RandomXConfig", "RandomXCpu", "SoloMinerConfig"]
