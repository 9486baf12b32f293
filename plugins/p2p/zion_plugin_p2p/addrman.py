"""The address book (whom we might connect to) and the ban list.

The design follows Bitcoin Core's addrman and monerod's white and gray peer lists, in a
much simpler form:

- The *new* table holds addresses we heard of (gossip, seeds, configured peers). The
  *tried* table holds those we completed an outbound handshake with. Both are bounded.
  One network group (by default an IPv4 /16 or an IPv6 /32, see :func:`netgroup`) holds
  at most ``per_group_new`` addresses in the new table, so one peer gossiping a whole /16
  cannot fill it. When a table or a group is full, the worst entry of a random sample
  (most failures first, then the oldest ``last_seen``) is evicted. A tried entry evicted
  that way goes back to the new table.
- :meth:`AddressBook.select` picks a random group first and then an address in it (each
  failure makes an address less likely), so outbound connections spread over groups. It
  never returns an excluded address, an address in an excluded group, or an address
  attempted in the last :data:`RETRY_SECONDS`.
- Gossiped ``last_seen`` times are clamped to now. :func:`is_routable` refuses addresses
  nobody can connect to (unspecified, multicast, link-local, reserved). Loopback and
  private ranges are accepted: test networks run nodes on ``127.0.0.2`` ... ``127.0.0.N``.

Both structures persist as one JSON document each, written atomically (a temporary file
in the same directory, fsync, :func:`os.replace`, fsync of the directory): a crash leaves
the old file or the new one, never a mix. On load every entry is checked and bad ones are
skipped (with one warning per file). A file that is not a valid document (not JSON, or
an unknown ``version``) is renamed aside to ``<name>.corrupt``, and the structure starts
empty. The node keeps them in its data directory as ``p2p/peers.json`` and
``p2p/bans.json``.

Both classes are thread-safe: :meth:`AddressBook.save` may run in a worker thread while
the event loop keeps using the book.
"""

from __future__ import annotations

import ipaddress
import json
import logging
import math
import os
import random
import threading
import time
from collections.abc import Callable, Collection, Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any, Final

import attrs

from zion_core.files import write_atomic

from .address import InvalidPeerAddressError, PeerAddress, canonical_host

logger = logging.getLogger(__name__)

FORMAT_VERSION: Final = 1
"""The ``version`` of the JSON documents this module reads and writes."""
MAX_FAILURES: Final = 10
"""Failed attempts after which a new address is dropped (a tried one goes back to new)."""
RETRY_SECONDS: Final = 60.0
""":meth:`AddressBook.select` skips addresses attempted more recently than this."""
EVICTION_SAMPLE: Final = 8
"""How many random entries are compared to choose the one a full table evicts."""
FAILURE_WEIGHT: Final = 0.66
"""Each failure multiplies an address's chance to be selected (within its group) by this."""
GOSSIP_HORIZON: Final = 30 * 86_400
""":meth:`AddressBook.sample` shares only addresses seen within this many seconds."""
GOSSIP_MAX_FAILURES: Final = 3
""":meth:`AddressBook.sample` does not share addresses that failed this many times in a row."""
MAX_ANCHORS: Final = 16
MAX_BANS: Final = 16_384
"""The ban list's bound; when it is full, the ban that expires first is dropped."""
MAX_REASON: Final = 256
"""Longer ban reasons are cut to this many characters."""
MAX_SOURCE: Final = 64
MAX_FILE_BYTES: Final = 16 * 1024 * 1024
"""A larger file is not read (it is treated as corrupt)."""

Key = tuple[str, int]

_V4_THIS_NETWORK: Final = ipaddress.IPv4Network("0.0.0.0/8")
_V4_RESERVED: Final = ipaddress.IPv4Network("240.0.0.0/4")  # with 255.255.255.255


def _check_prefixes(ipv4_prefix: int, ipv6_prefix: int) -> None:
    if type(ipv4_prefix) is not int or not 0 <= ipv4_prefix <= 32:
        raise ValueError(f"ipv4_prefix must be 0..32, not {ipv4_prefix!r}")
    if type(ipv6_prefix) is not int or not 0 <= ipv6_prefix <= 128:
        raise ValueError(f"ipv6_prefix must be 0..128, not {ipv6_prefix!r}")


def netgroup(host: str, *, ipv4_prefix: int = 16, ipv6_prefix: int = 32) -> str:
    """The network group of an IP address: ``"4:127.0.0.0/16"``, ``"6:2001:db8::/32"``.

    An IPv4 address written as IPv6 (v4-mapped ``::ffff:a.b.c.d``, 6to4 ``2002::/16`` or
    Teredo ``2001::/32``) is in the group of the IPv4 address it carries, so one operator
    cannot appear as many groups by writing the same addresses differently. Raises
    :class:`InvalidPeerAddressError` for anything but an IP literal and :class:`ValueError`
    for a prefix out of range.
    """
    _check_prefixes(ipv4_prefix, ipv6_prefix)
    return _group(ipaddress.ip_address(canonical_host(host)), ipv4_prefix, ipv6_prefix)


def is_routable(host: str) -> bool:
    """Whether an address may be stored and gossiped: an IP literal that is not
    unspecified, ``0.0.0.0/8``, multicast, link-local (no scope on the wire) or in the
    reserved ``240.0.0.0/4`` (broadcast included). Loopback and private ranges are."""
    try:
        return _routable(ipaddress.ip_address(canonical_host(host)))
    except InvalidPeerAddressError:
        return False


_IP = ipaddress.IPv4Address | ipaddress.IPv6Address


def _group(ip: _IP, ipv4_prefix: int, ipv6_prefix: int) -> str:
    if isinstance(ip, ipaddress.IPv6Address):
        embedded = ip.sixtofour
        if embedded is None and ip.teredo is not None:
            embedded = ip.teredo[1]
        if embedded is None:
            mask = ((1 << ipv6_prefix) - 1) << (128 - ipv6_prefix)
            return f"6:{ipaddress.IPv6Address(int(ip) & mask)}/{ipv6_prefix}"
        ip = embedded
    mask = ((1 << ipv4_prefix) - 1) << (32 - ipv4_prefix)
    return f"4:{ipaddress.IPv4Address(int(ip) & mask)}/{ipv4_prefix}"


def _routable(ip: _IP) -> bool:
    if ip.is_unspecified or ip.is_multicast or ip.is_link_local:
        return False
    if isinstance(ip, ipaddress.IPv4Address):
        return ip not in _V4_THIS_NETWORK and ip not in _V4_RESERVED
    return True


@attrs.define(slots=True, eq=False)
class _Entry:
    """What the book knows about one address."""

    address: PeerAddress
    group: str
    source: str | None = None
    failures: int = 0
    last_success: float = 0.0
    last_attempt: float = 0.0  # not persisted

    @property
    def key(self) -> Key:
        return self.address.key

    def badness(self) -> tuple[int, int]:
        """Larger is worse: more failures, then older."""
        return (self.failures, -self.address.last_seen)


class _Table:
    """Entries by key, with O(1) insertion, removal and uniform random sampling."""

    __slots__ = ("_entries", "_index", "_keys")

    def __init__(self) -> None:
        self._entries: dict[Key, _Entry] = {}
        self._keys: list[Key] = []
        self._index: dict[Key, int] = {}

    def __len__(self) -> int:
        return len(self._keys)

    def __contains__(self, key: object) -> bool:
        return key in self._entries

    def get(self, key: Key) -> _Entry | None:
        return self._entries.get(key)

    def values(self) -> Iterator[_Entry]:
        return (self._entries[key] for key in self._keys)

    def add(self, entry: _Entry) -> None:
        key = entry.key
        self._entries[key] = entry
        self._index[key] = len(self._keys)
        self._keys.append(key)

    def pop(self, key: Key) -> _Entry | None:
        entry = self._entries.pop(key, None)
        if entry is None:
            return None
        position = self._index.pop(key)
        last = self._keys.pop()
        if last != key:
            self._keys[position] = last
            self._index[last] = position
        return entry

    def worst(self, rng: random.Random) -> _Entry:
        """The worst entry of a random sample (drawn with replacement), or of the whole
        table when it is small (it must not be empty)."""
        size = len(self._keys)
        if size <= EVICTION_SAMPLE:
            return max(self.values(), key=_Entry.badness)
        picks = (
            self._entries[self._keys[int(rng.random() * size)]] for _ in range(EVICTION_SAMPLE)
        )
        return max(picks, key=_Entry.badness)


class AddressBook:
    """Known peer addresses in a new and a tried table (see the module docstring).

    ``path`` is the JSON file (read here when it exists; ``None`` keeps the book in
    memory). ``ipv4_prefix``/``ipv6_prefix`` define the network groups (tests on
    ``127.0.0.x`` use ``ipv4_prefix=32``). ``rng`` makes selection and eviction
    reproducible (the default draws from the operating system), ``clock`` gives Unix
    seconds.
    """

    def __init__(
        self,
        path: Path | None,
        *,
        ipv4_prefix: int = 16,
        ipv6_prefix: int = 32,
        new_capacity: int = 4096,
        tried_capacity: int = 1024,
        per_group_new: int = 64,
        rng: random.Random | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        _check_prefixes(ipv4_prefix, ipv6_prefix)
        for name, value in (
            ("new_capacity", new_capacity),
            ("tried_capacity", tried_capacity),
            ("per_group_new", per_group_new),
        ):
            if type(value) is not int or value < 1:
                raise ValueError(f"{name} must be a positive integer, not {value!r}")
        self.path = None if path is None else Path(path)
        self.ipv4_prefix = ipv4_prefix
        self.ipv6_prefix = ipv6_prefix
        self.new_capacity = new_capacity
        self.tried_capacity = tried_capacity
        self.per_group_new = per_group_new
        self._rng = rng if rng is not None else random.SystemRandom()
        self._clock = clock
        self._lock = threading.RLock()
        self._save_lock = threading.Lock()
        self._new = _Table()
        self._tried = _Table()
        self._new_groups: dict[str, _Table] = {}
        self._anchors: list[PeerAddress] = []
        self._dirty = False
        if self.path is not None:
            self._load(self.path)

    # -- queries ---------------------------------------------------------------------

    def group(self, host: str) -> str:
        """:func:`netgroup` with this book's prefixes."""
        return netgroup(host, ipv4_prefix=self.ipv4_prefix, ipv6_prefix=self.ipv6_prefix)

    def _checked_group(self, address: PeerAddress) -> str | None:
        """The group of a routable address (its host is canonical), None if unroutable."""
        ip = ipaddress.ip_address(address.host)
        return _group(ip, self.ipv4_prefix, self.ipv6_prefix) if _routable(ip) else None

    @property
    def new_count(self) -> int:
        return len(self._new)

    @property
    def tried_count(self) -> int:
        return len(self._tried)

    def __len__(self) -> int:
        return len(self._new) + len(self._tried)

    def __contains__(self, address: object) -> bool:
        """Whether the book holds an address (a :class:`PeerAddress` or its key)."""
        key = address.key if isinstance(address, PeerAddress) else address
        with self._lock:
            return key in self._new or key in self._tried

    def is_tried(self, address: PeerAddress) -> bool:
        with self._lock:
            return address.key in self._tried

    # -- changes ---------------------------------------------------------------------

    def add(self, addresses: Iterable[PeerAddress], *, source: str | None = None) -> int:
        """Put addresses we heard of (from the peer ``source``, or from seeds or config
        when ``None``) into the new table; returns how many were not known before.

        Unroutable addresses are skipped, ``last_seen`` is clamped to now, and an address
        already known only gets a later ``last_seen`` (and the services announced with it).
        """
        now = self._now()
        if source is not None:
            source = source[:MAX_SOURCE]
        added = 0
        with self._lock:
            for address in addresses:
                if address.last_seen > now:
                    address = attrs.evolve(address, last_seen=now)
                entry = self._get(address.key)
                if entry is not None:  # known, hence routable
                    self._refresh(entry, address)
                    continue
                group = self._checked_group(address)
                if group is not None and self._insert_new(
                    _Entry(address, group, source=source), force=False
                ):
                    added += 1
        return added

    def attempt(self, address: PeerAddress) -> None:
        """Record a connection attempt: :meth:`select` skips the address for a while."""
        now = self._clock()
        with self._lock:
            entry = self._get(address.key)
            if entry is not None:
                entry.last_attempt = now

    def good(self, address: PeerAddress) -> None:
        """An outbound handshake with ``address`` completed: move it (adding it if it was
        unknown) into the tried table, with no failures and ``last_seen`` now. When the
        tried table is full, the worst of a sample goes back to the new table."""
        group = self._checked_group(address)
        if group is None:
            return
        now = self._clock()
        seen = self._now()
        with self._lock:
            key = address.key
            entry = self._tried.get(key)
            if entry is None:
                entry = self._pop_new(key) or _Entry(address, group)
                if len(self._tried) >= self.tried_capacity:
                    victim = self._tried.worst(self._rng)
                    self._tried.pop(victim.key)
                    self._insert_new(victim, force=True)
                self._tried.add(entry)
            services = address.services or entry.address.services
            entry.address = attrs.evolve(entry.address, services=services, last_seen=seen)
            entry.failures = 0
            entry.last_success = now
            self._dirty = True

    def failed(self, address: PeerAddress) -> None:
        """A connection or handshake with ``address`` failed. A new address is dropped at
        its :data:`MAX_FAILURES`-th failure in a row; a tried one goes back to the new
        table then (and is dropped at the next failure)."""
        now = self._clock()
        with self._lock:
            key = address.key
            entry = self._get(key)
            if entry is None:
                return
            entry.failures += 1
            entry.last_attempt = now
            self._dirty = True
            if entry.failures < MAX_FAILURES:
                return
            if key in self._tried:
                self._tried.pop(key)
                self._insert_new(entry, force=True)
            else:
                self._pop_new(key)

    def remove(self, address: PeerAddress) -> None:
        """Forget an address (both tables and the anchors)."""
        with self._lock:
            key = address.key
            if self._tried.pop(key) is not None or self._pop_new(key) is not None:
                self._dirty = True
            anchors = [anchor for anchor in self._anchors if anchor.key != key]
            if len(anchors) != len(self._anchors):
                self._anchors = anchors
                self._dirty = True

    # -- choices ---------------------------------------------------------------------

    def select(
        self,
        *,
        exclude: Collection[tuple[str, int]] = (),
        exclude_groups: Collection[str] = (),
        tried_share: float = 0.7,
    ) -> PeerAddress | None:
        """A random address to connect to, from the tried table with probability
        ``tried_share`` (from the other table when the chosen one has no candidate).

        Within a table a group is drawn uniformly, then an address of that group (each
        failure multiplies its weight by :data:`FAILURE_WEIGHT`). Addresses whose key is
        in ``exclude``, whose group is in ``exclude_groups`` or that were attempted in the
        last :data:`RETRY_SECONDS` are never returned; ``None`` when nothing qualifies.
        """
        if not 0.0 <= tried_share <= 1.0:
            raise ValueError(f"tried_share must be in [0, 1], not {tried_share!r}")
        excluded = set(exclude)
        excluded_groups = set(exclude_groups)
        cutoff = self._clock() - RETRY_SECONDS
        with self._lock:
            if self._rng.random() < tried_share:
                order = (self._tried, self._new)
            else:
                order = (self._new, self._tried)
            for table in order:
                by_group: dict[str, list[_Entry]] = {}
                for entry in table.values():
                    if (
                        entry.last_attempt > cutoff
                        or entry.group in excluded_groups
                        or entry.key in excluded
                    ):
                        continue
                    by_group.setdefault(entry.group, []).append(entry)
                if not by_group:
                    continue
                candidates = by_group[self._rng.choice(sorted(by_group))]
                weights = [FAILURE_WEIGHT ** min(e.failures, MAX_FAILURES) for e in candidates]
                return self._rng.choices(candidates, weights)[0].address
        return None

    def tried(self) -> list[PeerAddress]:
        """The tried table's addresses (``get_peer_list``'s white list)."""
        with self._lock:
            return [entry.address for entry in self._tried.values()]

    def new(self) -> list[PeerAddress]:
        """The new table's addresses (``get_peer_list``'s gray list)."""
        with self._lock:
            return [entry.address for entry in self._new.values()]

    def sample(self, count: int = 250) -> list[PeerAddress]:
        """Up to ``count`` distinct addresses to gossip (an ``Addr`` answer), in random
        order: those seen within :data:`GOSSIP_HORIZON` that have not failed
        :data:`GOSSIP_MAX_FAILURES` times in a row."""
        if count <= 0:
            return []
        horizon = self._now() - GOSSIP_HORIZON
        with self._lock:
            candidates = [
                entry.address
                for table in (self._tried, self._new)
                for entry in table.values()
                if entry.address.last_seen > max(horizon, 0)
                and entry.failures < GOSSIP_MAX_FAILURES
            ]
            return self._rng.sample(candidates, min(count, len(candidates)))

    def anchors(self) -> list[PeerAddress]:
        """The anchors saved by :meth:`set_anchors` (outbound peers to reconnect to first
        at the next start)."""
        with self._lock:
            return list(self._anchors)

    def set_anchors(self, addresses: Sequence[PeerAddress]) -> None:
        """Replace the anchors (duplicates dropped, at most :data:`MAX_ANCHORS` kept);
        they are written by the next :meth:`save`."""
        anchors: dict[Key, PeerAddress] = {}
        for address in addresses:
            if len(anchors) >= MAX_ANCHORS:
                break
            anchors.setdefault(address.key, address)
        with self._lock:
            self._anchors = list(anchors.values())
            self._dirty = True

    # -- persistence -----------------------------------------------------------------

    def save(self) -> None:
        """Write the book to its file, atomically, if it changed since the last save (so
        calling it every minute costs little). Raises :class:`OSError` when the file
        cannot be written: the previous file is then intact and the next call retries.
        Blocking (fsync): from async code, call it in a worker thread."""
        if self.path is None:
            return
        with self._save_lock:
            with self._lock:
                if not self._dirty:
                    return
                data = self._encode()
                self._dirty = False
            try:
                write_atomic(self.path, data)
            except BaseException:
                with self._lock:
                    self._dirty = True
                raise

    def _encode(self) -> bytes:
        document = {
            "version": FORMAT_VERSION,
            "new": [_entry_json(entry) for entry in self._new.values()],
            "tried": [_entry_json(entry) for entry in self._tried.values()],
            "anchors": [_address_json(anchor) for anchor in self._anchors],
        }
        return json.dumps(document, separators=(",", ":"), allow_nan=False).encode()

    def _load(self, path: Path) -> None:
        document = _read_document(path, ("new", "tried", "anchors"), "address book")
        if document is None:
            return
        now = self._now()
        skipped = loaded = 0
        for item in document["tried"]:
            entry = self._entry_from_json(item, now)
            if entry is None or entry.key in self._tried:
                skipped += 1
                continue
            loaded += 1
            if len(self._tried) < self.tried_capacity:
                self._tried.add(entry)
            else:
                self._insert_new(entry, force=True)
        for item in document["new"]:
            entry = self._entry_from_json(item, now)
            if entry is None or self._get(entry.key) is not None:
                skipped += 1
            else:
                loaded += 1
                self._insert_new(entry, force=True)
        anchors: dict[Key, PeerAddress] = {}
        for item in document["anchors"]:
            address = _address_from_json(item)
            if address is None or address.key in anchors or len(anchors) >= MAX_ANCHORS:
                skipped += 1
            else:
                anchors[address.key] = address
        self._anchors = list(anchors.values())
        if skipped:
            logger.warning("%s: skipped %d invalid or duplicate entries", path, skipped)
        # rewrite a file that had bad entries or more than the capacities now allow
        self._dirty = bool(skipped) or len(self) != loaded

    def _entry_from_json(self, item: Any, now: int) -> _Entry | None:
        address = _address_from_json(item)
        if address is None:
            return None
        failures = item.get("failures", 0)
        last_success = item.get("last_success", 0)
        source = item.get("source")
        if (
            not _is_int(failures, 0, MAX_FAILURES)
            or not _is_number(last_success)
            or not (source is None or (isinstance(source, str) and len(source) <= MAX_SOURCE))
        ):
            return None
        if address.last_seen > now:
            address = attrs.evolve(address, last_seen=now)
        return _Entry(
            address,
            self.group(address.host),
            source=source,
            failures=failures,
            last_success=min(float(last_success), float(now)),
        )

    # -- internals (called with the lock held) ---------------------------------------

    def _now(self) -> int:
        return max(int(self._clock()), 0)

    def _get(self, key: Key) -> _Entry | None:
        return self._tried.get(key) or self._new.get(key)

    def _refresh(self, entry: _Entry, address: PeerAddress) -> None:
        if address.last_seen > entry.address.last_seen:
            entry.address = attrs.evolve(
                entry.address, services=address.services, last_seen=address.last_seen
            )
            self._dirty = True

    def _pop_new(self, key: Key) -> _Entry | None:
        entry = self._new.pop(key)
        if entry is not None:
            members = self._new_groups[entry.group]
            members.pop(key)
            if not len(members):
                del self._new_groups[entry.group]
        return entry

    def _insert_new(self, entry: _Entry, *, force: bool) -> bool:
        """Put ``entry`` into the new table, first evicting the worst of a sample of its
        group (when the group is full) and of the table (when the table is full). Unless
        ``force``, an entry worse than that victim is refused instead."""
        for table, limit in (
            (self._new_groups.get(entry.group), self.per_group_new),
            (self._new, self.new_capacity),
        ):
            if table is None or len(table) < limit:
                continue
            victim = table.worst(self._rng)
            if not force and entry.badness() > victim.badness():
                return False
            self._pop_new(victim.key)
        self._new.add(entry)
        self._new_groups.setdefault(entry.group, _Table()).add(entry)
        self._dirty = True
        return True


@attrs.frozen(slots=True)
class Ban:
    """A banned host (a canonical IP literal) and until when (Unix seconds)."""

    host: str
    until: float
    reason: str


class BanList:
    """Timed bans by host, persisted in ``path`` (a JSON file; ``None`` keeps them in
    memory) at each :meth:`ban` and :meth:`unban`. Expired bans are pruned on load and
    whenever the list is read. ``clock`` gives Unix seconds."""

    def __init__(self, path: Path | None, *, clock: Callable[[], float] = time.time) -> None:
        self.path = None if path is None else Path(path)
        self._clock = clock
        self._lock = threading.Lock()
        self._bans: dict[str, Ban] = {}
        if self.path is not None:
            self._load(self.path)

    def ban(self, host: str, seconds: float, reason: str) -> Ban:
        """Ban ``host`` for ``seconds`` (an existing longer ban is kept, with the new
        reason) and save the list. A failed save is logged, not raised: the ban holds in
        memory all the same."""
        host = canonical_host(host)
        if (
            isinstance(seconds, bool)
            or not isinstance(seconds, int | float)
            or not math.isfinite(seconds)
            or seconds <= 0
        ):
            raise ValueError(f"a ban lasts a positive number of seconds, not {seconds!r}")
        with self._lock:
            now = self._clock()
            self._prune(now)
            until = now + seconds
            old = self._bans.get(host)
            if old is not None:
                until = max(until, old.until)
            elif len(self._bans) >= MAX_BANS:
                first = min(self._bans.values(), key=lambda item: item.until)
                del self._bans[first.host]
            ban = Ban(host, until, str(reason)[:MAX_REASON])
            self._bans[host] = ban
            self._persist()
        return ban

    def unban(self, host: str) -> bool:
        """Lift the ban on ``host``; whether there was one."""
        host = canonical_host(host)
        with self._lock:
            self._prune(self._clock())
            if self._bans.pop(host, None) is None:
                return False
            self._persist()
            return True

    def is_banned(self, host: str) -> bool:
        host = canonical_host(host)
        with self._lock:
            ban = self._bans.get(host)
            if ban is None:
                return False
            if ban.until > self._clock():
                return True
            del self._bans[host]
            return False

    def entries(self) -> list[Ban]:
        """The bans in force, the first to expire first."""
        with self._lock:
            self._prune(self._clock())
            return sorted(self._bans.values(), key=lambda ban: (ban.until, ban.host))

    def _prune(self, now: float) -> None:
        for host in [host for host, ban in self._bans.items() if ban.until <= now]:
            del self._bans[host]

    def _persist(self) -> None:
        if self.path is None:
            return
        document = {
            "version": FORMAT_VERSION,
            "bans": [
                {"host": ban.host, "until": ban.until, "reason": ban.reason}
                for ban in self._bans.values()
            ],
        }
        data = json.dumps(document, separators=(",", ":"), allow_nan=False).encode()
        try:
            write_atomic(self.path, data)
        except OSError as exc:
            logger.warning("could not save the ban list to %s: %s", self.path, exc)

    def _load(self, path: Path) -> None:
        document = _read_document(path, ("bans",), "ban list")
        if document is None:
            return
        now = self._clock()
        skipped = 0
        for item in document["bans"]:
            ban = _ban_from_json(item)
            if ban is None:
                skipped += 1
            elif ban.until > now:
                old = self._bans.get(ban.host)
                if old is not None:
                    skipped += 1
                if old is None or old.until < ban.until:
                    self._bans[ban.host] = ban
        if len(self._bans) > MAX_BANS:
            kept = sorted(self._bans.values(), key=lambda ban: ban.until)[-MAX_BANS:]
            skipped += len(self._bans) - len(kept)
            self._bans = {ban.host: ban for ban in kept}
        if skipped:
            logger.warning("%s: skipped %d invalid or duplicate bans", path, skipped)


# -- JSON documents -------------------------------------------------------------------


def _is_int(value: Any, low: int, high: int) -> bool:
    return type(value) is int and low <= value <= high


def _is_number(value: Any) -> bool:
    return type(value) in (int, float) and math.isfinite(value) and value >= 0


def _address_json(address: PeerAddress) -> dict[str, Any]:
    return {
        "host": address.host,
        "port": address.port,
        "services": address.services,
        "last_seen": address.last_seen,
    }


def _entry_json(entry: _Entry) -> dict[str, Any]:
    item = _address_json(entry.address)
    item["failures"] = entry.failures
    item["last_success"] = entry.last_success
    if entry.source is not None:
        item["source"] = entry.source
    return item


def _address_from_json(item: Any) -> PeerAddress | None:
    """A routable address from ``{"host", "port", "services"?, "last_seen"?}``, or None."""
    if not isinstance(item, dict):
        return None
    host = item.get("host")
    port: Any = item.get("port")
    services: Any = item.get("services", 0)
    last_seen: Any = item.get("last_seen", 0)
    if not isinstance(host, str) or not is_routable(host):
        return None
    try:
        return PeerAddress(host, port, services=services, last_seen=last_seen)
    except InvalidPeerAddressError:
        return None


def _ban_from_json(item: Any) -> Ban | None:
    if not isinstance(item, dict):
        return None
    host = item.get("host")
    until: Any = item.get("until")
    reason = item.get("reason", "")
    if not isinstance(host, str) or not _is_number(until) or not isinstance(reason, str):
        return None
    try:
        if canonical_host(host) != host:
            return None
    except InvalidPeerAddressError:
        return None
    return Ban(host, float(until), reason[:MAX_REASON])


class _CorruptFileError(Exception):
    pass


def _read_document(path: Path, lists: tuple[str, ...], what: str) -> dict[str, Any] | None:
    """The checked document in ``path``: None when there is no file, or when the file is
    not a valid document (it is then moved aside). Other read errors propagate."""
    try:
        with path.open("rb") as handle:
            raw = handle.read(MAX_FILE_BYTES + 1)
    except FileNotFoundError:
        return None
    try:
        if len(raw) > MAX_FILE_BYTES:
            raise _CorruptFileError(f"larger than {MAX_FILE_BYTES} bytes")
        try:
            document = json.loads(raw.decode("utf-8"))
        except (ValueError, RecursionError) as exc:
            raise _CorruptFileError(f"not JSON: {exc}") from None
        if not isinstance(document, dict):
            raise _CorruptFileError("not a JSON object")
        version = document.get("version")
        if type(version) is not int or version != FORMAT_VERSION:
            raise _CorruptFileError(f"unknown version {version!r}")
        for name in lists:
            if not isinstance(document.get(name), list):
                raise _CorruptFileError(f"{name!r} is not a list")
    except _CorruptFileError as exc:
        aside = path.with_name(path.name + ".corrupt")
        try:
            os.replace(path, aside)
        except OSError as move_error:
            logger.warning(
                "%s is unusable (%s) and could not be moved aside (%s); starting with an empty %s",
                path,
                exc,
                move_error,
                what,
            )
        else:
            logger.warning(
                "%s is unusable (%s); moved it to %s and started with an empty %s",
                path,
                exc,
                aside.name,
                what,
            )
        return None
    return document
