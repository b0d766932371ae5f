"""Rerank raw candidate texts on the fly: no index, one encoding pass for all candidates."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from smart_plugins.encoder import SmartEncoder
from smart_plugins.encoder.inputs import validate_texts
from smart_plugins.scoring import ScoreWeights, smart_scores, top_k


@dataclass(frozen=True)
class RankedText:
    """One reranked candidate: its position in the input list and its three scores."""

    index: int
    score: float
    pooled: float
    late: float | None


def rerank_texts(
    encoder: SmartEncoder,
    query: str,
    texts: Sequence[str],
    *,
    k: int | None = None,
    weights: ScoreWeights | None = None,
) -> list[RankedText]:
    """SMART-rerank ``texts`` for ``query``; best first, at most ``k`` results.

    All candidates are encoded in one batched pass (documents get the model's document
    prompt, the query its query prompt).

    Examples
    --------
    >>> encoder = SmartEncoder("minilm", device="cpu")
    >>> ranked = rerank_texts(encoder, "debug symbols", ["Debug symbols for libfoo.", "Docs for libfoo."])
    >>> ranked[0].index
    0
    """
    if k is not None and k <= 0:
        raise ValueError(f"k must be positive, got {k}")
    candidates = validate_texts(texts, what="texts")
    if not candidates:
        return []
    weights = weights or ScoreWeights()
    scores = smart_scores(encoder.encode_queries([query]), encoder.encode_documents(candidates), weights)
    order = top_k(scores.hybrid[0], k or len(candidates))[1]
    late = scores.late[0] if scores.late is not None else None
    return [
        RankedText(
            index=int(i),
            score=float(scores.hybrid[0, i]),
            pooled=float(scores.pooled[0, i]),
            late=None if late is None else float(late[i]),
        )
        for i in order
    ]
