"""The ``zion`` consensus rules object registered through the consensus hook."""

from __future__ import annotations

from collections.abc import Iterable

from zion_hookspecs import Storage

from .chain import Chain, Hasher
from .config import ChainConfig
from .params import NETWORKS, NetworkParams, with_overrides


class ZionConsensus:
    """ZION's chain rules for mainnet, testnet and devnet."""

    name = "zion"

    def __init__(self, config: ChainConfig | None = None) -> None:
        self.config = config or ChainConfig()

    def networks(self) -> Iterable[str]:
        return tuple(NETWORKS)

    def params(self, network: str) -> NetworkParams:
        """The network's parameters with this node's ``[chain]`` overrides applied."""
        base = NETWORKS[network]
        overrides = self.config.overrides()
        return with_overrides(base, **overrides) if overrides else base

    def open_chain(self, network: str, storage: Storage, hasher: Hasher) -> Chain:
        """The chain of ``network`` kept in ``storage``, checked with ``hasher``."""
        return Chain(self.params(network), storage, hasher)
