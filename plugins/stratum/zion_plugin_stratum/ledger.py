"""The pool's durable accounting on a :class:`~zion_hookspecs.Storage`.

The ledger records accepted shares (only as many as the policy's window needs), found
blocks and their credits, each address's balances, and payment batches. Every state
change is one atomic :meth:`~zion_hookspecs.Storage.write_batch`, so a crash at any
instant leaves the state before or after a call, never between; a call that returned
is durable. Invalid input raises :class:`LedgerError` and writes nothing.

Balances of an address (atomic units):

``immature``
    credits of found blocks not yet ``coinbase_maturity`` deep;
``balance``
    credited and spendable: what the next payout batch may pay;
``in_flight``
    debited for a payment batch the wallet has not yet confirmed taking;
``paid``
    handed to the wallet (a transaction hash is known).

Invariant: for every address, ``balance + in_flight + paid`` is everything ever
credited to it (matured block credits and PPS share values), less payments the wallet
later reported failed, which return to ``balance``.

Block status: ``pending`` (found, credits counted as immature), ``orphaned`` (left the
main chain: immature credits reversed; a block that comes back on the main chain before
reaching maturity depth is pending again) and ``credited`` (maturity reached on the main
chain: credits moved to ``balance``). Maturing and crediting happen in one batch.

Candidates (the write-ahead of a found block): before the pool hands a block to the
node, :meth:`PoolLedger.record_candidate` stores it with its credits, computed from the
share window at that instant. :meth:`PoolLedger.record_block` turns the candidate into a
found block with those credits; :meth:`PoolLedger.resolve_candidates` settles candidates
left open (by a crash between the node connecting the block and ``record_block``)
against the chain. Candidates move no balance.

Keys: ``meta``; ``S`` + sequence (8 bytes) for shares; ``B`` + block id for blocks;
``U`` + height (8 bytes) + block id for blocks not settled yet; ``C`` + block id for
candidates; ``A`` + address for balances; ``P`` + batch id for payments; ``O`` + batch
id for payments not settled yet.
"""

from __future__ import annotations

import dataclasses
import json
import math
import os
import struct
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import cattrs

from zion_core.errors import ZionError
from zion_hookspecs import ShareRecord, Storage

from .policies import AccountingPolicy, BlockContext

BlockStatus = Literal["pending", "orphaned", "credited"]
PaymentStatus = Literal["intent", "sent", "settled", "failed"]

_META = b"meta"
_SHARE = b"S"
_BLOCK = b"B"
_UNSETTLED = b"U"
_ACCOUNT = b"A"
_PAYMENT = b"P"
_OPEN = b"O"
_CANDIDATE = b"C"
_SHARE_HEAD = struct.Struct(">QdH")
_U64 = 2**64


class LedgerError(ZionError, ValueError):
    """Bad input for the ledger, or a replay that contradicts what is recorded."""


@dataclass(frozen=True, slots=True)
class Balance:
    """One address's balances (see the module)."""

    address: str
    immature: int = 0
    balance: int = 0
    in_flight: int = 0
    paid: int = 0


@dataclass(frozen=True, slots=True)
class FoundBlock:
    """A block the pool found, with the credits computed when it was found."""

    block_id: bytes
    height: int
    reward: int
    status: BlockStatus
    credits: Mapping[str, int]
    network_difficulty: int
    finder: str | None
    found_at: float

    @property
    def fee(self) -> int:
        """What the credits leave to the pool."""
        return self.reward - sum(self.credits.values())


@dataclass(frozen=True, slots=True)
class Candidate:
    """A block the pool is handing to the node, with the credits it will have once found."""

    block_id: bytes
    height: int
    reward: int
    credits: Mapping[str, int]
    network_difficulty: int
    finder: str | None
    created_at: float


@dataclass(frozen=True, slots=True)
class Payment:
    """A payment batch: its id is the wallet transfer's idempotency key."""

    batch_id: str
    destinations: tuple[tuple[str, int], ...]
    status: PaymentStatus
    created_at: float
    tx_hash: str = ""
    reason: str = ""

    @property
    def total(self) -> int:
        """The sum of the destinations' amounts."""
        return sum(amount for _, amount in self.destinations)


@dataclass(slots=True)
class TipReport:
    """What one :meth:`PoolLedger.on_tip` changed (block ids)."""

    credited: list[bytes] = field(default_factory=list)
    orphaned: list[bytes] = field(default_factory=list)
    reinstated: list[bytes] = field(default_factory=list)
    finalised_orphans: list[bytes] = field(default_factory=list)


@dataclass(slots=True)
class CandidateReport:
    """What one :meth:`PoolLedger.resolve_candidates` did (block ids)."""

    recorded: list[bytes] = field(default_factory=list)
    dropped: list[bytes] = field(default_factory=list)
    kept: list[bytes] = field(default_factory=list)


def _u64(n: int) -> bytes:
    return n.to_bytes(8, "big")


def _dumps(obj: object) -> bytes:
    return json.dumps(obj, separators=(",", ":"), sort_keys=True).encode()


def _check_int(what: str, value: object, minimum: int = 0) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise LedgerError(f"{what} must be an integer >= {minimum}, not {value!r}")
    return value


def _check_address(what: str, value: object) -> str:
    if not isinstance(value, str) or not value or not value.isprintable():
        raise LedgerError(f"{what} must be a non-empty printable string, not {value!r}")
    return value


def encode_share(share: ShareRecord) -> bytes:
    """The compact form of a share: difficulty, timestamp, address, worker."""
    address = share.address.encode()
    return (
        _SHARE_HEAD.pack(share.difficulty, share.timestamp, len(address))
        + address
        + share.worker.encode()
    )


def decode_share(value: bytes) -> ShareRecord:
    """The inverse of :func:`encode_share`."""
    difficulty, timestamp, length = _SHARE_HEAD.unpack_from(value)
    start = _SHARE_HEAD.size
    address = value[start : start + length].decode()
    return ShareRecord(address, difficulty, timestamp, value[start + length :].decode())


class _Batch:
    """The puts and deletes of one state change, with the balances it touches."""

    def __init__(self, storage: Storage) -> None:
        self.storage = storage
        self.puts: dict[bytes, bytes] = {}
        self.deletes: set[bytes] = set()
        self.accounts: dict[str, dict[str, int]] = {}

    def put(self, key: bytes, value: bytes) -> None:
        self.deletes.discard(key)
        self.puts[key] = value

    def delete(self, key: bytes) -> None:
        self.puts.pop(key, None)
        self.deletes.add(key)

    def account(self, address: str) -> dict[str, int]:
        if address not in self.accounts:
            raw = self.storage.get(_ACCOUNT + address.encode())
            fields = json.loads(raw) if raw is not None else {}
            self.accounts[address] = {
                k: int(fields.get(k, 0)) for k in ("immature", "balance", "in_flight", "paid")
            }
        return self.accounts[address]

    def move(self, address: str, amount: int, source: str | None, target: str | None) -> None:
        account = self.account(address)
        if source is not None:
            account[source] -= amount
        if target is not None:
            account[target] += amount

    def commit(self) -> None:
        for address, account in self.accounts.items():
            if any(v < 0 for v in account.values()):
                raise LedgerError(f"the balances of {address!r} would become negative: {account}")
            self.put(_ACCOUNT + address.encode(), _dumps(account))
        if self.puts or self.deletes:
            self.storage.write_batch(self.puts, sorted(self.deletes))


_RECORDS = cattrs.Converter()
"""The JSON shape of found blocks, candidates and payments (their ids live in the keys)."""


def _block_from(block_id: bytes, raw: bytes) -> FoundBlock:
    return _RECORDS.structure({**json.loads(raw), "block_id": block_id}, FoundBlock)


def _block_value(block: FoundBlock) -> bytes:
    obj = _RECORDS.unstructure(block)
    del obj["block_id"]
    return _dumps(obj)


def _candidate_from(block_id: bytes, raw: bytes) -> Candidate:
    return _RECORDS.structure({**json.loads(raw), "block_id": block_id}, Candidate)


def _candidate_value(candidate: Candidate) -> bytes:
    obj = _RECORDS.unstructure(candidate)
    del obj["block_id"]
    return _dumps(obj)


def _check_block_id(block_id: object) -> bytes:
    if not isinstance(block_id, bytes) or not block_id:
        raise LedgerError(f"a block id must be non-empty bytes, not {block_id!r}")
    return block_id


def _payment_from(raw: bytes) -> Payment:
    return _RECORDS.structure(json.loads(raw), Payment)


def _payment_value(payment: Payment) -> bytes:
    return _dumps(_RECORDS.unstructure(payment))


class PoolLedger:
    """The pool's accounting over one open store (see the module for the model).

    ``maturity`` is the chain's ``coinbase_maturity``: a block's credits become
    spendable once the tip is ``maturity`` blocks above it. ``prune_factor`` is how many
    windows of shares :meth:`prune_shares` keeps (the network difficulty may rise before
    the next block). Thread-safe: one lock serialises every call. Calls block on the
    store's fsync: from async code, call them in a worker thread.
    """

    def __init__(
        self,
        storage: Storage,
        policy: AccountingPolicy,
        *,
        maturity: int,
        prune_factor: int = 2,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.storage = storage
        self.policy = policy
        self.maturity = _check_int("maturity", maturity)
        self.prune_factor = _check_int("prune_factor", prune_factor, 1)
        self._clock = clock
        self._lock = threading.RLock()
        with self._lock:
            if storage.get(_META) is None:
                meta = {"instance": os.urandom(8).hex(), "share_seq": 0, "batch_seq": 0}
                storage.write_batch({_META: _dumps(meta)})

    # ------------------------------------------------------------------------- meta

    def _meta(self) -> dict[str, Any]:
        raw = self.storage.get(_META)
        if raw is None:
            raise LedgerError("the ledger's store has no meta record")
        meta: dict[str, Any] = json.loads(raw)
        return meta

    @property
    def instance(self) -> str:
        """A random id made when the ledger was created: part of every batch id."""
        return str(self._meta()["instance"])

    # ----------------------------------------------------------------------- shares

    def record_shares(
        self, shares: Sequence[ShareRecord], *, network_difficulty: int, block_reward: int
    ) -> int:
        """Record accepted shares in one batch; returns what they were credited (PPS).

        ``network_difficulty`` and ``block_reward`` are the current job's (PPS values a
        share by them). Shares are stored only when the policy needs a window. Once this
        returns, the shares are durable: acknowledge them to the miners after it.
        """
        network_difficulty = _check_int("network_difficulty", network_difficulty, 1)
        block_reward = _check_int("block_reward", block_reward)
        checked: list[ShareRecord] = []
        for share in shares:
            if not isinstance(share, ShareRecord):
                raise LedgerError(f"a share must be a ShareRecord, not {share!r}")
            _check_address("a share's address", share.address)
            if share.difficulty >= _U64:
                raise LedgerError(
                    f"a share's difficulty must be below 2^64, not {share.difficulty}"
                )
            _check_int("a share's difficulty", share.difficulty, 1)
            if not isinstance(share.timestamp, int | float) or not math.isfinite(share.timestamp):
                raise LedgerError(
                    f"a share's timestamp must be a finite number, not {share.timestamp!r}"
                )
            if not isinstance(share.worker, str):
                raise LedgerError(f"a share's worker must be a string, not {share.worker!r}")
            checked.append(share)
        if not checked:
            return 0
        with self._lock:
            batch = _Batch(self.storage)
            credited = 0
            if self.policy.window_difficulty(network_difficulty) > 0:
                meta = self._meta()
                seq = int(meta["share_seq"])
                for share in checked:
                    batch.put(_SHARE + _u64(seq), encode_share(share))
                    seq += 1
                meta["share_seq"] = seq
                batch.put(_META, _dumps(meta))
            for share in checked:
                value = self.policy.share_value(
                    share, block_reward=block_reward, network_difficulty=network_difficulty
                )
                if value > 0:
                    batch.move(share.address, value, None, "balance")
                    credited += value
            batch.commit()
            return credited

    def recent_shares(self) -> list[ShareRecord]:
        """The stored shares, newest first."""
        with self._lock:
            shares = [decode_share(v) for _, v in self.storage.iter_prefix(_SHARE)]
        shares.reverse()
        return shares

    def _prunable(self, network_difficulty: int) -> list[bytes]:
        keep = self.prune_factor * self.policy.window_difficulty(network_difficulty)
        doomed: list[bytes] = []
        for key, value in reversed(list(self.storage.iter_prefix(_SHARE))):
            if keep > 0:
                keep -= min(keep, decode_share(value).difficulty)
            else:
                doomed.append(key)
        return doomed

    def prune_shares(self, network_difficulty: int) -> int:
        """Delete shares older than ``prune_factor`` windows; returns how many.

        Found blocks keep their credits, so old shares are needed by no block; only
        future windows need recent ones. Call it now and then (every new network block).
        """
        network_difficulty = _check_int("network_difficulty", network_difficulty, 1)
        with self._lock:
            doomed = self._prunable(network_difficulty)
            if doomed:
                self.storage.write_batch({}, doomed)
            return len(doomed)

    # ----------------------------------------------------------------------- blocks

    def _split(self, reward: int, network_difficulty: int, finder: str | None) -> dict[str, int]:
        """The credits of a block found now: the policy's split of the current window."""
        shares = self.recent_shares() if self.policy.window_difficulty(network_difficulty) else []
        credits = dict(
            self.policy.split_block(reward, shares, BlockContext(network_difficulty, finder))
        )
        if (
            any(_check_int("a credit", v) < 0 for v in credits.values())
            or sum(credits.values()) > reward
        ):
            raise LedgerError(f"policy {self.policy.name!r} credited more than the reward")
        return {a: v for a, v in sorted(credits.items()) if v > 0}

    @staticmethod
    def _add_found(batch: _Batch, block: FoundBlock) -> None:
        batch.put(_BLOCK + block.block_id, _block_value(block))
        batch.put(_UNSETTLED + _u64(block.height) + block.block_id, b"")
        batch.delete(_CANDIDATE + block.block_id)
        for address, amount in block.credits.items():
            batch.move(address, amount, None, "immature")

    @staticmethod
    def _from_candidate(candidate: Candidate) -> FoundBlock:
        return FoundBlock(
            block_id=candidate.block_id,
            height=candidate.height,
            reward=candidate.reward,
            status="pending",
            credits=dict(candidate.credits),
            network_difficulty=candidate.network_difficulty,
            finder=candidate.finder,
            found_at=candidate.created_at,
        )

    def _known(self, block_id: bytes, height: int, reward: int) -> FoundBlock | None:
        """The recorded block ``block_id``, checked against ``height`` and ``reward``."""
        raw = self.storage.get(_BLOCK + block_id)
        if raw is None:
            return None
        known = _block_from(block_id, raw)
        if (known.height, known.reward) != (height, reward):
            raise LedgerError(
                f"block {block_id.hex()} is recorded at height {known.height} with reward "
                f"{known.reward}, not height {height} with reward {reward}"
            )
        return known

    def record_candidate(
        self,
        block_id: bytes,
        height: int,
        reward: int,
        *,
        network_difficulty: int,
        finder: str | None = None,
        created_at: float | None = None,
    ) -> Candidate | None:
        """Write ahead a block about to be handed to the node: its credits are computed
        from the window now and kept until :meth:`record_block` or
        :meth:`resolve_candidates` settles it. Call it, and let it return, before the
        block is submitted.

        Idempotent: the same candidate again returns the stored one; ``None`` when the
        block is already recorded as found. Another height or reward for the same id is a
        :class:`LedgerError`. No balance moves.
        """
        block_id = _check_block_id(block_id)
        height = _check_int("height", height)
        reward = _check_int("reward", reward)
        network_difficulty = _check_int("network_difficulty", network_difficulty, 1)
        if finder is not None:
            _check_address("finder", finder)
        with self._lock:
            if self._known(block_id, height, reward) is not None:
                return None
            raw = self.storage.get(_CANDIDATE + block_id)
            if raw is not None:
                known = _candidate_from(block_id, raw)
                if (known.height, known.reward) != (height, reward):
                    raise LedgerError(
                        f"candidate {block_id.hex()} is recorded at height {known.height} with "
                        f"reward {known.reward}, not height {height} with reward {reward}"
                    )
                return known
            candidate = Candidate(
                block_id=block_id,
                height=height,
                reward=reward,
                credits=self._split(reward, network_difficulty, finder),
                network_difficulty=network_difficulty,
                finder=finder,
                created_at=self._clock() if created_at is None else float(created_at),
            )
            self.storage.write_batch({_CANDIDATE + block_id: _candidate_value(candidate)})
            return candidate

    def candidate(self, block_id: bytes) -> Candidate | None:
        """The open candidate ``block_id``, or ``None``."""
        with self._lock:
            raw = self.storage.get(_CANDIDATE + block_id)
        return None if raw is None else _candidate_from(block_id, raw)

    def candidates(self) -> list[Candidate]:
        """The open candidates, by height then id."""
        with self._lock:
            found = [_candidate_from(k[1:], v) for k, v in self.storage.iter_prefix(_CANDIDATE)]
        found.sort(key=lambda c: (c.height, c.block_id))
        return found

    def record_block(
        self,
        block_id: bytes,
        height: int,
        reward: int,
        *,
        network_difficulty: int,
        finder: str | None = None,
        found_at: float | None = None,
    ) -> FoundBlock:
        """Record a found block and its pending credits.

        With an open candidate of the same id, the block gets the candidate's credits,
        network difficulty, finder and time (the window as it was when the block was
        found), and the candidate is closed in the same batch. Without one, the credits
        are computed from the window now.

        Idempotent: the same block again (same height and reward) returns what was
        recorded and changes nothing; the same id with another height or reward (also
        than its candidate's) is a :class:`LedgerError`. Old shares are pruned in the same
        batch.
        """
        block_id = _check_block_id(block_id)
        height = _check_int("height", height)
        reward = _check_int("reward", reward)
        network_difficulty = _check_int("network_difficulty", network_difficulty, 1)
        if finder is not None:
            _check_address("finder", finder)
        with self._lock:
            known = self._known(block_id, height, reward)
            if known is not None:
                return known
            candidate = self.candidate(block_id)
            if candidate is not None:
                if (candidate.height, candidate.reward) != (height, reward):
                    raise LedgerError(
                        f"block {block_id.hex()} was a candidate at height {candidate.height} "
                        f"with reward {candidate.reward}, not height {height} with reward "
                        f"{reward}"
                    )
                block = self._from_candidate(candidate)
            else:
                block = FoundBlock(
                    block_id=block_id,
                    height=height,
                    reward=reward,
                    status="pending",
                    credits=self._split(reward, network_difficulty, finder),
                    network_difficulty=network_difficulty,
                    finder=finder,
                    found_at=self._clock() if found_at is None else float(found_at),
                )
            batch = _Batch(self.storage)
            self._add_found(batch, block)
            for key in self._prunable(network_difficulty):
                batch.delete(key)
            batch.commit()
            return block

    def resolve_candidates(
        self,
        height: int,
        is_main: Callable[[bytes], bool],
        has_block: Callable[[bytes], bool],
        *,
        restart: bool = False,
    ) -> CandidateReport:
        """Settle the open candidates against the chain, whose tip is at ``height``.

        A candidate on the main chain (``is_main``) is recorded as a found block exactly
        as :meth:`record_block` would with its candidate. One the chain has on a side
        branch (``has_block``) is kept until ``maturity`` blocks below the tip (it may
        still become main), then dropped. One the chain does not have is dropped once the
        tip reaches its height (the node has either refused it or another block won that
        height); with ``restart`` (nothing is being submitted), at once. All of it is one
        batch.
        """
        height = _check_int("height", height)
        report = CandidateReport()
        with self._lock:
            batch = _Batch(self.storage)
            for candidate in self.candidates():
                block_id = candidate.block_id
                if self.storage.get(_BLOCK + block_id) is not None:
                    batch.delete(_CANDIDATE + block_id)  # recorded meanwhile: nothing left
                    continue
                if is_main(block_id):
                    self._add_found(batch, self._from_candidate(candidate))
                    report.recorded.append(block_id)
                elif has_block(block_id):
                    if height - candidate.height >= self.maturity:
                        batch.delete(_CANDIDATE + block_id)
                        report.dropped.append(block_id)
                    else:
                        report.kept.append(block_id)
                elif restart or candidate.height <= height:
                    batch.delete(_CANDIDATE + block_id)
                    report.dropped.append(block_id)
                else:
                    report.kept.append(block_id)
            batch.commit()
        return report

    def block(self, block_id: bytes) -> FoundBlock | None:
        """The recorded block, or ``None``."""
        with self._lock:
            raw = self.storage.get(_BLOCK + block_id)
        return None if raw is None else _block_from(block_id, raw)

    def blocks(self) -> list[FoundBlock]:
        """Every recorded block, by id."""
        with self._lock:
            return [_block_from(k[1:], v) for k, v in self.storage.iter_prefix(_BLOCK)]

    def on_tip(self, height: int, is_main: Callable[[bytes], bool]) -> TipReport:
        """Settle the blocks not yet settled against the main chain, now at ``height``.

        ``is_main(block_id)`` says whether a block is on the main chain. A pending block
        that is not becomes ``orphaned`` (its immature credits reversed); an orphaned one
        that is again becomes ``pending``. Once ``height - block height >= maturity``, a
        pending block is ``credited`` (its credits become spendable) and an orphaned one
        is final. All of it is one batch.
        """
        height = _check_int("height", height)
        report = TipReport()
        with self._lock:
            batch = _Batch(self.storage)
            for key, _ in list(self.storage.iter_prefix(_UNSETTLED)):
                block_id = key[9:]
                raw = self.storage.get(_BLOCK + block_id)
                if raw is None:
                    batch.delete(key)
                    continue
                block = _block_from(block_id, raw)
                status: BlockStatus = block.status
                main = bool(is_main(block_id))
                if status == "pending" and not main:
                    status = "orphaned"
                    report.orphaned.append(block_id)
                    for address, amount in block.credits.items():
                        batch.move(address, amount, "immature", None)
                elif status == "orphaned" and main:
                    status = "pending"
                    report.reinstated.append(block_id)
                    for address, amount in block.credits.items():
                        batch.move(address, amount, None, "immature")
                if height - block.height >= self.maturity:
                    batch.delete(key)
                    if status == "pending":
                        status = "credited"
                        report.credited.append(block_id)
                        for address, amount in block.credits.items():
                            batch.move(address, amount, "immature", "balance")
                    else:
                        report.finalised_orphans.append(block_id)
                if status != block.status:
                    batch.put(
                        _BLOCK + block_id, _block_value(dataclasses.replace(block, status=status))
                    )
            batch.commit()
        return report

    # --------------------------------------------------------------------- balances

    def balance(self, address: str) -> Balance:
        """The balances of ``address`` (all 0 when it has none)."""
        with self._lock:
            raw = self.storage.get(_ACCOUNT + address.encode())
        fields = json.loads(raw) if raw is not None else {}
        return Balance(address, **{k: int(v) for k, v in fields.items()})

    def balances(self) -> list[Balance]:
        """Every address's balances, by address."""
        with self._lock:
            pairs = list(self.storage.iter_prefix(_ACCOUNT))
        return [
            Balance(k[1:].decode(), **{f: int(v) for f, v in json.loads(raw).items()})
            for k, raw in pairs
        ]

    # --------------------------------------------------------------------- payments

    def payment(self, batch_id: str) -> Payment | None:
        """The payment batch ``batch_id``, or ``None``."""
        with self._lock:
            raw = self.storage.get(_PAYMENT + batch_id.encode())
        return None if raw is None else _payment_from(raw)

    def payments(self) -> list[Payment]:
        """Every payment batch, by id."""
        with self._lock:
            return [_payment_from(v) for _, v in self.storage.iter_prefix(_PAYMENT)]

    def open_payments(self) -> list[Payment]:
        """The batches not settled yet (``intent`` or ``sent``), oldest first."""
        with self._lock:
            found = []
            for key, _ in self.storage.iter_prefix(_OPEN):
                raw = self.storage.get(_PAYMENT + key[1:])
                if raw is not None:
                    found.append(_payment_from(raw))
        found.sort(key=lambda p: (p.created_at, p.batch_id))
        return found

    def open_payment(
        self, *, threshold: int, max_destinations: int, budget: int | None = None
    ) -> Payment | None:
        """Write a payment intent and debit its amounts, in one batch; ``None`` if nobody is due
        (or nobody due fits in ``budget``).

        The batch pays the whole ``balance`` of up to ``max_destinations`` addresses whose
        balance is at least ``threshold``, the largest first; with a ``budget`` (what the
        wallet can pay now), a balance that would take the batch's total above it is left
        for later and the next smaller one tried. Its id, the wallet's idempotency key, is
        ``pool-<ledger instance>-<sequence>``.
        """
        threshold = _check_int("threshold", threshold, 1)
        max_destinations = _check_int("max_destinations", max_destinations, 1)
        if budget is not None:
            budget = _check_int("budget", budget)
        with self._lock:
            ranked = sorted(
                ((b.balance, b.address) for b in self.balances() if b.balance >= threshold),
                key=lambda item: (-item[0], item[1]),
            )
            due: list[tuple[int, str]] = []
            left = budget
            for amount, address in ranked:
                if len(due) == max_destinations:
                    break
                if left is not None:
                    if amount > left:
                        continue
                    left -= amount
                due.append((amount, address))
            if not due:
                return None
            meta = self._meta()
            meta["batch_seq"] = int(meta["batch_seq"]) + 1
            payment = Payment(
                batch_id=f"pool-{meta['instance']}-{meta['batch_seq']}",
                destinations=tuple((address, amount) for amount, address in due),
                status="intent",
                created_at=self._clock(),
            )
            batch = _Batch(self.storage)
            batch.put(_META, _dumps(meta))
            batch.put(_PAYMENT + payment.batch_id.encode(), _payment_value(payment))
            batch.put(_OPEN + payment.batch_id.encode(), b"")
            for address, amount in payment.destinations:
                batch.move(address, amount, "balance", "in_flight")
            batch.commit()
            return payment

    def _payment_or_fail(self, batch_id: str) -> Payment:
        payment = self.payment(batch_id)
        if payment is None:
            raise LedgerError(f"no payment batch {batch_id!r}")
        return payment

    def mark_sent(self, batch_id: str, tx_hash: str) -> Payment:
        """The wallet took batch ``batch_id`` as ``tx_hash``: its amounts are ``paid``.

        Marking a sent batch sent again with the same hash changes nothing.
        """
        if not isinstance(tx_hash, str) or not tx_hash:
            raise LedgerError(f"a transaction hash must be a non-empty string, not {tx_hash!r}")
        with self._lock:
            payment = self._payment_or_fail(batch_id)
            if payment.status in ("sent", "settled") and payment.tx_hash == tx_hash:
                return payment
            if payment.status != "intent":
                raise LedgerError(f"payment {batch_id!r} is {payment.status}, it cannot be sent")
            sent = dataclasses.replace(payment, status="sent", tx_hash=tx_hash)
            batch = _Batch(self.storage)
            batch.put(_PAYMENT + batch_id.encode(), _payment_value(sent))
            for address, amount in payment.destinations:
                batch.move(address, amount, "in_flight", "paid")
            batch.commit()
            return sent

    def mark_settled(self, batch_id: str) -> Payment:
        """A sent batch is deep enough on chain: no longer watched."""
        with self._lock:
            payment = self._payment_or_fail(batch_id)
            if payment.status == "settled":
                return payment
            if payment.status != "sent":
                raise LedgerError(f"payment {batch_id!r} is {payment.status}, it cannot settle")
            settled = dataclasses.replace(payment, status="settled")
            self.storage.write_batch(
                {_PAYMENT + batch_id.encode(): _payment_value(settled)}, [_OPEN + batch_id.encode()]
            )
            return settled

    def mark_failed(self, batch_id: str, reason: str) -> Payment:
        """The wallet refused batch ``batch_id`` (or its transaction failed): amounts return
        to ``balance``. A failed batch failed again changes nothing."""
        with self._lock:
            payment = self._payment_or_fail(batch_id)
            if payment.status == "failed":
                return payment
            if payment.status == "settled":
                raise LedgerError(f"payment {batch_id!r} is settled, it cannot fail")
            source = "in_flight" if payment.status == "intent" else "paid"
            failed = dataclasses.replace(payment, status="failed", reason=str(reason))
            batch = _Batch(self.storage)
            batch.put(_PAYMENT + batch_id.encode(), _payment_value(failed))
            batch.delete(_OPEN + batch_id.encode())
            for address, amount in payment.destinations:
                batch.move(address, amount, source, "balance")
            batch.commit()
            return failed


def total_credited(ledger: PoolLedger) -> int:
    """``balance + in_flight + paid`` over every address: everything credited and not failed."""
    return sum(b.balance + b.in_flight + b.paid for b in ledger.balances())


__all__ = [
    "Balance",
    "BlockStatus",
    "Candidate",
    "CandidateReport",
    "FoundBlock",
    "LedgerError",
    "Payment",
    "PaymentStatus",
    "PoolLedger",
    "TipReport",
    "decode_share",
    "encode_share",
    "total_credited",
]
