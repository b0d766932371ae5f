"""The ``default`` mode of ``smart-plugins eval``: the weights ``SmartIndex`` would fit on this corpus.

An index holding the evaluated corpus (added in one call, in corpus order) draws the same
pseudo-queries, scores them against the same pooled top-``AUTO_CANDIDATES`` candidates, and fits
the same late share (:mod:`smart_plugins.index.default_weights`); this module repeats that fit on
the evaluation's cached encodings, so ``default`` is what ``SmartIndex.search`` does with no
arguments. No qrels are read.
"""

from __future__ import annotations

from typing import Any

from smart_plugins.encoder import EncodedTexts, SmartEncoder
from smart_plugins.evaluation.cache import EncodedCache
from smart_plugins.evaluation.encoding import encode_cached
from smart_plugins.evaluation.retrieval import score_candidates
from smart_plugins.index.default_weights import FALLBACK, MIN_DOCUMENTS, MIN_PSEUDO_QUERIES
from smart_plugins.scoring import ScoreWeights
from smart_plugins.scoring.auto_weights import (
    AUTO_CANDIDATES,
    AUTO_DRAW,
    AUTO_PSEUDO_QUERIES,
    fit_late_share,
    fit_record,
    positive_columns,
)
from smart_plugins.scoring.pseudo_queries import draw_pseudo_queries, mean_prose


def corpus_default_weights(
    encoder: SmartEncoder,
    doc_texts: list[str],
    docs: EncodedTexts,
    cache: EncodedCache | None,
    *,
    show_progress: bool = False,
) -> tuple[ScoreWeights, dict[str, Any]]:
    """The default weights of an index holding ``doc_texts`` (encoded as ``docs``), and the fit's record.

    Examples
    --------
    >>> corpus_default_weights(SmartEncoder("minilm"), texts, docs, None)  # doctest: +SKIP
    (ScoreWeights(pool=0.25, late=1.0), {'kind': 'auto', 'late_share': 0.8, ...})
    """
    if len(doc_texts) != len(docs):
        raise ValueError(f"{len(doc_texts)} texts for {len(docs)} encoded documents")
    if len(doc_texts) < MIN_DOCUMENTS:
        return FALLBACK, {"kind": "auto", "documents": len(doc_texts), "fitted": False}
    drawn = draw_pseudo_queries(doc_texts, AUTO_PSEUDO_QUERIES, **AUTO_DRAW)
    if len(drawn) < MIN_PSEUDO_QUERIES:
        return FALLBACK, {"kind": "auto", "documents": len(doc_texts), "fitted": False}
    queries, _ = encode_cached(encoder, [q.text for q in drawn], "query", cache, show_progress=show_progress)
    scores = score_candidates(queries, docs, AUTO_CANDIDATES)
    positive = positive_columns(scores.candidates.tolist(), [q.doc for q in drawn])
    fitted = fit_late_share(scores.pooled.numpy(), scores.late.numpy(), positive, prose=mean_prose(drawn))
    return fitted.weights, fit_record(fitted, positive, len(doc_texts))
