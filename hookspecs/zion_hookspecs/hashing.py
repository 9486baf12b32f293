"""Hashing-backend hooks: proof-of-work hash implementations, selected by name."""

from __future__ import annotations

from typing import TYPE_CHECKING

from ._markers import hookspec

if TYPE_CHECKING:
    from .types import HashBackend, Node, Register


@hookspec
def zion_register_hashers(register: Register[HashBackend], node: Node) -> None:
    """Register :class:`~zion_hookspecs.HashBackend` implementations (``randomx-cpu``...).

    Verification uses the backend named by ``backends.hasher``; a backend whose
    capabilities say it is not exact is only used for mining, and what it finds is
    re-checked by an exact one.
    """
