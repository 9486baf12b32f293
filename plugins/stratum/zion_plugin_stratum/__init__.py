"""``zion-plugin-stratum``: the mining pool (XMRig-compatible Stratum over TCP).

Needs the node's chain (a storage backend and a hasher): ``zion run --plugin stratum``
loads the default ones when no other plugin provides them.
"""

from __future__ import annotations

ZION_NEEDS = ("storage", "hasher")
