"""Two-stage SMART search over a local store's committed segments.

First stage: the best ``candidates`` rows by pooled cosine (exact matrix product, or the
faiss HNSW graph). Second stage: the exact MaxSim of each candidate from its stored
(compressed) tokens, combined with the pooled score by :meth:`ScoreWeights.combine` and cut
to the top ``k`` by :func:`smart_plugins.scoring.top_k`. Rows are global: segment after
segment, in manifest order. The functions take the store they search as first argument
(:class:`~smart_plugins.index.local_store.LocalStore` binds them as methods).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import numpy as np

from smart_plugins.encoder import EncodedTexts
from smart_plugins.index.filters import compile_filter
from smart_plugins.index.first_stage import exact_pooled_scores
from smart_plugins.index.results import SearchHit
from smart_plugins.index.store import Where
from smart_plugins.lazy import lazy_module
from smart_plugins.scoring import ScoreWeights, reduce_similarities, top_k

torch = lazy_module("torch", globals())

#: The store searched: a :class:`~smart_plugins.index.local_store.LocalStore` (its committed
#: segments, row bases, codec, id map and manifest). Typed loosely so this module does not
#: import the store that imports it.
LocalStore = Any

#: Token vectors decoded at once while reranking many candidates (exhaustive search).
DECODE_TOKENS = 1 << 18


def unit_pooled(encoded: EncodedTexts) -> np.ndarray:
    """``(Q, D)`` L2-normalised pooled query vectors as float32 numpy."""
    return torch.nn.functional.normalize(encoded.pooled.float(), dim=-1).numpy()


def search_rows(
    store: LocalStore,
    encoded: EncodedTexts,
    k: int,
    candidates: int,
    weights: ScoreWeights,
    allowed: np.ndarray,
    exhaustive: bool,
) -> list[list[SearchHit]]:
    """Per query: the first stage over ``allowed`` rows, then the hybrid over its candidates."""
    q_pooled = unit_pooled(encoded)
    n_allowed = int(allowed.sum())
    n_cand = n_allowed if exhaustive else min(max(candidates, k), n_allowed)
    if n_cand == 0:
        return [[] for _ in range(len(encoded))]
    rows_per_query, pooled_per_query = first_stage(store, q_pooled, n_cand, allowed)
    return [
        rank_rows(store, encoded.select([q]), rows_per_query[q], pooled_per_query[q], k, weights)
        for q in range(len(encoded))
    ]


def rerank_rows(store: LocalStore, query: EncodedTexts, rows: np.ndarray, k: int, weights: ScoreWeights) -> list[SearchHit]:
    """The hybrid of one query over the given global ``rows``, best first, top ``k``."""
    pooled = pooled_rows(store, rows) @ unit_pooled(query)[0]
    return rank_rows(store, query, rows, pooled.astype(np.float32), k, weights)


def rank_rows(
    store: LocalStore, query: EncodedTexts, rows: np.ndarray, pooled: np.ndarray, k: int, weights: ScoreWeights
) -> list[SearchHit]:
    """Late scores of ``rows`` (when weighted), the hybrid, and the top-``k`` hits."""
    late = late_scores(store, query, rows) if weights.uses_late else None
    hybrid = weights.combine(pooled, late)
    _, order = top_k(hybrid, k)
    return hits(store, rows[order], hybrid[order], pooled[order], None if late is None else late[order])


def first_stage(
    store: LocalStore, q_pooled: np.ndarray, n_cand: int, allowed: np.ndarray
) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """Global rows and pooled scores of the top ``n_cand`` allowed documents per query."""
    kind = store._manifest["first_stage"].get("kind", "exact")
    n_total = len(allowed)
    if kind == "hnsw" and n_cand < n_total:
        fetch = min(n_total, n_cand + int((~allowed).sum()))
        if fetch <= 4 * n_cand:  # deleted / filtered rows are few enough to skip afterwards
            scores, rows = store._hnsw_stage().search(q_pooled, fetch, store._segments)
            rows_out, scores_out = [], []
            for r, s in zip(rows, scores):
                keep = (r >= 0) & allowed[np.clip(r, 0, None)]
                rows_out.append(r[keep][:n_cand].astype(np.int64))
                scores_out.append(s[keep][:n_cand].astype(np.float32))
            return rows_out, scores_out
    scores = exact_pooled_scores(q_pooled, store._segments)
    scores[:, ~allowed] = -np.inf
    rows_out, scores_out = [], []
    for row_scores in scores:
        if n_cand < n_total:
            top = np.argpartition(-row_scores, n_cand - 1)[:n_cand]  # a candidate set: its order does not matter
        else:
            top = np.flatnonzero(allowed)
        rows_out.append(top.astype(np.int64))
        scores_out.append(row_scores[top])
    return rows_out, scores_out


def late_scores(store: LocalStore, query: EncodedTexts, rows: np.ndarray) -> np.ndarray:
    """Exact MaxSim of one encoded query against global ``rows`` from the stored tokens.

    Candidates are read in file order, segment after segment, and scored together: one
    codec ``similarities`` call (the residual codecs score their codes without rebuilding
    the vectors) and one shared MaxSim reduction per ``DECODE_TOKENS`` tokens, however
    many segments the candidates are spread over (per-segment calls cost ~0.2 ms each).
    """
    codec = store._codec
    assert codec is not None
    segments, bases = store._segments, store._bases
    late = np.empty(len(rows), dtype=np.float32)
    if len(rows) == 0:
        return late
    order = np.argsort(rows, kind="stable")  # by segment, then by row within it
    sorted_rows = rows[order]
    seg_of = np.searchsorted(bases, sorted_rows, side="right") - 1
    local = sorted_rows - bases[seg_of]
    cuts = [0, *(np.flatnonzero(np.diff(seg_of)) + 1).tolist(), len(rows)]
    groups = list(zip(cuts[:-1], cuts[1:]))  # [a, b) runs of candidates in one segment
    lengths = np.concatenate([segments[seg_of[a]].lengths[local[a:b]] for a, b in groups])
    ends = np.cumsum(lengths)
    start = 0
    while start < len(order):
        done = int(ends[start - 1]) if start else 0
        stop = start + max(1, int(np.searchsorted(ends[start:] - done, DECODE_TOKENS, side="right")))
        parts = [
            segments[seg_of[a]].gather_tokens(local[a:b])[0]
            for a, b in ((max(a, start), min(b, stop)) for a, b in groups)
            if a < b
        ]
        offsets = np.zeros(stop - start + 1, dtype=np.int64)
        np.cumsum(lengths[start:stop], out=offsets[1:])
        if all(p.keys() == parts[0].keys() for p in parts):
            arrays = parts[0] if len(parts) == 1 else {n: np.concatenate([p[n] for p in parts]) for n in parts[0]}
            sims = codec.similarities(arrays, query.tokens)
        else:  # segments of an older on-disk layout among them: score each part on its own
            sims = torch.cat([codec.similarities(p, query.tokens) for p in parts])
        late[order[start:stop]] = reduce_similarities(sims, torch.from_numpy(offsets), query.offsets)[0].numpy()
        start = stop
    return late


def pooled_rows(store: LocalStore, rows: np.ndarray) -> np.ndarray:
    """``(len(rows), D)`` stored unit pooled vectors of global ``rows``."""
    seg_of = np.searchsorted(store._bases, rows, side="right") - 1
    return np.stack(
        [np.asarray(store._segments[s].pooled[r - int(store._bases[s])], dtype=np.float32) for s, r in zip(seg_of.tolist(), rows.tolist())]
    ) if len(rows) else np.zeros((0, int(store._manifest["encoder"]["pooled_dim"])), np.float32)


def hits(
    store: LocalStore, rows: np.ndarray, hybrid: np.ndarray, pooled: np.ndarray, late: np.ndarray | None
) -> list[SearchHit]:
    """:class:`SearchHit` objects for global ``rows`` (already ranked) and their scores."""
    segments, bases = store._segments, store._bases
    seg_of = np.searchsorted(bases, rows, side="right") - 1
    docs: dict[int, dict[str, Any]] = {}
    for s in np.unique(seg_of).tolist():  # one file open per segment
        picked = np.flatnonzero(seg_of == s)
        local = (rows[picked] - bases[s]).tolist()
        docs.update(zip(picked.tolist(), segments[s].read_docs(local)))
    out = []
    for rank, row in enumerate(rows.tolist()):
        s = int(seg_of[rank])
        doc = docs[rank]
        out.append(
            SearchHit(
                id=segments[s].ids[row - int(bases[s])],
                text=doc["text"],
                metadata=doc["metadata"],
                score=float(hybrid[rank]),
                pooled=float(pooled[rank]),
                late=None if late is None else float(late[rank]),
                rank=rank + 1,  # 1-based, as every rank shown to a user
            )
        )
    return out


def allowed_rows(store: LocalStore, ids: Iterable[str] | None, where: Where | None) -> np.ndarray:
    """Boolean mask over global rows: live, and passing the id and metadata filters."""
    segments = store._segments
    allowed = np.concatenate([s.alive for s in segments]) if segments else np.zeros(0, np.bool_)
    if ids is not None:
        subset = np.zeros_like(allowed)
        wanted = [i for i in ids if i in store._id_map]
        if wanted:
            subset[[store._bases[s] + row for s, row in (store._id_map[i] for i in wanted)]] = True
        allowed &= subset
    if where is not None:
        predicate = where if callable(where) else compile_filter(where)
        passes = np.concatenate(
            [np.fromiter((predicate(m) for m in s.all_metadata()), dtype=np.bool_, count=s.n_docs) for s in segments]
        )
        allowed &= passes
    return allowed
