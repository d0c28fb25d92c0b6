"""The source design's transition table, every pair, and the kitchen's late reports."""

from __future__ import annotations

import itertools

import pytest

from services.order.domain.lifecycle import TRANSITIONS, already_passed, is_allowed
from shared.contracts.values import OrderStatus as S

ALLOWED = {
    (S.PENDING, S.CONFIRMED), (S.PENDING, S.CANCELLED), (S.PENDING, S.REFUNDED),
    (S.CONFIRMED, S.PREPARING), (S.CONFIRMED, S.CANCELLED), (S.CONFIRMED, S.REFUNDED),
    (S.PREPARING, S.READY), (S.PREPARING, S.CANCELLED), (S.PREPARING, S.REFUNDED),
    (S.READY, S.DELIVERING), (S.READY, S.COMPLETED), (S.READY, S.CANCELLED),
    (S.READY, S.REFUNDED),
    (S.DELIVERING, S.DELIVERED), (S.DELIVERING, S.CANCELLED), (S.DELIVERING, S.REFUNDED),
    (S.DELIVERED, S.COMPLETED),
    (S.CANCELLED, S.REFUNDED),
}  # fmt: skip


@pytest.mark.parametrize(("current", "wanted"), list(itertools.product(S, S)))
def test_every_pair_of_statuses_follows_the_source_design_table(current: S, wanted: S) -> None:
    assert is_allowed(current, wanted) is ((current, wanted) in ALLOWED)


def test_final_statuses_have_no_way_out() -> None:
    assert TRANSITIONS[S.COMPLETED] == frozenset()
    assert TRANSITIONS[S.REFUNDED] == frozenset()


def test_a_kitchen_report_of_a_status_already_passed_is_recognised_as_late() -> None:
    assert already_passed(S.DELIVERING, S.READY)
    assert already_passed(S.PREPARING, S.PREPARING)
    assert not already_passed(S.PREPARING, S.READY)
    assert not already_passed(S.PENDING, S.PREPARING)
    assert not already_passed(S.CANCELLED, S.READY)
