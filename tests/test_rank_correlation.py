"""Tests of nas.ranking: Kendall's tau-b on hand-computed cases, and the record and line built from it."""
from __future__ import annotations

import math

import pytest

from nas.errors import DataError
from nas.ranking import describe, kendall_tau_b, proxy_rank_correlation, rung_agreement


def test_perfect_and_reversed_agreement():
    assert kendall_tau_b([1, 2, 3, 4, 5], [0.1, 0.5, 0.6, 0.9, 2.0]) == pytest.approx(1.0)
    assert kendall_tau_b([1, 2, 3, 4, 5], [9, 7, 5, 3, 1]) == pytest.approx(-1.0)
    # ranks, not values: any increasing transform of one side leaves the tau as it is
    assert kendall_tau_b([0.2, 0.9, 0.4], [1, 3, 2]) == pytest.approx(1.0)


def test_hand_computed_values_without_and_with_ties():
    # x = 1 2 3 4, y = 1 3 2 4: pairs (2,3) discordant, the other 5 concordant -> (5 - 1) / 6
    assert kendall_tau_b([1, 2, 3, 4], [1, 3, 2, 4]) == pytest.approx(4 / 6)
    # x = 1 2 2 3, y = 1 2 3 3: of 6 pairs, (2,2) in x and (3,3) in y are tied; the 4 others concordant.
    # tau-b = 4 / sqrt((6 - 1) * (6 - 1)) = 0.8 (tau-a would be 4 / 6)
    assert kendall_tau_b([1, 2, 2, 3], [1, 2, 3, 3]) == pytest.approx(0.8)
    # x = 1 1 2 3, y = 3 2 1 1: the pairs of indices (0,2), (0,3), (1,2), (1,3) are discordant, (0,1) is tied in x and
    # (2,3) in y -> -4 / sqrt(5 * 5)
    assert kendall_tau_b([1, 1, 2, 3], [3, 2, 1, 1]) == pytest.approx(-0.8)
    # the same tie on both sides counts in neither numerator nor denominators' untied pairs: 2 concordant of 2
    assert kendall_tau_b([1, 1, 2], [5, 5, 6]) == pytest.approx(1.0)
    # x = 0.5 0.6 0.7, y = 0.7 0.8 0.75: 2 concordant, 1 discordant -> 1/3 (the module's doctest)
    assert kendall_tau_b([0.5, 0.6, 0.7], [0.70, 0.80, 0.75]) == pytest.approx(1 / 3)


def test_undefined_below_three_values_or_on_a_constant_side():
    assert kendall_tau_b([], []) is None
    assert kendall_tau_b([0.3], [0.1]) is None
    assert kendall_tau_b([0.3, 0.4], [0.1, 0.2]) is None  # two genomes: +-1 whatever the scores
    assert kendall_tau_b([0.5, 0.5, 0.5], [0.1, 0.2, 0.3]) is None
    assert kendall_tau_b([0.1, 0.2, 0.3], [0.4, 0.4, 0.4]) is None
    with pytest.raises(DataError, match="one length"):
        kendall_tau_b([1, 2, 3], [1, 2])
    with pytest.raises(DataError, match="finite"):
        kendall_tau_b([1, 2, math.nan], [1, 2, 3])


def test_the_record_and_the_line():
    correlation = proxy_rank_correlation([(0.5, 0.70), (0.6, 0.80), (0.7, 0.75)], "val_accuracy")
    assert correlation == {"kendall_tau": pytest.approx(1 / 3), "k": 3, "metric": "val_accuracy",
                           "pairs": [[0.5, 0.7], [0.6, 0.8], [0.7, 0.75]], "concordant": 2, "discordant": 1,
                           "undefined": None}
    line = describe(correlation)
    assert line.startswith("Proxy-to-final rank correlation over the top 3: Kendall tau-b = 0.33 on val_accuracy")
    assert "ordered 2 of 3 pairs of genomes alike, 1 the opposite way" in line and "\n" not in line
    assert "negative" in line  # what a low value means


@pytest.mark.parametrize("pairs, reason", [
    ([(0.5, 0.7)], "1 genome retrained; it takes at least 3, so retrain with --top-k 3 or more"),
    ([(0.5, 0.7), (0.6, 0.9)], "2 genomes retrained; it takes at least 3"),
    ([(0.5, 0.7), (0.5, 0.9), (0.5, 0.8)], "the search gave all 3 genomes the same val_accuracy"),
    ([(0.5, 0.7), (0.6, 0.7), (0.7, 0.7)], "retraining gave all 3 genomes the same val_accuracy"),
])
def test_an_undefined_tau_is_null_and_the_line_says_why(pairs, reason):
    correlation = proxy_rank_correlation(pairs, "val_accuracy")
    assert correlation["kendall_tau"] is None and correlation["k"] == len(pairs)
    assert reason in correlation["undefined"]
    line = describe(correlation)
    assert line.startswith(f"Proxy-to-final rank correlation over the top {len(pairs)}: undefined (")
    assert reason in line and "tau-b =" not in line


def test_rung_agreement_pairs_each_promotion_with_the_record_it_came_from():
    def record(index, rung, score, promoted_from=None, **extra):
        return {"index": index, "rung": rung, "fitness": [score], "status": "ok", "promoted_from": promoted_from,
                **extra}

    evaluations = [record(0, 0, 0.1), record(1, 0, 0.2), record(2, 0, 0.3), record(3, 0, 0.4),
                   record(4, 1, 0.5, 1), record(5, 1, 0.7, 2), record(6, 1, 0.6, 3),  # rung 0 -> 1: 2 of 3 pairs alike
                   record(7, 1, 0.9, 0, status="failed"),  # a failed promotion says nothing
                   record(8, 1, 0.1, 3, replicate=1),  # a replicate is not a promotion
                   record(9, 2, 0.8, 5), record(10, 2, 0.9, 6)]  # two genomes: undefined
    agreement = rung_agreement(evaluations, "val_accuracy")
    assert [(a["from_rung"], a["rung"], a["k"]) for a in agreement] == [(0, 1, 3), (1, 2, 2)]
    assert agreement[0]["pairs"] == [[0.2, 0.5], [0.3, 0.7], [0.4, 0.6]]
    assert agreement[0]["kendall_tau"] == pytest.approx(1 / 3) and agreement[0]["concordant"] == 2
    assert agreement[1]["kendall_tau"] is None and "at least 3" in agreement[1]["undefined"]
    assert rung_agreement([record(0, 0, 0.1)], "val_accuracy") == []
