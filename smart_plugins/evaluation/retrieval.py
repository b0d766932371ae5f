"""Score queries against a corpus once, then rank by any mode or λ without re-scoring.

Two-stage (default): the pooled cosine picks the top ``k`` candidates of every query over the
whole corpus, then the late (MaxSim) score is computed for those candidates only. Exhaustive:
both scores for every document. Either way the pooled and late scores are kept side by side,
so pooled, late, hybrid and every λ of a sweep are cheap re-rankings of the same numbers.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch
from torch import Tensor

from smart_plugins.encoder import EncodedTexts
from smart_plugins.evaluation.fusion import FusionPolicy, fuse
from smart_plugins.scoring import ScoreWeights, maxsim, pooled_scores, top_k
from smart_plugins.progress import track

#: Queries scored at once against the whole corpus by the pooled first stage.
_POOLED_QUERY_BATCH = 256


@dataclass(frozen=True)
class CandidateScores:
    """Pooled and late scores of each query's candidate documents.

    Attributes
    ----------
    candidates:
        ``(Q, k)`` corpus rows; in two-stage mode the pooled top-``k`` (best first), in
        exhaustive mode every document (``k = N``).
    pooled, late:
        ``(Q, k)`` float32 scores of those candidates.
    exhaustive:
        Whether every document was scored.

    Examples
    --------
    >>> import torch
    >>> docs = EncodedTexts.from_lists(torch.eye(3), [torch.eye(3)[i : i + 1] for i in range(3)])
    >>> scores = score_candidates(docs.select([2]), docs, k=2)
    >>> scores.candidates.tolist(), scores.top(ScoreWeights(0, 1), depth=1)[0].tolist()
    ([[2, 0]], [[2]])
    """

    candidates: Tensor
    pooled: Tensor
    late: Tensor
    exhaustive: bool

    @property
    def k(self) -> int:
        return int(self.candidates.shape[1])

    def scores(self, weights: ScoreWeights, fusion: FusionPolicy = "weighted") -> Tensor:
        """``(Q, k)`` fused scores of the candidates."""
        return fuse(self.pooled, self.late, weights, fusion)

    def top(self, weights: ScoreWeights, depth: int = 100, fusion: FusionPolicy = "weighted") -> tuple[Tensor, Tensor]:
        """``(doc rows, scores)``, each ``(Q, depth)``, best first."""
        fused = self.scores(weights, fusion)
        values, order = top_k(fused, depth)
        return torch.gather(self.candidates, 1, order), values

    def run(
        self,
        query_ids: Sequence[str],
        doc_ids: Sequence[str],
        weights: ScoreWeights,
        depth: int = 100,
        fusion: FusionPolicy = "weighted",
    ) -> dict[str, dict[str, float]]:
        """A TREC-style run ``{query id: {doc id: score}}`` of the top ``depth`` documents."""
        rows, values = self.top(weights, depth, fusion)
        return _to_run(query_ids, doc_ids, rows, values)

    def first_stage_run(self, query_ids: Sequence[str], doc_ids: Sequence[str]) -> dict[str, dict[str, float]]:
        """The pooled candidate list itself (for first-stage recall@k)."""
        return _to_run(query_ids, doc_ids, self.candidates, self.pooled)


def score_candidates(
    queries: EncodedTexts,
    docs: EncodedTexts,
    k: int | None = 200,
    *,
    compute_dtype: torch.dtype | None = None,
    show_progress: bool = False,
) -> CandidateScores:
    """Pooled first stage (top ``k``; ``None`` = every document) and late scores of the candidates.

    ``compute_dtype`` goes to :func:`~smart_plugins.scoring.maxsim` (``torch.bfloat16`` is
    faster on CPUs with bf16 support, at a small precision cost).
    """
    if len(queries) == 0:
        raise ValueError("no queries to score")
    if len(docs) == 0:
        raise ValueError("no documents to score")
    if k is not None and k <= 0:
        raise ValueError(f"the first-stage k must be positive, got {k}")
    exhaustive = k is None or k >= len(docs)
    if exhaustive:
        return _score_all(queries, docs, compute_dtype, show_progress)
    cand_rows, cand_pooled = [], []
    for start in range(0, len(queries), _POOLED_QUERY_BATCH):
        block = pooled_scores(queries.pooled[start : start + _POOLED_QUERY_BATCH], docs.pooled)
        values, rows = top_k(block, int(k))
        cand_rows.append(rows)
        cand_pooled.append(values)
    candidates = torch.cat(cand_rows)
    pooled = torch.cat(cand_pooled)
    late = torch.empty_like(pooled)
    for q in track(range(len(queries)), "MaxSim rerank", unit="query", show_progress_bar=show_progress):
        q_tokens = queries.token_vectors(q)
        cand_tokens, cand_offsets = _gather(docs, candidates[q])
        late[q] = maxsim(q_tokens, torch.tensor([0, q_tokens.shape[0]]), cand_tokens, cand_offsets, compute_dtype=compute_dtype)[0]
    return CandidateScores(candidates=candidates, pooled=pooled, late=late, exhaustive=False)


def _gather(docs: EncodedTexts, rows: Tensor) -> tuple[Tensor, Tensor]:
    """Packed token vectors of documents ``rows`` (only the vectors: ids and positions are not needed)."""
    starts, lengths = docs.offsets[:-1][rows], docs.offsets[1:][rows] - docs.offsets[:-1][rows]
    offsets = torch.zeros(len(rows) + 1, dtype=torch.int64)
    offsets[1:] = torch.cumsum(lengths, 0)
    segment = torch.repeat_interleave(torch.arange(len(rows)), lengths)
    index = starts[segment] + torch.arange(int(offsets[-1])) - offsets[:-1][segment]
    return torch.index_select(docs.tokens, 0, index.to(docs.tokens.device)), offsets


def _score_all(
    queries: EncodedTexts, docs: EncodedTexts, compute_dtype: torch.dtype | None, show_progress: bool
) -> CandidateScores:
    pooled = pooled_scores(queries.pooled, docs.pooled)
    late = torch.empty_like(pooled)
    batch = 64
    for start in track(range(0, len(queries), batch), "MaxSim (exhaustive)", unit="batch", show_progress_bar=show_progress):
        part = queries.select(range(start, min(start + batch, len(queries))))
        late[start : start + len(part)] = maxsim(
            part.tokens, part.offsets, docs.tokens, docs.offsets, compute_dtype=compute_dtype
        )
    candidates = torch.arange(len(docs)).expand(len(queries), -1)
    return CandidateScores(candidates=candidates, pooled=pooled, late=late, exhaustive=True)


def _to_run(query_ids: Sequence[str], doc_ids: Sequence[str], rows: Tensor, values: Tensor) -> dict[str, dict[str, float]]:
    if len(query_ids) != rows.shape[0]:
        raise ValueError(f"{len(query_ids)} query ids for {rows.shape[0]} score rows")
    rows_list, values_list = rows.tolist(), values.tolist()
    return {
        str(qid): {doc_ids[r]: float(v) for r, v in zip(row, vals)}
        for qid, row, vals in zip(query_ids, rows_list, values_list)
    }
