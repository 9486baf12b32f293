"""The pool's accounting: payout policies, the ledger, and payouts through a fake wallet."""

from __future__ import annotations

from fractions import Fraction

import pytest
from accounting_child import DictStorage, FakeWallet
from hypothesis import given, settings
from hypothesis import strategies as st

from zion_hookspecs import ShareRecord
from zion_plugin_stratum.ledger import LedgerError, PoolLedger, decode_share, encode_share
from zion_plugin_stratum.payouts import PayoutConfig, PayoutEngine
from zion_plugin_stratum.policies import (
    BlockContext,
    PolicyError,
    PplnsPolicy,
    PpsPolicy,
    SoloPolicy,
    builtin_policies,
    split_proportionally,
)

ADDRESSES = st.sampled_from(["Za", "Zb", "Zc", "Zd", "Ze"])
SHARES = st.lists(
    st.builds(
        ShareRecord,
        address=ADDRESSES,
        difficulty=st.integers(1, 10**12),
        timestamp=st.floats(0, 1e9),
        worker=st.sampled_from(["", "rig1"]),
    ),
    max_size=30,
)
REWARDS = st.integers(0, 10**19)
FEES = st.integers(0, 10_000)


# ----------------------------------------------------------------------------- policies


@given(amount=REWARDS, weights=st.dictionaries(ADDRESSES, st.integers(0, 10**15)))
def test_proportional_split_is_exact_and_within_one_unit(
    amount: int, weights: dict[str, int]
) -> None:
    parts = split_proportionally(amount, weights)
    total = sum(weights.values())
    assert all(v > 0 for v in parts.values())
    assert sum(parts.values()) == (amount if total else 0)
    for address, weight in weights.items():
        if total:
            assert abs(Fraction(parts.get(address, 0)) - Fraction(amount * weight, total)) < 1
    reordered = dict(reversed(list(weights.items())))
    assert split_proportionally(amount, reordered) == parts


@given(
    reward=REWARDS,
    shares=SHARES,
    fee=FEES,
    factor=st.integers(1, 5),
    network=st.integers(1, 10**13),
)
@settings(max_examples=200)
def test_every_policy_splits_within_the_reward(
    reward: int, shares: list[ShareRecord], fee: int, factor: int, network: int
) -> None:
    context = BlockContext(network, finder=shares[0].address if shares else None)
    for policy in builtin_policies(fee_bps=fee, pplns_factor=factor):
        for parts in (
            policy.split_reward(reward, shares),
            policy.split_block(reward, shares, context),
        ):
            assert all(v >= 0 for v in parts.values())
            assert sum(parts.values()) <= reward
        assert policy.split_block(reward, shares, context) == policy.split_block(
            reward, list(shares), context
        )


@given(reward=REWARDS, shares=SHARES.filter(bool), fee=FEES, network=st.integers(1, 10**13))
def test_pplns_pays_the_window_proportionally_after_the_fee(
    reward: int, shares: list[ShareRecord], fee: int, network: int
) -> None:
    policy = PplnsPolicy(factor=2, fee_bps=fee)
    weights = policy.window(shares, network)
    assert sum(weights.values()) == min(2 * network, sum(s.difficulty for s in shares))
    parts = policy.split_block(reward, shares, BlockContext(network))
    paid = reward - reward * fee // 10_000
    assert sum(parts.values()) == paid
    total = sum(weights.values())
    for address, weight in weights.items():
        assert abs(Fraction(parts.get(address, 0)) - Fraction(paid * weight, total)) < 1


def test_pplns_counts_the_newest_shares_and_part_of_the_straddling_one() -> None:
    policy = PplnsPolicy(factor=Fraction(3, 2), fee_bps=0)
    newest_first = [
        ShareRecord("Za", 600, 3.0),
        ShareRecord("Zb", 600, 2.0),
        ShareRecord("Zc", 600, 1.0),
    ]
    assert policy.window(newest_first, 1000) == {"Za": 600, "Zb": 600, "Zc": 300}
    assert policy.split_block(1500, newest_first, BlockContext(1000)) == {
        "Za": 600,
        "Zb": 600,
        "Zc": 300,
    }


def test_remainders_go_to_the_largest_fractions_then_to_the_first_address() -> None:
    assert split_proportionally(10, {"Zb": 1, "Za": 1, "Zc": 1}) == {"Za": 4, "Zb": 3, "Zc": 3}
    assert split_proportionally(7, {"Za": 1, "Zb": 2}) == {"Za": 2, "Zb": 5}


def test_solo_pays_the_finder_less_the_fee() -> None:
    solo = SoloPolicy(fee_bps=250)
    shares = [ShareRecord("Za", 5, 1.0), ShareRecord("Zb", 5, 2.0)]
    assert solo.split_block(10_000, shares, BlockContext(100, finder="Zc")) == {"Zc": 9_750}
    assert solo.split_reward(10_000, shares) == {"Zb": 9_750}
    assert solo.split_reward(10_000, []) == {}


@given(
    reward=REWARDS,
    difficulty=st.integers(1, 10**13),
    network=st.integers(1, 10**13),
    fee=FEES,
)
def test_pps_pays_the_expected_value_of_a_share_less_the_fee(
    reward: int, difficulty: int, network: int, fee: int
) -> None:
    pps = PpsPolicy(fee_bps=fee)
    value = pps.share_value(
        ShareRecord("Za", difficulty, 0.0), block_reward=reward, network_difficulty=network
    )
    exact = Fraction(reward * min(difficulty, network) * (10_000 - fee), network * 10_000)
    assert 0 <= exact - value < 1
    assert value <= reward
    assert (
        pps.split_block(reward, [ShareRecord("Za", difficulty, 0.0)], BlockContext(network)) == {}
    )


def test_bad_policy_input_is_a_clear_error() -> None:
    with pytest.raises(PolicyError, match="fee_bps"):
        PplnsPolicy(fee_bps=10_001)
    with pytest.raises(PolicyError, match="factor"):
        PplnsPolicy(factor=0)
    with pytest.raises(PolicyError, match="reward"):
        SoloPolicy().split_reward(-1, [])
    with pytest.raises(PolicyError, match="difficulty"):
        PplnsPolicy().split_reward(10, [ShareRecord("Za", 0, 0.0)])
    assert [p.name for p in builtin_policies()] == ["pplns", "solo", "pps"]


# ------------------------------------------------------------------------------- ledger


def pplns_ledger(storage: DictStorage | None = None, maturity: int = 3) -> PoolLedger:
    return PoolLedger(storage or DictStorage(), PplnsPolicy(factor=1, fee_bps=0), maturity=maturity)


def test_shares_round_trip_compactly() -> None:
    share = ShareRecord("Zé", 2**64 - 1, 1.5, "rig/1")
    assert decode_share(encode_share(share)) == share
    assert len(encode_share(ShareRecord("Za", 1000, 1.0))) < 24


def test_credits_mature_only_at_depth_on_the_main_chain() -> None:
    ledger = pplns_ledger()
    ledger.record_shares(
        [ShareRecord("Za", 300, 1.0), ShareRecord("Zb", 100, 2.0)],
        network_difficulty=400,
        block_reward=1000,
    )
    block = ledger.record_block(b"\x01" * 32, 10, 1000, network_difficulty=400)
    assert block.credits == {"Za": 750, "Zb": 250} and block.status == "pending"
    assert ledger.balance("Za").immature == 750 and ledger.balance("Za").balance == 0
    report = ledger.on_tip(12, lambda _: True)
    assert not report.credited and ledger.block(block.block_id).status == "pending"  # type: ignore[union-attr]
    report = ledger.on_tip(13, lambda _: True)
    assert report.credited == [block.block_id]
    assert ledger.balance("Za").immature == 0 and ledger.balance("Za").balance == 750
    assert ledger.on_tip(20, lambda _: False).orphaned == []  # settled: never reconsidered


def test_an_orphan_reverses_its_credits_and_may_come_back() -> None:
    ledger = pplns_ledger()
    ledger.record_shares([ShareRecord("Za", 400, 1.0)], network_difficulty=400, block_reward=1000)
    block = ledger.record_block(b"\x02" * 32, 10, 1000, network_difficulty=400)
    assert ledger.on_tip(11, lambda _: False).orphaned == [block.block_id]
    assert ledger.balance("Za").immature == 0
    assert ledger.on_tip(12, lambda _: True).reinstated == [block.block_id]
    assert ledger.balance("Za").immature == 1000
    ledger.on_tip(12, lambda _: False)
    assert ledger.on_tip(13, lambda _: False).finalised_orphans == [block.block_id]
    assert ledger.on_tip(14, lambda _: True).reinstated == []
    assert ledger.block(block.block_id).status == "orphaned"  # type: ignore[union-attr]
    assert ledger.balance("Za") == type(ledger.balance("Za"))("Za")


def test_the_same_block_reported_twice_credits_once() -> None:
    storage = DictStorage()
    ledger = pplns_ledger(storage)
    ledger.record_shares([ShareRecord("Za", 400, 1.0)], network_difficulty=400, block_reward=1000)
    first = ledger.record_block(b"\x03" * 32, 10, 1000, network_difficulty=400)
    batches = storage.batches
    ledger.record_shares([ShareRecord("Zb", 400, 2.0)], network_difficulty=400, block_reward=1000)
    assert ledger.record_block(b"\x03" * 32, 10, 1000, network_difficulty=400) == first
    assert storage.batches == batches + 1  # only the shares were written
    assert ledger.balance("Za").immature == 1000 and ledger.balance("Zb").immature == 0
    before = dict(storage.data)
    with pytest.raises(LedgerError, match="recorded at height 10"):
        ledger.record_block(b"\x03" * 32, 11, 1000, network_difficulty=400)
    assert storage.data == before
    ledger.on_tip(13, lambda _: True)
    ledger.on_tip(13, lambda _: True)
    assert ledger.balance("Za").balance == 1000


def test_bad_input_changes_nothing() -> None:
    storage = DictStorage()
    ledger = pplns_ledger(storage)
    before = dict(storage.data)
    with pytest.raises(LedgerError, match="address"):
        ledger.record_shares(
            [ShareRecord("Za", 1, 0.0), ShareRecord("", 1, 0.0)],
            network_difficulty=1,
            block_reward=1,
        )
    with pytest.raises(LedgerError, match="difficulty"):
        ledger.record_shares([ShareRecord("Za", 0, 0.0)], network_difficulty=1, block_reward=1)
    with pytest.raises(LedgerError, match="reward"):
        ledger.record_block(b"\x04", 1, -5, network_difficulty=1)
    with pytest.raises(LedgerError, match="block id"):
        ledger.record_block(b"", 1, 5, network_difficulty=1)
    assert storage.data == before


def test_old_shares_are_pruned_beyond_the_kept_windows() -> None:
    ledger = pplns_ledger()
    ledger.record_shares(
        [ShareRecord("Za", 70, float(i)) for i in range(50)], network_difficulty=100, block_reward=1
    )
    assert ledger.prune_shares(100) == 47  # keeps 2 windows of 100, plus the straddling share
    assert len(ledger.recent_shares()) == 3
    ledger.record_block(b"\x05", 1, 100, network_difficulty=50)
    assert len(ledger.recent_shares()) == 2


def test_pps_credits_balance_at_acceptance_and_keeps_no_shares() -> None:
    ledger = PoolLedger(DictStorage(), PpsPolicy(fee_bps=0), maturity=3)
    paid = ledger.record_shares(
        [ShareRecord("Za", 10, 0.0), ShareRecord("Za", 30, 0.0)],
        network_difficulty=100,
        block_reward=1000,
    )
    assert paid == 400 and ledger.balance("Za").balance == 400
    assert ledger.recent_shares() == []
    assert ledger.record_block(b"\x06", 1, 1000, network_difficulty=100).credits == {}


# ------------------------------------------------------------------------------ payouts


def funded_ledger(amounts: dict[str, int]) -> PoolLedger:
    ledger = PoolLedger(DictStorage(), SoloPolicy(fee_bps=0), maturity=0)
    for n, (address, amount) in enumerate(amounts.items()):
        ledger.record_block(bytes([n + 1]), n, amount, network_difficulty=1, finder=address)
    ledger.on_tip(len(amounts), lambda _: True)
    return ledger


def test_payouts_pay_due_balances_in_batches() -> None:
    ledger = funded_ledger({"Za": 500, "Zb": 300, "Zc": 50, "Zd": 200})
    wallet = FakeWallet()
    engine = PayoutEngine(ledger, wallet, PayoutConfig(threshold=100, max_destinations=2))
    report = engine.run_once()
    assert len(report.sent) == 2
    assert wallet.paid() == {"Za": 500, "Zb": 300, "Zd": 200}
    assert [p.destinations for p in ledger.payments()] == [
        (("Za", 500), ("Zb", 300)),
        (("Zd", 200),),
    ]
    assert ledger.balance("Za").paid == 500 and ledger.balance("Zc").balance == 50
    assert engine.run_once().sent == []


def test_a_lost_answer_is_reconciled_without_paying_twice() -> None:
    ledger = funded_ledger({"Za": 500})
    wallet = FakeWallet()
    engine = PayoutEngine(ledger, wallet, PayoutConfig(threshold=100))
    wallet.fail_after = 1  # the wallet pays, the answer is lost
    assert engine.run_once().unresolved
    assert ledger.balance("Za").in_flight == 500
    report = engine.run_once()
    assert len(report.sent) == 1 and wallet.calls == 1
    assert wallet.paid() == {"Za": 500} and ledger.balance("Za").paid == 500


def test_an_unanswered_transfer_is_retried_with_the_same_key() -> None:
    ledger = funded_ledger({"Za": 500})
    wallet = FakeWallet()
    engine = PayoutEngine(ledger, wallet, PayoutConfig(threshold=100))
    wallet.fail_before = 2
    engine.run_once()
    engine.run_once()
    assert wallet.paid() == {}
    report = engine.run_once()
    assert len(report.sent) == 1 and len(ledger.payments()) == 1
    assert wallet.paid() == {"Za": 500}


def test_a_refused_transfer_returns_the_amounts() -> None:
    ledger = funded_ledger({"Za": 500})
    wallet = FakeWallet(refuse_rate=1.0)
    engine = PayoutEngine(ledger, wallet, PayoutConfig(threshold=100))
    assert len(engine.run_once().failed) == 1
    assert ledger.balance("Za").balance == 500 and ledger.payments()[0].status == "failed"


def test_sent_payments_settle_or_fail_later() -> None:
    ledger = funded_ledger({"Za": 500, "Zb": 400})
    wallet = FakeWallet()
    engine = PayoutEngine(
        ledger, wallet, PayoutConfig(threshold=100, max_destinations=1, settle_confirmations=1)
    )
    engine.run_once()
    first, second = ledger.payments()
    wallet.fail(second.batch_id, "double spend")
    report = engine.reconcile()
    assert report.settled == [first.batch_id] and report.failed == [second.batch_id]
    assert ledger.balance("Zb").balance == 400 and ledger.balance("Zb").paid == 0
    assert ledger.open_payments() == []
