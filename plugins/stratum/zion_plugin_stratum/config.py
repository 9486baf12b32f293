"""The ``[stratum]`` configuration section."""

from __future__ import annotations

from typing import Final
from urllib.parse import urlsplit

import attrs

from zion_core import ConfigError
from zion_core.chain.address import Address, InvalidAddressError
from zion_core.chain.transaction import ATOMIC_UNITS_PER_ZION
from zion_core.netaddr import endpoint_validator

SECTION: Final = "stratum"

DEFAULT_PORTS: Final = {"mainnet": 13333, "testnet": 23333, "devnet": 3333}
"""The default Stratum port of each network."""

DEFAULT_HOST: Final = "127.0.0.1"

MIN_VERIFY_SAMPLE_RATE: Final = 0.10
"""The floor of ``verify_sample_rate``: a sampled pool still hashes one share in ten."""


def _check_address(_instance: object, attribute: attrs.Attribute[str], value: str) -> None:
    if not value:
        return
    try:
        Address.parse(value)
    except InvalidAddressError as exc:
        raise ValueError(f"{attribute.name}: {exc}") from None


def _positive_int(_instance: object, attribute: attrs.Attribute[int], value: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"{attribute.name} must be a positive integer, not {value!r}")


def _policy_name(_instance: object, attribute: attrs.Attribute[str], value: str) -> None:
    if not isinstance(value, str) or not value:
        raise ValueError(f"{attribute.name} must name a pool policy (pplns, solo, pps...)")


def _stats_interval(_instance: object, attribute: attrs.Attribute[float], value: float) -> None:
    if isinstance(value, bool) or not isinstance(value, int | float) or not value >= 0.1:
        raise ValueError(
            f"{attribute.name} must be a number of seconds (at least 0.1), not {value!r}"
        )


def _registry_name(_instance: object, attribute: attrs.Attribute[str], value: str) -> None:
    if not isinstance(value, str) or not value:
        raise ValueError(f"{attribute.name} must name a registered policy, not {value!r}")


def _sample_rate(_instance: object, attribute: attrs.Attribute[float], value: float) -> None:
    if (
        isinstance(value, bool)
        or not isinstance(value, int | float)
        or not MIN_VERIFY_SAMPLE_RATE <= value <= 1
    ):
        raise ValueError(
            f"{attribute.name} must be a fraction from {MIN_VERIFY_SAMPLE_RATE} (the floor: "
            f"at least one share in ten is verified) to 1, not {value!r}"
        )


def _basis_points(_instance: object, attribute: attrs.Attribute[int], value: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= 10_000:
        raise ValueError(f"{attribute.name} must be an integer from 0 to 10000, not {value!r}")


def _check_node_url(_instance: object, attribute: attrs.Attribute[str], value: str) -> None:
    if not isinstance(value, str):
        raise ValueError(f"{attribute.name} must be a URL string, not {value!r}")
    if not value:
        return
    parts = urlsplit(value)
    try:
        parts.port  # noqa: B018 - raises ValueError for a port out of range
    except ValueError:
        raise ValueError(f"{attribute.name}: bad port in {value!r}") from None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError(
            f"{attribute.name} must be an http:// or https:// URL naming a host "
            f"(like http://127.0.0.1:19181), not {value!r}"
        )
    if parts.query or parts.fragment or parts.username or parts.password:
        raise ValueError(
            f"{attribute.name} takes no query, fragment or credentials (the admin token "
            f"goes in node_token or node_token_file), not {value!r}"
        )


@attrs.frozen
class PortConfig:
    """One more listening port: ``{bind = "HOST:PORT", start_difficulty = N, tls = true}``."""

    bind: str = attrs.field(validator=endpoint_validator)
    start_difficulty: int | None = attrs.field(default=None)
    tls: bool = attrs.field(default=False, validator=attrs.validators.instance_of(bool))

    def __attrs_post_init__(self) -> None:
        value = self.start_difficulty
        if value is not None and (isinstance(value, bool) or value < 1):
            raise ValueError(f"start_difficulty must be a positive integer, not {value!r}")


@attrs.frozen
class StratumConfig:
    """``[stratum]``: the mining pool's Stratum server (service ``stratum``).

    - ``pool_address``: the ZION address that the pool's blocks pay, an address of the
      node's network. Empty (the default): no pool runs.
    - ``bind``: ``HOST:PORT`` to listen on; empty means ``127.0.0.1:<the network's
      port>`` (mainnet 13333, testnet 23333, devnet 3333). Port 0 picks a free port.
    - ``start_difficulty``, ``min_difficulty``, ``max_difficulty``: the share difficulty
      a new miner starts at, and the bounds of variable (and fixed) difficulty.
    - ``target_share_seconds``: the share interval variable difficulty aims at.
    - ``allow_fixed_difficulty``: whether ``ADDRESS+DIFF`` logins and ``d=N`` passwords
      fix a miner's difficulty (clamped to the bounds above).
    - ``max_connections``, ``max_connections_per_ip``: connections at once, in all and
      from one IP address; more are closed at once.
    - ``max_line_bytes``: the longest request line; a longer one is answered with an
      error and the connection closed.
    - ``login_timeout``: seconds a new connection has to log in.
    - ``idle_timeout``: seconds a connection may stay silent (XMRig pings every 60 s).
    - ``jobs_per_miner``: recent jobs kept per miner (at least 4); a share for an older
      job is answered "Block expired".
    - ``stale_grace_seconds``: for this long after a new tip, a share for a job of the
      previous tip (found before the miner got its new job) is still accepted and credited,
      but never submitted as a block; later it is answered "Block expired".
    - ``refresh_seconds``: how often the template is rebuilt on the same tip (new pooled
      transactions); a new tip rebuilds it at once.
    - ``ports``: more ports besides ``bind``, each a table ``{bind = "HOST:PORT",
      start_difficulty = N, tls = true}`` (``start_difficulty`` defaults to the one
      above; ``tls`` serves TLS on that port).
    - ``tls_cert``, ``tls_key``: PEM files of the TLS ports' certificate and key; empty
      means ``stratum-tls.crt`` and ``stratum-tls.key`` in the data directory, where a
      self-signed pair is made on first start when missing. Its SHA-256 fingerprint (what
      XMRig's ``--tls-fingerprint`` takes) is logged at every start.
    - ``node``: the URL of a ZION node's API (``http://HOST:PORT`` or ``https://...``,
      the jsonrpc plugin's ``[rpc] bind``) to take templates from, submit blocks to and
      pay through (its wallet, only with ``payouts = true``). Empty (the default): the
      node this pool runs in.
    - ``node_token``, ``node_token_file``: the remote node's admin token (``[rpc]
      admin_token``), or a file holding it (such as that node's ``rpc.token``, read again
      when the node refuses it), sent as ``Authorization: Bearer``: needed for payouts
      (the wallet's methods) and, when that node is ``[rpc] restricted``, for templates
      and blocks. At most one of the two.
    - ``verify_threads``: worker threads verifying shares with RandomX at once.
    - ``verify_queue``: shares waiting for verification at most; more are answered
      "Server busy" (the share is not counted as invalid).
    - ``ban_score``: misbehaviour points (an invalid share or malformed line: 1) an IP
      address may collect before it is banned; 0 turns banning off.
    - ``ban_seconds``: how long a ban lasts.
    - ``vardiff_policy``, ``ban_policy``, ``verification_policy``: the policies (by name,
      from the ``vardiff_policy``, ``ban_policy`` and ``share_verification_policy``
      registries) that set share difficulty, ban IP addresses and choose the shares
      verified with RandomX. Built in: ``default``; ``score`` (``ban_score`` and
      ``ban_seconds`` above); ``all`` (every share) or ``sampled``.
    - ``verify_sample_rate``: the ``sampled`` policy's chance of verifying a share of a
      trusted miner, from 0.1 (the floor) to 1.
    - ``verify_trust_shares``: verified shares an address and an IP address each need
      before ``sampled`` stops verifying all of their shares; a failed check resets both.
    - ``payout_policy``: the pool policy (``pool_policy`` registry) that splits rewards:
      ``pplns`` (the default), ``solo`` or ``pps`` (see docs/pool-accounting.md).
    - ``fee_bps``: the pool fee of the built-in policies, in basis points (100 = 1 %).
    - ``pplns_factor``: N of PPLNS: the window is N times the network difficulty.
    - ``payout_threshold``: the smallest balance paid, in atomic units (0.1 ZION).
    - ``payout_interval_seconds``: how often due balances are paid.
    - ``payouts``: whether the pool pays miners through the node's wallet (the wallet
      plugin's ``transfer`` and ``get_transfers`` RPC methods, ``[wallet] file``). Unset
      (the default): on when the node has a wallet; ``true`` without a wallet is a
      start-up error; ``false``: balances accumulate unpaid.
    - ``stats_interval_seconds``: how often the pool's statistics are published to the
      node's plugins (the ``pool_stats`` event, which the WebSocket stream forwards); a
      block found publishes them at once.
    """

    pool_address: str = attrs.field(default="", validator=_check_address)
    bind: str = attrs.field(default="", validator=endpoint_validator)
    start_difficulty: int = attrs.field(default=5000, validator=_positive_int)
    min_difficulty: int = attrs.field(default=100, validator=_positive_int)
    max_difficulty: int = attrs.field(default=1_000_000_000, validator=_positive_int)
    target_share_seconds: float = attrs.field(default=30.0, validator=attrs.validators.gt(0))
    allow_fixed_difficulty: bool = attrs.field(
        default=True, validator=attrs.validators.instance_of(bool)
    )
    max_connections: int = attrs.field(default=10_000, validator=_positive_int)
    max_connections_per_ip: int = attrs.field(default=256, validator=_positive_int)
    max_line_bytes: int = attrs.field(
        default=16 * 1024, validator=[attrs.validators.instance_of(int), attrs.validators.ge(512)]
    )
    login_timeout: float = attrs.field(default=10.0, validator=attrs.validators.gt(0))
    idle_timeout: float = attrs.field(default=600.0, validator=attrs.validators.gt(0))
    jobs_per_miner: int = attrs.field(
        default=4, validator=[attrs.validators.instance_of(int), attrs.validators.ge(4)]
    )
    stale_grace_seconds: float = attrs.field(default=5.0, validator=attrs.validators.ge(0))
    refresh_seconds: float = attrs.field(default=30.0, validator=attrs.validators.gt(0))
    ports: tuple[PortConfig, ...] = attrs.field(default=(), converter=tuple)
    tls_cert: str = ""
    tls_key: str = ""
    node: str = attrs.field(default="", validator=_check_node_url)
    node_token: str = attrs.field(
        default="", repr=False, validator=attrs.validators.instance_of(str)
    )
    node_token_file: str = attrs.field(default="", validator=attrs.validators.instance_of(str))
    verify_threads: int = attrs.field(default=2, validator=_positive_int)
    verify_queue: int = attrs.field(default=256, validator=_positive_int)
    ban_score: int = attrs.field(
        default=50, validator=[attrs.validators.instance_of(int), attrs.validators.ge(0)]
    )
    ban_seconds: float = attrs.field(default=600.0, validator=attrs.validators.ge(0))
    vardiff_policy: str = attrs.field(default="default", validator=_registry_name)
    ban_policy: str = attrs.field(default="score", validator=_registry_name)
    verification_policy: str = attrs.field(default="all", validator=_registry_name)
    verify_sample_rate: float = attrs.field(default=0.25, validator=_sample_rate)
    verify_trust_shares: int = attrs.field(
        default=20, validator=[attrs.validators.instance_of(int), attrs.validators.ge(0)]
    )
    payout_policy: str = attrs.field(default="pplns", validator=_policy_name)
    fee_bps: int = attrs.field(default=100, validator=_basis_points)
    pplns_factor: int = attrs.field(default=2, validator=_positive_int)
    payout_threshold: int = attrs.field(
        default=ATOMIC_UNITS_PER_ZION // 10, validator=_positive_int
    )
    payout_interval_seconds: float = attrs.field(default=600.0, validator=attrs.validators.gt(0))
    payouts: bool | None = attrs.field(
        default=None, validator=attrs.validators.optional(attrs.validators.instance_of(bool))
    )
    stats_interval_seconds: float = attrs.field(default=10.0, validator=_stats_interval)

    def __attrs_post_init__(self) -> None:
        if self.node_token and self.node_token_file:
            raise ValueError("node_token and node_token_file are both set: keep one")
        if self.min_difficulty > self.max_difficulty:
            raise ValueError(
                f"min_difficulty ({self.min_difficulty}) is above max_difficulty "
                f"({self.max_difficulty})"
            )
        if not self.min_difficulty <= self.start_difficulty <= self.max_difficulty:
            raise ValueError(
                f"start_difficulty ({self.start_difficulty}) must lie between min_difficulty "
                f"({self.min_difficulty}) and max_difficulty ({self.max_difficulty})"
            )

    def address(self, network: str) -> str:
        """The ``HOST:PORT`` to bind on ``network``."""
        if self.bind:
            return self.bind
        return f"{DEFAULT_HOST}:{DEFAULT_PORTS.get(network, DEFAULT_PORTS['devnet'])}"

    def parsed_address(self, network: str) -> Address:
        """``pool_address`` as an address of ``network``; ConfigError naming the key if not."""
        if not self.pool_address:
            raise ConfigError("[stratum] pool_address is not set: the pool's blocks pay it")
        try:
            return Address.parse(self.pool_address, network)
        except InvalidAddressError as exc:
            raise ConfigError(f"bad value in [stratum]: pool_address: {exc}") from None
