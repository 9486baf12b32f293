"""Consensus hooks: the chain rules, selected by name."""

from __future__ import annotations

from typing import TYPE_CHECKING

from ._markers import hookspec

if TYPE_CHECKING:
    from .types import ConsensusRules, Node, Register


@hookspec
def zion_register_consensus(register: Register[ConsensusRules], node: Node) -> None:
    """Register :class:`~zion_hookspecs.ConsensusRules` implementations.

    The node uses the one named by ``backends.consensus`` in the configuration.
    """
