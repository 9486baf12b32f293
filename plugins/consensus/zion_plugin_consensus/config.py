"""The ``[chain]`` configuration section: per-node overrides of the network's parameters."""

from __future__ import annotations

import attrs


@attrs.frozen
class ChainConfig:
    """``[chain]``: override the selected network's consensus parameters (for devnet and
    tests; a node with overrides only agrees with nodes that use the same ones).

    - ``target_seconds``: block time; ``initial_difficulty``: the difficulty of the first
      ``difficulty_window`` blocks; ``difficulty_window``: LWMA's N.
    - ``seed_epoch`` / ``seed_lag``: the RandomX key schedule (powers of two, lag < epoch).
    - ``reorg_limit``: the deepest fork the node follows.
    - ``coinbase_maturity`` / ``spendable_age``: blocks before a coinbase output (an
      ordinary output) can be spent.
    """

    target_seconds: int | None = None
    initial_difficulty: int | None = None
    difficulty_window: int | None = None
    seed_epoch: int | None = None
    seed_lag: int | None = None
    reorg_limit: int | None = None
    coinbase_maturity: int | None = None
    spendable_age: int | None = None

    def overrides(self) -> dict[str, int]:
        return {k: v for k, v in attrs.asdict(self).items() if v is not None}
