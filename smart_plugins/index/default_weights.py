"""An index's label-free default weights: λ fitted on pseudo-queries drawn from its own documents.

An index created without explicit ``weights`` records ``weights_source = {"kind": "auto", ...}``
in its manifest. After a commit that adds documents, once it holds :data:`MIN_DOCUMENTS` live
documents, and again each time the live count has doubled since the last fit, the index draws
:data:`~smart_plugins.scoring.auto_weights.AUTO_PSEUDO_QUERIES` pseudo-queries from its
documents, searches them exactly as :meth:`SmartIndex.search` would, fits the late share
(:func:`~smart_plugins.scoring.auto_weights.fit_late_share`) and commits the weights with the fit's
record (one more version). Searches read the recorded weights: a reopened index scores the same, and a query pays
nothing for the fit. Explicit weights (``create(weights=...)``, ``set_weights``) are never
replaced.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

import numpy as np

from smart_plugins.scoring import ScoreWeights
from smart_plugins.scoring.auto_weights import (
    AUTO_CANDIDATES,
    AUTO_DRAW,
    AUTO_PSEUDO_QUERIES,
    fit_late_share,
    fit_record,
    positive_columns,
)
from smart_plugins.scoring.pseudo_queries import draw_from_reader, mean_prose

if TYPE_CHECKING:
    from smart_plugins.index.smart_index import SmartIndex

logger = logging.getLogger(__name__)

#: Live documents an index needs before its weights are fitted (below it, :data:`FALLBACK` holds).
MIN_DOCUMENTS = 32
#: Pseudo-queries (documents of at least 12 words) a fit needs; fewer keep the previous weights.
MIN_PSEUDO_QUERIES = 16
#: Refit when the live count reaches this multiple of the count of the last fit.
REFIT_GROWTH = 2.0
#: Weights of an index too small to fit (the SMART formula).
FALLBACK = ScoreWeights(1.0, 1.0)


def auto_source() -> dict[str, Any]:
    """The ``weights_source`` of a new index whose weights are fitted (nothing fitted yet).

    Examples
    --------
    >>> auto_source()["kind"], auto_source()["documents"]
    ('auto', 0)
    """
    return {"kind": "auto", "documents": 0}


def needs_fit(manifest: dict[str, Any], live_documents: int) -> bool:
    """Whether a commit leaving ``live_documents`` live should (re)fit the weights.

    Examples
    --------
    >>> m = {"weights_source": {"kind": "auto", "documents": 100}}
    >>> needs_fit(m, 150), needs_fit(m, 200), needs_fit({"weights_source": {"kind": "explicit"}}, 10**6)
    (False, True, False)
    """
    source = manifest.get("weights_source") or {}
    if source.get("kind") != "auto" or live_documents < MIN_DOCUMENTS:
        return False
    fitted_on = int(source.get("documents", 0))
    return fitted_on == 0 or live_documents >= REFIT_GROWTH * fitted_on


def fit_index_weights(index: SmartIndex) -> tuple[ScoreWeights, dict[str, Any]] | None:
    """Fit the late share on pseudo-queries drawn from ``index``'s live documents.

    Returns the weights and the ``weights_source`` record, or None when too few documents are
    long enough to draw from.
    """
    store = index.store  # any store: the fit reads live texts and commits through the Store protocol
    ids = store.ids()

    def read(positions: list[int]) -> list[str]:
        return [d.text for d in store.get([ids[p] for p in positions])]

    drawn = draw_from_reader(len(ids), read, AUTO_PSEUDO_QUERIES, **AUTO_DRAW)
    if len(drawn) < MIN_PSEUDO_QUERIES:
        return None
    encoded = index.encoder.encode_queries([q.text for q in drawn])
    hits = index.search_encoded(encoded, k=AUTO_CANDIDATES, candidates=AUTO_CANDIDATES, weights=ScoreWeights(1.0, 1.0))
    pooled = np.array([[h.pooled for h in row] for row in hits], dtype=np.float64)  # every row holds
    late = np.array([[h.late for h in row] for row in hits], dtype=np.float64)  # min(candidates, live) hits
    positive = positive_columns([[h.id for h in row] for row in hits], [ids[q.doc] for q in drawn])
    fitted = fit_late_share(pooled, late, positive, prose=mean_prose(drawn))
    record = fit_record(fitted, positive, len(ids))
    logger.info("fitted default weights on %d pseudo-queries: late share %g (prose share %.2f)", len(drawn), fitted.late_share, fitted.prose)
    return fitted.weights, record


def refresh_default_weights(index: SmartIndex) -> bool:
    """Refit and record ``index``'s default weights if :func:`needs_fit` says so (after a commit that added documents).

    Every store (local, Qdrant): the weights and their fit record are committed through the
    Store protocol. An index whose documents are too short to draw from records the attempt (so
    it retries only after doubling) and keeps its weights. Returns whether weights were fitted.
    """
    store = index.store
    if not needs_fit({"weights_source": store.weights_source()}, len(index)):
        return False
    fitted = fit_index_weights(index)
    if fitted is None:
        store.set_weights(index.weights, source={"kind": "auto", "documents": len(index), "fitted": False})
        return False
    store.set_weights(fitted[0], source=fitted[1])
    return True


def live_documents(manifest: dict[str, Any]) -> int:
    """Live documents of a manifest (rows minus tombstones).

    Examples
    --------
    >>> live_documents({"segments": [{"n_docs": 5}, {"n_docs": 4, "tombstones": {"n_deleted": 1}}]})
    8
    """
    return sum(int(e["n_docs"]) - int((e.get("tombstones") or {}).get("n_deleted", 0)) for e in manifest["segments"])
