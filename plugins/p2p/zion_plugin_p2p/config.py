"""The ``[p2p]`` configuration section."""

from __future__ import annotations

from typing import Any, Final

import attrs

from zion_core.netaddr import endpoint_validator

from .address import InvalidPeerAddressError, PeerAddress

DEFAULT_PORTS: Final = {"mainnet": 19180, "testnet": 29180, "devnet": 39180}
"""The P2P port of each network (the consensus parameters' ``p2p_port``)."""


def _positive(_instance: Any, attribute: Any, value: float) -> None:
    if value <= 0:
        raise ValueError(f"{attribute.name} must be positive, got {value!r}")


def _not_negative(_instance: Any, attribute: Any, value: float) -> None:
    if value < 0:
        raise ValueError(f"{attribute.name} must not be negative, got {value!r}")


def _addresses(_instance: Any, attribute: Any, value: tuple[str, ...]) -> None:
    for text in value:
        try:
            PeerAddress.parse(text)
        except InvalidPeerAddressError as exc:
            raise ValueError(f"{attribute.name}: {exc}") from None


def _bind(instance: Any, attribute: Any, value: str) -> None:
    if value != "off":
        endpoint_validator(instance, attribute, value)


def _prefix(maximum: int) -> Any:
    def check(_instance: Any, attribute: Any, value: int) -> None:
        if not 1 <= value <= maximum:
            raise ValueError(f"{attribute.name} must be 1..{maximum}, got {value!r}")

    return check


@attrs.frozen
class P2PConfig:
    """``[p2p]``: the peer-to-peer network.

    - ``bind``: ``HOST:PORT`` to listen on; empty: ``127.0.0.1`` on devnet and
      ``0.0.0.0`` elsewhere, at the network's P2P port; ``"off"``: no listener (outbound
      connections only).
    - ``peers``: ``HOST:PORT`` addresses always connected to (and reconnected to), e.g.
      ``--set 'p2p.peers=["127.0.0.2:39180"]'``.
    - ``seeds``: addresses added to the address book at start (used like gossip).
    - ``max_outbound`` / ``max_inbound`` / ``max_per_ip``: connection limits; outbound
      connections go to distinct network groups (IPv4 ``/ipv4_prefix``, IPv6
      ``/ipv6_prefix``; tests on 127.0.0.x use ``ipv4_prefix = 32``).
    - ``anchors``: outbound peers saved at shutdown and dialled first at the next start.
    - ``ban_seconds``: how long a misbehaving peer's IP is banned (persisted).
    - ``handshake_timeout`` / ``request_timeout`` (seconds): for the handshake and every
      request; a peer that misses one is disconnected.
    - ``span_blocks`` / ``spans_per_peer`` / ``download_window``: initial sync downloads
      blocks in spans of ``span_blocks`` ids, at most ``spans_per_peer`` spans in flight
      per peer, and at most ``download_window`` blocks beyond the chain's tip.
    - ``tx_relay_delay``: mean seconds a transaction announcement waits (jittered,
      exponential) before it is sent to a peer.
    - ``byte_rate`` / ``byte_burst`` (bytes) and ``message_rate`` / ``message_burst``:
      each peer's token buckets; a peer that exceeds them is disconnected and banned.
    - ``sync_grace_seconds``: with peers configured but none reachable, the node counts
      as synchronized after this long (a node that is alone, or whose peers are all
      behind it, must not refuse templates forever).
    """

    bind: str = attrs.field(default="", validator=_bind)
    peers: tuple[str, ...] = attrs.field(default=(), converter=tuple, validator=_addresses)
    seeds: tuple[str, ...] = attrs.field(default=(), converter=tuple, validator=_addresses)
    max_outbound: int = attrs.field(default=8, validator=_not_negative)
    max_inbound: int = attrs.field(default=64, validator=_not_negative)
    max_per_ip: int = attrs.field(default=1, validator=_positive)
    ipv4_prefix: int = attrs.field(default=16, validator=_prefix(32))
    ipv6_prefix: int = attrs.field(default=32, validator=_prefix(128))
    anchors: int = attrs.field(default=2, validator=_not_negative)
    ban_seconds: float = attrs.field(default=86_400.0, validator=_positive)
    handshake_timeout: float = attrs.field(default=10.0, validator=_positive)
    request_timeout: float = attrs.field(default=20.0, validator=_positive)
    span_blocks: int = attrs.field(default=32, validator=[_positive, attrs.validators.le(128)])
    spans_per_peer: int = attrs.field(default=2, validator=_positive)
    download_window: int = attrs.field(default=1024, validator=_positive)
    tx_relay_delay: float = attrs.field(default=0.25, validator=_not_negative)
    byte_rate: float = attrs.field(default=4 * 1024 * 1024, validator=_positive)
    byte_burst: float = attrs.field(default=16 * 1024 * 1024, validator=_positive)
    message_rate: float = attrs.field(default=500.0, validator=_positive)
    message_burst: float = attrs.field(default=2000.0, validator=_positive)
    sync_grace_seconds: float = attrs.field(default=60.0, validator=_not_negative)

    def listen_address(self, network: str) -> tuple[str, int] | None:
        """``(host, port)`` to listen on, or None with ``bind = "off"``."""
        if self.bind == "off":
            return None
        if self.bind:
            host, _, port = self.bind.rpartition(":")
            return host.strip("[]"), int(port)
        host = "127.0.0.1" if network == "devnet" else "0.0.0.0"
        return host, DEFAULT_PORTS.get(network, DEFAULT_PORTS["devnet"])

    def peer_addresses(self) -> list[PeerAddress]:
        return [PeerAddress.parse(text) for text in self.peers]

    def seed_addresses(self) -> list[PeerAddress]:
        return [PeerAddress.parse(text) for text in self.seeds]
