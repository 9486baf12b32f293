"""``zion-plugin-randomx``: RandomX v1 through librandomx.

Registers the ``randomx-cpu`` hashing backend (light or fast mode, verification thread
pool, key manager that prepares the next seed), the ``[randomx]`` config section, the
``zion bench randomx`` and ``zion mine`` commands, and RandomX lines for ``zion diagnose``.
With ``[miner] address`` set, it also runs the node's solo miner, the ``miner`` service
(:mod:`.solo`), whose numbers the RPC method ``mining_status`` reports.
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
            "threads_count, address, block_reward, difficulty) and blocks_found.",
            params_schema={},
            result_schema=MINING_STATUS_SCHEMA,
        )
    )


@hookimpl
def zion_register_hashers(register: Register[HashBackend], node: Node) -> None:
    register(RandomXCpu(node.config_section(SECTION)))


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
