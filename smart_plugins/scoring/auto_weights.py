"""Label-free hybrid weights: λ fitted on pseudo-queries drawn from the corpus itself.

Each pseudo-query (a span of a document, :mod:`smart_plugins.scoring.pseudo_queries`) is scored
like a real query: pooled candidates, then the late score of those candidates. The late share
``λ_late / (λ_pool + λ_late)`` that ranks the drawn documents best (mean reciprocal rank over
the candidate lists), less an optional prior toward 1:1 (:func:`choose_share`; 0 by default), is
then moved toward 1:1 by the share of the drawn documents that is not prose
(:func:`discount_by_prose`), and becomes the default weights. No relevance label is used: only
the corpus.

Why the prose discount: a span stands for a real query only where the documents are written the
way queries are, in natural language. Where they are not (source code, tables, logs), queries
come in another register than the documents, and the pooled vector, trained on such asymmetric
pairs, carries what no span of the document can show; there the span fit is trusted in
proportion to the prose it was drawn from, and 1:1 (the SMART formula) is the prior.

``SmartIndex`` fits them when documents are added (:mod:`smart_plugins.index.default_weights`)
and ``smart-plugins eval --modes default`` runs the same fit on the evaluated corpus.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from smart_plugins.scoring.hybrid import ScoreWeights

#: Late shares tried by :func:`fit_late_share` (the same grid as ``smart-plugins eval --tune-lambda``).
LATE_SHARES: tuple[float, ...] = (0.0, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.75, 0.8, 0.85, 0.9, 0.95, 1.0)
#: Mean reciprocal rank a share must gain per unit of distance from 1:1 (late share 0.5) to be
#: chosen over a share closer to it. 0 (plain best MRR): a prior of 0.2 was measured and fails
#: debian-siblings on the library's own fit (late share 0.6, see docs/evaluation.md).
PRIOR_PER_SHARE = 0.0


@dataclass(frozen=True)
class FittedShare:
    """The chosen late share, its weights, and the objective along the grid.

    Examples
    --------
    >>> FittedShare(0.8, {0.5: 0.7, 0.8: 0.9}, 100).weights
    ScoreWeights(pool=0.25, late=1.0)
    """

    late_share: float
    curve: dict[float, float]
    queries: int
    prior: float = 0.0
    prose: float = 1.0

    @property
    def weights(self) -> ScoreWeights:
        return ScoreWeights.from_late_share(self.late_share)

    def as_dict(self) -> dict[str, Any]:
        return {
            "late_share": self.late_share,
            "queries": self.queries,
            "objective": "mean reciprocal rank of the drawn document - prior * |late share - 0.5|, "
                         "then moved toward 0.5 by the drawn documents' non-prose share",
            "prior": self.prior,
            "fitted_share": choose_share(self.curve, self.prior),
            "prose_share": round(self.prose, 4),
            "best_share_without_prior": choose_share(self.curve, 0.0),
            "curve": {f"{share:g}": round(value, 6) for share, value in self.curve.items()},
        }


def fit_late_share(
    pooled: np.ndarray,
    late: np.ndarray,
    positive: np.ndarray,
    grid: Sequence[float] = LATE_SHARES,
    prior: float = PRIOR_PER_SHARE,
    prose: float = 1.0,
) -> FittedShare:
    """Pick the late share that ranks each query's positive candidate highest on average, less the prior,
    then discount it by the corpus's non-prose share (:func:`discount_by_prose`).

    Parameters
    ----------
    pooled, late:
        ``(Q, k)`` raw scores of each query's candidates.
    positive:
        ``(Q,)`` column of the query's drawn document among its candidates, ``-1`` when the first
        stage missed it (such a query scores 0 for every share).
    grid:
        Late shares to try; ties go to the share closest to 0.5 (the SMART 1:1 formula).
    prior:
        Mean reciprocal rank charged per unit of distance from 0.5 (:func:`choose_share`); 0 picks
        the plain best.
    prose:
        Mean :func:`~smart_plugins.scoring.pseudo_queries.prose_share` of the drawn documents
        (1: trust the fit fully; 0: keep 1:1).

    Examples
    --------
    >>> pooled = np.array([[0.9, 0.5], [0.4, 0.9]])
    >>> late = np.array([[0.1, 0.3], [0.3, 0.1]])
    >>> fit_late_share(pooled, late, np.array([1, 0])).late_share   # late must outweigh pooled
    0.75
    >>> fit_late_share(pooled, late, np.array([0, 1])).late_share   # pooled must win: 1:1 is kept
    0.5
    """
    pooled = np.asarray(pooled, dtype=np.float64)
    late = np.asarray(late, dtype=np.float64)
    positive = np.asarray(positive, dtype=np.int64)
    if pooled.ndim != 2 or pooled.shape != late.shape:
        raise ValueError(f"pooled and late must be (queries, candidates) of one shape, got {pooled.shape} and {late.shape}")
    if positive.shape != (pooled.shape[0],):
        raise ValueError(f"positive must hold one column per query ({pooled.shape[0]}), got shape {positive.shape}")
    if pooled.shape[0] == 0:
        raise ValueError("no pseudo-queries to fit on")
    if not len(grid) or any(not 0.0 <= s <= 1.0 for s in grid):
        raise ValueError(f"grid must hold late shares in [0, 1], got {list(grid)}")
    rr = reciprocal_ranks(pooled, late, positive, grid)
    curve = {float(share): float(values.mean()) for share, values in zip(grid, rr)}
    chosen = discount_by_prose(choose_share(curve, prior), prose)
    return FittedShare(chosen, curve, int(len(positive)), float(prior), float(prose))


def discount_by_prose(share: float, prose: float) -> float:
    """Move a fitted late share toward 0.5 (1:1) in proportion to the corpus's non-prose share.

    ``0.5 + (share - 0.5) * prose``, rounded to 4 decimals: a corpus of prose keeps its fit; one
    of code (prose share about 0.2) keeps a fifth of the fit's distance from 1:1.

    Examples
    --------
    >>> discount_by_prose(1.0, 1.0), discount_by_prose(1.0, 0.2), discount_by_prose(0.0, 0.5)
    (1.0, 0.6, 0.25)
    """
    if not 0.0 <= prose <= 1.0:
        raise ValueError(f"prose must be a share in [0, 1], got {prose}")
    return round(0.5 + (share - 0.5) * prose, 4)


def choose_share(curve: dict[float, float], prior: float = PRIOR_PER_SHARE) -> float:
    """The share maximising ``curve[share] - prior * |share - 0.5|``; ties go to the share closest to 0.5.

    Examples
    --------
    >>> curve = {0.5: 0.80, 0.75: 0.83, 1.0: 0.86}   # late-only gains 0.06 over 1:1: not enough at prior 0.2
    >>> choose_share(curve, prior=0.2), choose_share(curve, prior=0.0)
    (0.5, 1.0)
    >>> choose_share({0.5: 0.40, 0.75: 0.47, 1.0: 0.53}, prior=0.2)   # it gains 0.13: late-only
    1.0
    """
    if prior < 0:
        raise ValueError(f"prior must be >= 0, got {prior}")
    value = {share: v - prior * abs(share - 0.5) for share, v in curve.items()}
    best = max(value.values())
    return min((s for s, v in value.items() if v >= best - 1e-12), key=lambda s: (abs(s - 0.5), s))


def reciprocal_ranks(pooled: np.ndarray, late: np.ndarray, positive: np.ndarray, grid: Sequence[float] = LATE_SHARES) -> np.ndarray:
    """``(len(grid), Q)`` reciprocal rank of each query's positive candidate under each late share.

    Ties count against the positive (a candidate scoring the same ranks above it); a query whose
    positive is ``-1`` (missed by the first stage) scores 0. :func:`fit_late_share` averages the
    rows; a benchmark can compare shares query by query.

    Examples
    --------
    >>> reciprocal_ranks(np.array([[0.9, 0.5]]), np.array([[0.1, 0.3]]), np.array([1]), (0.0, 1.0)).tolist()
    [[0.5], [1.0]]
    """
    pooled = np.asarray(pooled, dtype=np.float64)
    late = np.asarray(late, dtype=np.float64)
    positive = np.asarray(positive, dtype=np.int64)
    out = np.zeros((len(grid), len(positive)))
    rows = np.flatnonzero(positive >= 0)
    for i, share in enumerate(grid):
        fused = (1.0 - share) * pooled[rows] + share * late[rows]
        target = fused[np.arange(len(rows)), positive[rows]][:, None]
        out[i, rows] = 1.0 / (1.0 + (fused > target).sum(axis=1))  # candidates strictly above the drawn document
    return out


#: Pseudo-queries an index draws to fit its default weights, and candidates each one reranks
#: (``SmartIndex.search``'s default ``candidates``).
AUTO_PSEUDO_QUERIES = 256
AUTO_CANDIDATES = 100
#: The draw: an 8-word span of a random document (seed 0), see :mod:`smart_plugins.scoring.pseudo_queries`.
AUTO_DRAW: dict[str, Any] = {"how": "span", "span_words": 8, "seed": 0}


def positive_columns(candidate_docs: Sequence[Sequence[Any]], drawn_docs: Sequence[Any]) -> np.ndarray:
    """Column of each query's drawn document among its candidates (``-1`` when absent).

    Examples
    --------
    >>> positive_columns([["a", "b"], ["c", "d"]], ["b", "e"]).tolist()
    [1, -1]
    """
    if len(candidate_docs) != len(drawn_docs):
        raise ValueError(f"{len(candidate_docs)} candidate lists for {len(drawn_docs)} drawn documents")
    out = np.full(len(drawn_docs), -1, dtype=np.int64)
    for q, (row, doc) in enumerate(zip(candidate_docs, drawn_docs)):
        for col, cand in enumerate(row):
            if cand == doc:
                out[q] = col
                break
    return out


def fit_record(fitted: FittedShare, positive: np.ndarray, documents: int) -> dict[str, Any]:
    """What an index records as its ``weights_source`` after a fit (also the eval ``default`` mode's report).

    Examples
    --------
    >>> fit = FittedShare(0.8, {0.8: 0.5}, 2)
    >>> r = fit_record(fit, np.array([3, -1]), 500)
    >>> r["kind"], r["late_share"], r["documents"], r["drawn_document_found"]
    ('auto', 0.8, 500, 0.5)
    """
    return {
        "kind": "auto",
        "documents": int(documents),
        **fitted.as_dict(),
        "draw": dict(AUTO_DRAW),
        "candidates": AUTO_CANDIDATES,
        "drawn_document_found": round(float((np.asarray(positive) >= 0).mean()), 4),
    }
