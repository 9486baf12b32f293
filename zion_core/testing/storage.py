"""Conformance tests for :class:`~zion_hookspecs.Storage` backends.

A storage plugin reuses them by subclassing :class:`StorageConformance` in a test module
and overriding one fixture, ``make_store``::

    from zion_core.testing.storage import StorageConformance


    class TestMyEngineConformance(StorageConformance):
        @pytest.fixture
        def make_store(self) -> StoreFactory:
            engine = MyEngine()
            return lambda where: engine.open(where / "store.db")

``make_store(directory)`` opens the store kept in ``directory`` (an existing, empty
directory at first), creating it when missing, and opens the same store again on a
later call with the same directory. The class attributes :attr:`closed_error` and
:attr:`invalid_error` narrow the exceptions expected after ``close()`` and for keys or
values that are not ``bytes``.

The contract checked here (docs/storage.md): keys and values are ``bytes``; a value may
be empty; ``iter_prefix`` yields ``(key, value)`` pairs in ``bytes`` order, exactly the
keys starting with the prefix (the empty prefix means every key); ``write_batch`` applies
the puts, then the deletes, all or nothing (a key both put and deleted ends up absent;
deleting a missing key is no error); a rejected batch changes nothing; what was written
is there after the store is closed and reopened; ``close()`` may be called twice; any
other use after it raises. :meth:`StorageConformance.test_matches_a_dict_model` runs a
Hypothesis state machine that compares random operations against a ``dict``.

Requires ``pytest`` and ``hypothesis`` (ZION's ``test`` dependency group).
"""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Callable, Iterable, Iterator, Mapping
from pathlib import Path
from typing import Any, ClassVar

import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    invariant,
    rule,
    run_state_machine_as_test,
)

from zion_hookspecs import Storage

StoreFactory = Callable[[Path], Storage]
"""Opens (or reopens) the store kept in a directory."""

ExceptionTypes = type[BaseException] | tuple[type[BaseException], ...]

# Keys built from a few byte values, so that random keys collide, share prefixes and
# end in 0xff (the edge of a prefix range).
_BYTE = st.sampled_from([0x00, 0x01, 0x61, 0x7F, 0xFE, 0xFF])
KEYS = st.lists(_BYTE, min_size=1, max_size=4).map(bytes)
PREFIXES = st.lists(_BYTE, max_size=3).map(bytes)
VALUES = st.binary(max_size=16)

# Keys around the edges of prefix ranges: 0x00 and 0xff bytes, nested prefixes.
EDGE_KEYS = [
    b"\x00",
    b"\x00\x00",
    b"\x00\xff",
    b"a",
    b"a\x00",
    b"a\x00\x00",
    b"a\x7f",
    b"a\xfe\xff",
    b"a\xff",
    b"a\xff\x00",
    b"a\xff\xff",
    b"a\xff\xff\xff",
    b"ab",
    b"b",
    b"b\x00",
    b"\xfe",
    b"\xfe\xff",
    b"\xff",
    b"\xff\x00",
    b"\xff\xff",
    b"\xff\xff\xff",
]
EDGE_PREFIXES = [b"", b"\x00", b"a", b"a\x00", b"a\xff", b"a\xff\xff", b"b", b"\xfe"]
EDGE_PREFIXES += [b"\xff", b"\xff\xff", b"\xff\xff\xff\xff", b"c", b"a\xfe"]


def model_scan(model: Mapping[bytes, bytes], prefix: bytes) -> list[tuple[bytes, bytes]]:
    """What ``iter_prefix(prefix)`` must yield for a store holding ``model``."""
    return sorted((k, v) for k, v in model.items() if k.startswith(prefix))


def apply_batch(
    model: dict[bytes, bytes], puts: Mapping[bytes, bytes], deletes: Iterable[bytes] = ()
) -> None:
    """Apply a batch to a ``dict`` model: the puts, then the deletes."""
    model.update(puts)
    for key in deletes:
        model.pop(key, None)


def dump(store: Storage) -> dict[bytes, bytes]:
    """Every pair in ``store``, checking on the way that keys come in increasing order."""
    pairs = list(store.iter_prefix(b""))
    keys = [key for key, _ in pairs]
    assert keys == sorted(set(keys)), "iter_prefix(b'') is not in strictly increasing order"
    return dict(pairs)


class StorageModel(RuleBasedStateMachine):
    """Random batches, reads, scans and reopens, checked against a ``dict``.

    Subclassed per test with the class attributes ``factory`` (a :data:`StoreFactory`)
    and ``root`` (where each run makes its own directory).
    """

    factory: ClassVar[StoreFactory]
    root: ClassVar[Path]
    invalid_error: ClassVar[ExceptionTypes] = (TypeError, ValueError)

    def __init__(self) -> None:
        super().__init__()
        self.where = Path(tempfile.mkdtemp(dir=self.root))
        self.store = type(self).factory(self.where)
        self.model: dict[bytes, bytes] = {}

    @rule(
        puts=st.dictionaries(KEYS, VALUES, max_size=6),
        deletes=st.lists(KEYS, max_size=4),
    )
    def write_batch(self, puts: dict[bytes, bytes], deletes: list[bytes]) -> None:
        self.store.write_batch(puts, deletes)
        apply_batch(self.model, puts, deletes)

    @rule(puts=st.dictionaries(KEYS, VALUES, min_size=1, max_size=4), deletes=st.lists(KEYS))
    def rejected_batch(self, puts: dict[bytes, bytes], deletes: list[bytes]) -> None:
        bad: dict[bytes, Any] = dict(puts)
        bad[next(iter(puts))] = "not bytes"
        with pytest.raises(self.invalid_error):
            self.store.write_batch(bad, deletes)

    @rule(key=KEYS)
    def get(self, key: bytes) -> None:
        assert self.store.get(key) == self.model.get(key)

    @rule(prefix=PREFIXES)
    def iter_prefix(self, prefix: bytes) -> None:
        assert list(self.store.iter_prefix(prefix)) == model_scan(self.model, prefix)

    @rule()
    def reopen(self) -> None:
        self.store.close()
        self.store = type(self).factory(self.where)

    @invariant()
    def same_contents(self) -> None:
        assert dump(self.store) == self.model

    def teardown(self) -> None:
        self.store.close()
        shutil.rmtree(self.where, ignore_errors=True)


class StorageConformance:
    """The storage contract as pytest tests; subclass it and override ``make_store``."""

    closed_error: ClassVar[ExceptionTypes] = Exception
    """What any use of a closed store raises (narrow it to the backend's error)."""

    invalid_error: ClassVar[ExceptionTypes] = (TypeError, ValueError)
    """What a key, value or prefix that is not ``bytes`` raises."""

    model_settings: ClassVar[settings] = settings(
        max_examples=40,
        stateful_step_count=25,
        deadline=None,
        database=None,
        suppress_health_check=[HealthCheck.too_slow],
    )
    """Hypothesis settings of :meth:`test_matches_a_dict_model`."""

    @pytest.fixture
    def make_store(self) -> StoreFactory:
        """Override: return a callable that opens (or reopens) the store in a directory."""
        raise NotImplementedError(
            f"{type(self).__name__} must override the make_store fixture "
            "(see zion_core.testing.storage)"
        )

    @pytest.fixture
    def store(self, make_store: StoreFactory, tmp_path: Path) -> Iterator[Storage]:
        """A fresh store in ``tmp_path``, closed after the test."""
        store = make_store(tmp_path)
        yield store
        store.close()

    @pytest.fixture
    def reopen(self, make_store: StoreFactory, tmp_path: Path) -> Iterator[Callable[[], Storage]]:
        """Opens the store of ``tmp_path`` again; every store it opened is closed after."""
        opened: list[Storage] = []

        def again() -> Storage:
            opened.append(make_store(tmp_path))
            return opened[-1]

        yield again
        for store in opened:
            store.close()

    # -- reads and writes -----------------------------------------------------------

    def test_missing_key_is_none(self, store: Storage) -> None:
        assert store.get(b"missing") is None
        assert list(store.iter_prefix(b"")) == []

    def test_round_trip(self, store: Storage) -> None:
        every_byte = bytes(range(256))
        pairs = {b"k": b"v", b"zero\x00in\x00key": every_byte, b"empty": b"", b"\xff": b"\x00"}
        store.write_batch(pairs)
        for key, value in pairs.items():
            assert store.get(key) == value
            assert type(store.get(key)) is bytes
        assert dump(store) == pairs

    def test_large_value(self, store: Storage) -> None:
        value = bytes(range(256)) * 4096  # 1 MiB
        store.write_batch({b"big": value})
        assert store.get(b"big") == value

    def test_overwrite(self, store: Storage) -> None:
        store.write_batch({b"k": b"one", b"other": b"x"})
        store.write_batch({b"k": b"two"})
        assert store.get(b"k") == b"two"
        store.write_batch({b"k": b""})
        assert store.get(b"k") == b""
        assert dump(store) == {b"k": b"", b"other": b"x"}

    def test_delete(self, store: Storage) -> None:
        store.write_batch({b"a": b"1", b"b": b"2", b"c": b"3"})
        store.write_batch({}, deletes=[b"a", b"missing"])
        assert store.get(b"a") is None
        store.write_batch({}, deletes=iter([b"b"]))  # any iterable
        store.write_batch({}, deletes=(key for key in [b"b", b"c"]))  # again: no error
        assert dump(store) == {}

    def test_batch_puts_then_deletes(self, store: Storage) -> None:
        store.write_batch({b"old": b"1"})
        store.write_batch({b"new": b"2", b"both": b"3", b"old": b"4"}, deletes=[b"both", b"old"])
        assert dump(store) == {b"new": b"2"}

    def test_empty_batch(self, store: Storage) -> None:
        store.write_batch({b"k": b"v"})
        store.write_batch({})
        store.write_batch({}, deletes=[])
        assert dump(store) == {b"k": b"v"}

    def test_many_keys(self, store: Storage) -> None:
        model = {i.to_bytes(4, "big"): i.to_bytes(4, "little") for i in range(3000)}
        store.write_batch(model)
        assert list(store.iter_prefix(b"")) == sorted(model.items())
        assert list(store.iter_prefix(b"\x00\x00\x0b")) == model_scan(model, b"\x00\x00\x0b")

    # -- prefix scans ----------------------------------------------------------------

    @pytest.mark.parametrize("prefix", EDGE_PREFIXES, ids=lambda p: p.hex() or "empty")
    def test_iter_prefix_bounds(self, store: Storage, prefix: bytes) -> None:
        model = {key: key[::-1] + b"." for key in EDGE_KEYS}
        store.write_batch(model)
        assert list(store.iter_prefix(prefix)) == model_scan(model, prefix)

    def test_iter_prefix_is_bytes_order(self, store: Storage) -> None:
        keys = [b"b", b"a\xff", b"a", b"\x80", b"\x7f\xff", b"a\x00", b"ab", b"\x00"]
        store.write_batch({key: b"" for key in keys})
        assert [key for key, _ in store.iter_prefix(b"")] == sorted(keys)

    def test_iter_prefix_of_all_ff_bytes(self, store: Storage) -> None:
        model = {b"\xfe\xff": b"1", b"\xff": b"2", b"\xff\xff": b"3", b"\xff\xff\x00": b"4"}
        store.write_batch(model)
        assert list(store.iter_prefix(b"\xff")) == model_scan(model, b"\xff")
        assert list(store.iter_prefix(b"\xff\xff")) == model_scan(model, b"\xff\xff")
        assert list(store.iter_prefix(b"\xff\xff\xff")) == []

    # -- atomicity, persistence, errors ------------------------------------------------

    @pytest.mark.parametrize(
        ("puts", "deletes"),
        [
            ({b"new": b"1", b"k1": "text"}, [b"k2"]),
            ({b"new": b"1", b"k1": None}, []),
            ({b"new": b"1", b"k1": 7}, []),
            ({b"new": b"1", "text key": b"x"}, [b"k2"]),
            ({b"new": b"1"}, [b"k2", "text key"]),
            ({b"new": b"1"}, [b"k2", 7]),
        ],
        ids=["str-value", "none-value", "int-value", "str-key", "str-delete", "int-delete"],
    )
    def test_rejected_batch_changes_nothing(
        self, store: Storage, puts: dict[Any, Any], deletes: list[Any]
    ) -> None:
        before = {b"k1": b"v1", b"k2": b"v2"}
        store.write_batch(before)
        with pytest.raises(self.invalid_error):
            store.write_batch(puts, deletes)
        assert dump(store) == before
        store.write_batch({b"k3": b"v3"})  # still usable
        assert store.get(b"k3") == b"v3"

    def test_non_bytes_lookups_are_rejected(self, store: Storage) -> None:
        with pytest.raises(self.invalid_error):
            store.get("key")  # type: ignore[arg-type]
        with pytest.raises(self.invalid_error):
            list(store.iter_prefix("key"))  # type: ignore[arg-type]

    def test_reopen_keeps_data(self, store: Storage, reopen: Callable[[], Storage]) -> None:
        model = {b"a": b"1", b"b": b"2", b"c": b""}
        store.write_batch(model)
        store.write_batch({b"d": b"4"}, deletes=[b"b"])
        apply_batch(model, {b"d": b"4"}, [b"b"])
        store.close()
        again = reopen()
        assert dump(again) == model
        again.write_batch({b"e": b"5"})
        again.close()
        assert dump(reopen()) == {**model, b"e": b"5"}

    def test_close_is_idempotent_and_final(self, store: Storage) -> None:
        store.write_batch({b"k": b"v"})
        store.close()
        store.close()
        with pytest.raises(self.closed_error):
            store.get(b"k")
        with pytest.raises(self.closed_error):
            list(store.iter_prefix(b""))
        with pytest.raises(self.closed_error):
            store.write_batch({b"k": b"w"})
        with pytest.raises(self.closed_error):
            store.write_batch({}, deletes=[b"k"])

    # -- model-based -----------------------------------------------------------------

    def test_matches_a_dict_model(self, make_store: StoreFactory, tmp_path: Path) -> None:
        machine = type(
            "Model",
            (StorageModel,),
            {
                "factory": staticmethod(make_store),
                "root": tmp_path,
                "invalid_error": self.invalid_error,
            },
        )
        run_state_machine_as_test(machine, settings=self.model_settings)


__all__ = [
    "EDGE_KEYS",
    "EDGE_PREFIXES",
    "StorageConformance",
    "StorageModel",
    "StoreFactory",
    "apply_batch",
    "dump",
    "model_scan",
]
