"""Could the search's fitness proxy be trusted? Kendall's rank correlation between the search and retraining.

A search scores each genome after a short training; ``nas retrain --top-k K`` trains the K best to convergence.
:func:`kendall_tau_b` is Kendall's tau-b (the version corrected for ties); :func:`proxy_rank_correlation` applies it to
the (search value, retrained value) pairs of the top K and :func:`describe` writes the one line that the console and
``final/report.md`` show. The tau is None (null in JSON) when it says nothing: under :data:`MIN_GENOMES` genomes, or
when one side gives every genome the same value. :func:`rung_agreement` asks the same of a multi-fidelity search's
own rungs: did the genomes promoted from one rung keep their order at the next?

Example:
    >>> kendall_tau_b([0.5, 0.6, 0.7], [0.70, 0.80, 0.75])
    0.3333333333333333
"""
from __future__ import annotations

import math
from typing import Any, Mapping, Sequence

import numpy as np
from numpy.typing import ArrayLike

from .errors import DataError

__all__ = ["MIN_GENOMES", "kendall_tau_b", "proxy_rank_correlation", "describe", "rung_agreement"]

#: With two genomes the tau is +1 or -1 whatever the scores, so fewer than three leave it undefined.
MIN_GENOMES = 3


def _pair_signs(values: ArrayLike) -> np.ndarray:
    """The sign of ``values[j] - values[i]`` for every pair i < j (0 for a tie)."""
    v = np.asarray(values, dtype=np.float64)
    i, j = np.triu_indices(len(v), k=1)
    return np.sign(v[j] - v[i])


def _checked(x: ArrayLike, y: ArrayLike) -> tuple[np.ndarray, np.ndarray]:
    a, b = np.asarray(x, dtype=np.float64), np.asarray(y, dtype=np.float64)
    if a.ndim != 1 or a.shape != b.shape:
        raise DataError(f"rank correlation needs two 1-D sequences of one length, got shapes {a.shape} and {b.shape}")
    if not (np.all(np.isfinite(a)) and np.all(np.isfinite(b))):
        raise DataError("rank correlation needs finite values")
    return a, b


def kendall_tau_b(x: ArrayLike, y: ArrayLike) -> float | None:
    """Kendall's tau-b of ``x`` and ``y``: (concordant - discordant pairs) / sqrt(pairs untied in x * untied in y).

    1 when both order every pair alike, -1 when they order every pair the opposite way. None when there are fewer
    than :data:`MIN_GENOMES` values or when either side is constant (its denominator is zero).
    """
    a, b = _checked(x, y)
    if len(a) < MIN_GENOMES:
        return None
    sx, sy = _pair_signs(a), _pair_signs(b)
    untied_x, untied_y = int(np.count_nonzero(sx)), int(np.count_nonzero(sy))
    if not untied_x or not untied_y:
        return None
    return float(np.sum(sx * sy) / math.sqrt(untied_x * untied_y))


def _undefined_reason(a: np.ndarray, b: np.ndarray, metric: str) -> str | None:
    if len(a) < MIN_GENOMES:
        return (f"{len(a)} genome{'' if len(a) == 1 else 's'} retrained; it takes at least {MIN_GENOMES}, so "
                f"retrain with --top-k {MIN_GENOMES} or more")
    for values, side in ((a, "the search"), (b, "retraining")):
        if np.all(values == values[0]):
            return f"{side} gave all {len(a)} genomes the same {metric}"
    return None


def proxy_rank_correlation(pairs: Sequence[Sequence[float]], metric: str) -> dict[str, Any]:
    """The rank correlation of ``pairs`` of (search value, retrained value) of ``metric``, one pair per genome.

    Returns ``{"kendall_tau", "k", "metric", "pairs", "concordant", "discordant", "undefined"}``: the tau-b (None
    when undefined), how many genomes, the pairs as lists, how many pairs of genomes the two rankings order alike and
    the opposite way (ties count as neither), and why the tau is None (else None).
    """
    a, b = _checked([p[0] for p in pairs], [p[1] for p in pairs])
    product = _pair_signs(a) * _pair_signs(b)
    return {"kendall_tau": kendall_tau_b(a, b), "k": len(a), "metric": metric,
            "pairs": [[float(s), float(r)] for s, r in zip(a, b)],
            "concordant": int(np.sum(product > 0)), "discordant": int(np.sum(product < 0)),
            "undefined": _undefined_reason(a, b, metric)}


def describe(correlation: Mapping[str, Any]) -> str:
    """One line for a person: the tau of :func:`proxy_rank_correlation`, the pairs behind it and what it means."""
    k, tau = correlation["k"], correlation["kendall_tau"]
    head = f"Proxy-to-final rank correlation over the top {k}"
    if tau is None:
        return f"{head}: undefined ({correlation['undefined']})."
    compared = k * (k - 1) // 2
    return (f"{head}: Kendall tau-b = {tau:.2f} on {correlation['metric']} (the search and retraining ordered "
            f"{correlation['concordant']} of {compared} pairs of genomes alike, {correlation['discordant']} the "
            f"opposite way); a tau near 0 or negative means that the short-training fitness ranked these genomes "
            f"unlike training to convergence, so the search's choice among them is not to be trusted.")


def rung_agreement(evaluations: Sequence[Mapping[str, Any]], metric: str) -> list[dict[str, Any]]:
    """For each rung a multi-fidelity search promoted genomes to: the rank correlation (as
    :func:`proxy_rank_correlation`, with ``from_rung`` and ``rung``) between the first objective of each promoted
    genome at the rung below and at this one, from the run's evaluation records (``rung``, ``promoted_from``,
    ``fitness``).

    Only promoted genomes count, the best 1/eta of the rung below, so the scores span a narrow range and the tau
    understates how well the lower rung ranks the whole population; a tau near 0 still says that the lower rung
    cannot tell the promoted genomes apart. Replicates and failed evaluations are left out."""
    by_index = {record.get("index"): record for record in evaluations}
    pairs: dict[tuple[int, int], list[tuple[float, float]]] = {}
    for record in evaluations:
        below = by_index.get(record.get("promoted_from"))
        if (record.get("status") != "ok" or "replicate" in record or below is None or below.get("status") != "ok"
                or not record.get("fitness") or not below.get("fitness")):
            continue
        if record["fitness"][0] is not None and below["fitness"][0] is not None:
            rungs = (int(below.get("rung", 0)), int(record.get("rung", 0)))
            pairs.setdefault(rungs, []).append((below["fitness"][0], record["fitness"][0]))
    return [{"from_rung": low, "rung": high, **proxy_rank_correlation(pairs[low, high], metric)}
            for low, high in sorted(pairs)]
