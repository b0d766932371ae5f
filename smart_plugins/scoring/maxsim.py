"""The one MaxSim kernel of smart-plugins, over packed (flat + offsets) token vectors.

Documents are never padded: all their token vectors sit in one ``(T, D)`` tensor, so a matrix
product against the query tokens gives every token similarity, and a segmented max over the
document boundaries gives each query token's best match. On CPU the documents are scored in
cache-sized blocks of whole documents, each block's similarities reduced while still in cache
(a short query against few documents, a rerank, in one product of the orientation torch
computes fastest for it); with autograd or on a GPU, in chunks bounded by ``max_elements``.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from typing import TYPE_CHECKING

import numpy as np

from smart_plugins.lazy import lazy_module

if TYPE_CHECKING:
    from torch import Tensor

torch = lazy_module("torch", globals())

#: Default budget of similarity entries held at once (``query tokens x document tokens``):
#: 2**25 float32 entries is 128 MiB.
DEFAULT_MAX_ELEMENTS = 2**25


def maxsim(
    query_tokens: Tensor,
    query_offsets: Tensor,
    doc_tokens: Tensor,
    doc_offsets: Tensor,
    *,
    max_elements: int = DEFAULT_MAX_ELEMENTS,
    compute_dtype: torch.dtype | None = None,
) -> Tensor:
    """Mean-over-query-tokens MaxSim of ``Q`` queries against ``N`` documents.

    ``score[q, d] = mean_{i in q} max_{j in d} <query_i, doc_j>``; with L2-normalised token
    vectors the inner product is the cosine of the SMART formula.

    Parameters
    ----------
    query_tokens, query_offsets:
        ``(Tq, D)`` vectors of all queries and ``(Q + 1,)`` boundaries.
    doc_tokens, doc_offsets:
        ``(Td, D)`` vectors of all documents and ``(N + 1,)`` boundaries.
    max_elements:
        Upper bound on similarity entries materialised at once (a single long document may
        exceed it on its own; it is never split).
    compute_dtype:
        dtype of the matrix product. Default: the documents' dtype, except float16 on CPU,
        which is upcast to float32 (CPU half-precision matmul is slow; bfloat16 is fast).

    Returns
    -------
    Tensor
        ``(Q, N)`` float32 scores on the documents' device.

    Raises
    ------
    ValueError
        On malformed offsets, empty texts, differing dimensions, or when a score comes out NaN
        or infinite (token vectors holding NaN or infinity).

    Examples
    --------
    >>> import torch
    >>> q = torch.tensor([[1.0, 0.0], [0.0, 1.0]])            # one query, two tokens
    >>> d = torch.tensor([[1.0, 0.0], [0.6, 0.8], [0.0, 1.0]])  # docs of 2 and 1 tokens
    >>> maxsim(q, torch.tensor([0, 2]), d, torch.tensor([0, 2, 3]))
    tensor([[0.9000, 0.5000]])
    """
    query_bounds = _check_packed("query", query_tokens, query_offsets)
    doc_bounds = _check_packed("document", doc_tokens, doc_offsets)
    n_queries, n_docs = len(query_bounds) - 1, len(doc_bounds) - 1
    if n_queries == 0 or n_docs == 0:
        return torch.zeros(n_queries, n_docs, device=doc_tokens.device)
    if query_tokens.shape[1] != doc_tokens.shape[1]:
        raise ValueError(
            f"query and document token dimensions differ: {query_tokens.shape[1]} vs {doc_tokens.shape[1]}"
        )
    device = doc_tokens.device
    dtype = compute_dtype or _default_compute_dtype(doc_tokens)
    same = query_tokens.device == device and query_tokens.dtype == dtype
    queries = query_tokens if same else query_tokens.to(device=device, dtype=dtype)
    out = torch.empty(n_queries, n_docs, device=device)
    if _differentiable(queries) or _differentiable(doc_tokens) or device.type != "cpu":
        for first, last in _doc_chunks(doc_bounds, max(1, max_elements // queries.shape[0])):
            chunk = doc_tokens[int(doc_bounds[first]) : int(doc_bounds[last])].to(dtype)
            sims = chunk @ queries.T  # (chunk tokens, Tq)
            local = doc_offsets[first : last + 1] - doc_offsets[first]
            out[:, first:last] = reduce_similarities(sims, local, query_offsets, check=False)
    else:
        _cpu_blocked_maxsim(queries, query_bounds, doc_tokens, doc_bounds, dtype, max_elements, out)
    _check_finite(out)
    return out


def reduce_similarities(sims: Tensor, doc_offsets: Tensor, query_offsets: Tensor, *, check: bool = True) -> Tensor:
    """The MaxSim reduction: token similarities ``(Td, Tq)`` -> ``(Q, N)`` mean-of-max scores.

    :func:`maxsim` computes ``sims`` as one matrix product; a caller that can compute the
    same similarities more cheaply from a compressed form (the index's residual codec scores
    centroid and residual parts separately) reduces them here, so every score in the library
    goes through this one segmented max and query mean.

    Raises ``ValueError`` when a score is NaN (token vectors holding NaN or infinity); only the
    small ``(Q, N)`` result is checked, never the similarities themselves.

    Examples
    --------
    >>> import torch
    >>> sims = torch.tensor([[1.0, 0.0], [0.6, 0.8], [0.0, 1.0]])  # 3 doc tokens x 2 query tokens
    >>> reduce_similarities(sims, torch.tensor([0, 2, 3]), torch.tensor([0, 2]))
    tensor([[0.9000, 0.5000]])
    """
    device = sims.device
    query_lengths = (query_offsets[1:] - query_offsets[:-1]).to(device)
    if device.type == "cpu" and not _differentiable(sims):
        starts = np.asarray(doc_offsets.cpu(), dtype=np.int64)[:-1]
        best = torch.from_numpy(_segment_max(sims.detach().float().numpy(), starts, axis=0))  # (N, Tq)
        scores = _query_means(best.T, query_lengths)
    else:
        lengths = (doc_offsets[1:] - doc_offsets[:-1]).to(device)
        best = torch.segment_reduce(sims, "max", lengths=lengths, axis=0).float()  # (N, Tq)
        scores = _query_means(best.T, query_lengths)
    if check:
        _check_finite(scores)
    return scores


#: Similarity entries per thread scored and reduced at once on CPU: 2**22 float32 is 16 MiB,
#: so a block's similarities are max-reduced while still in the last-level cache instead of
#: being written to memory and read back (what dominated batch MaxSim with 128 MiB chunks),
#: and the threads of each matrix product synchronise rarely (smaller blocks measured slower
#: on a busy 2-core machine, 2**18-2**22 the same on one thread; benchmarks/maxsim_speed.py).
_CACHE_BLOCK_ELEMENTS = 2**22


#: Rows of similarities this wide or narrower (32 float32, two cache lines) are reduced along
#: axis 0 by ``maximum.reduceat`` in blocks of at most ``_REDUCE_BLOCK_BYTES``; wider rows a
#: document at a time (:func:`_segment_max`). Measured: at 24 similarities per row the blocks take
#: 0.55-0.6x the time of the per-document loop, at 32 the same, at 48 1.3x. Blocks of 0.5-1 MiB
#: were fastest (4-16 per row, 400-2,000 documents of 120 or 700 tokens), 2 MiB up to 1.45x slower.
_REDUCEAT_MAX_ROW_BYTES = 128
_REDUCE_BLOCK_BYTES = 2**20

#: At most this many query tokens (in all) take :func:`_short_query_maxsim`. At 17-32 it measured
#: 0.87-0.98x the blocked path's time in float32 against 100-250 documents, but 1.05-1.14x in
#: bfloat16 at 24-32 and 1.12-1.40x in both from 600 documents on: not worth a second limit.
_SHORT_QUERY_TOKENS = 16


#: Most document tokens a float32 product takes :func:`_short_query_maxsim` for (50 MiB of 384-d
#: vectors). Against the blocked path, 1 x N documents of ~120 tokens, 2 threads: 0.75-0.92x the
#: time up to 1 x 250 (4-16 query tokens), 0.83-0.99x at 1 x 300; from 1 x 600 (documents read
#: from memory) 1.0-1.02x at 16 query tokens but 1.12-1.35x at 4-8. In bfloat16 the path is faster
#: at every size measured (0.66-0.94x up to 1 x 3,000), so it has no limit there.
_SHORT_QUERY_MAX_FP32_TOKENS = 2**15


#: Smallest bfloat16 block reduced on its bit patterns (:func:`_bf16_segment_max`): below it (a 1 x 100
#: rerank is 2e5 similarities) the extra query row and checks cost more than the float32 copy saves.
_BITS_MIN_ELEMENTS = 2**20


def _cpu_blocked_maxsim(
    queries: Tensor,
    query_bounds: np.ndarray,
    doc_tokens: Tensor,
    doc_bounds: np.ndarray,
    dtype: torch.dtype,
    max_elements: int,
    out: Tensor,
) -> None:
    """CPU inference path of :func:`maxsim`: cache-sized blocks of whole documents (short queries
    against few documents go to :func:`_short_query_maxsim`).

    Each block is one matrix product ``queries @ block.T`` into a reused buffer, in the
    orientation whose segments are contiguous (``(Tq, block tokens)``), reduced at once to
    per-document maxima and averaged per query into ``out``. The bookkeeping around the
    products is numpy on the offsets (``*_bounds``) and as few calls as possible: after a product
    has streamed the documents through the cache, every small call costs several times what it
    costs alone, and those calls are most of what a 1 x 100 rerank spends beyond its product
    (``in sequence`` rows of benchmarks/maxsim_rerank_breakdown.py).
    """
    n_query_tokens = queries.shape[0]
    budget = min(max_elements, _CACHE_BLOCK_ELEMENTS * max(1, torch.get_num_threads()))
    if _takes_short_query_path(n_query_tokens, int(doc_bounds[-1]), dtype):
        _short_query_maxsim(queries, query_bounds, doc_tokens, doc_bounds, dtype, max(1, budget // n_query_tokens), out)
        return
    blocks = list(_doc_chunks(doc_bounds, max(1, budget // n_query_tokens)))
    widest = max(int(doc_bounds[last] - doc_bounds[first]) for first, last in blocks)
    bits = (  # bfloat16 maxima on their bit patterns, see _bf16_segment_max
        dtype == torch.bfloat16 and n_query_tokens * widest >= _BITS_MIN_ELEMENTS and bool(torch.isfinite(queries).all())
    )
    if bits:  # one more query row, all ones: its similarity to a document token is finite iff the token is
        queries = torch.cat([queries, torch.ones(1, queries.shape[1], dtype=dtype)])
    product = torch.empty(queries.shape[0] * widest, dtype=dtype)
    upcast = torch.empty(n_query_tokens * widest) if dtype != torch.float32 else None
    weights = _query_weights(query_bounds)
    whole = len(blocks) == 1 and doc_tokens.dtype == dtype  # a rerank: the documents as given, no slice or cast
    for first, last in blocks:
        start, stop = int(doc_bounds[first]), int(doc_bounds[last])
        width = stop - start
        sims = product[: queries.shape[0] * width].view(queries.shape[0], width)
        torch.mm(queries, (doc_tokens if whole else doc_tokens[start:stop].to(dtype)).T, out=sims)
        local = doc_bounds[first:last] - start
        best = _bf16_segment_max(sims, local) if bits else None
        if best is None:  # float32, or a block the bf16 shortcut cannot answer exactly
            sims = sims[:n_query_tokens]
            if upcast is not None:
                sims = upcast[: n_query_tokens * width].view(n_query_tokens, width).copy_(sims)
            best = _segment_max(sims.numpy(), local, axis=1)  # (Tq, docs)
        _write_query_means(best, weights, out, first, last)


def _takes_short_query_path(n_query_tokens: int, n_doc_tokens: int, dtype: torch.dtype) -> bool:
    """Whether the CPU kernel scores these shapes with :func:`_short_query_maxsim` (the rule in one place,
    also read by benchmarks/maxsim_rerank_breakdown.py)."""
    return n_query_tokens <= _SHORT_QUERY_TOKENS and (dtype != torch.float32 or n_doc_tokens <= _SHORT_QUERY_MAX_FP32_TOKENS)


def _short_query_maxsim(
    queries: Tensor,
    query_bounds: np.ndarray,
    doc_tokens: Tensor,
    doc_bounds: np.ndarray,
    dtype: torch.dtype,
    block_tokens: int,
    out: Tensor,
) -> None:
    """CPU inference path of :func:`maxsim` for at most 16 query tokens in all (a rerank).

    The products are taken as ``documents @ queries.T``, ``(Td, Tq)``: for so few query tokens,
    torch's CPU matmul computes this orientation up to ~1.5x faster than ``queries @ documents.T``
    (1 x 100 x 120 tokens, 384-d: fp32 0.69 against 1.00 ms, bf16 0.30 against 0.43 ms;
    benchmarks/maxsim_speed.py times both orientations as the floor), in bfloat16 at every size and
    in float32 while the documents stay in cache (``_SHORT_QUERY_MAX_FP32_TOKENS``). Blocks hold
    at most ``block_tokens`` document tokens; :func:`_segment_max` reduces each along axis 0.
    """
    weights = _query_weights(query_bounds)
    for first, last in _doc_chunks(doc_bounds, block_tokens):
        start, stop = int(doc_bounds[first]), int(doc_bounds[last])
        docs = doc_tokens if stop - start == doc_tokens.shape[0] else doc_tokens[start:stop]
        sims = torch.mm(docs if docs.dtype == dtype else docs.to(dtype), queries.T)  # queries.T as a view: a copy is slower
        values = (sims if dtype == torch.float32 else sims.float()).numpy()
        best = _segment_max(values, doc_bounds[first:last] - start, axis=0)  # (docs, Tq)
        _write_query_means(best.T, weights, out, first, last)


def _query_weights(query_bounds: np.ndarray) -> Tensor | None:
    """``(Q, Tq)`` averaging weights for :func:`_write_query_means`; None for a single query."""
    if len(query_bounds) == 2:
        return None
    return _averaging_matrix(torch.from_numpy(np.diff(query_bounds)), torch.device("cpu")).T


def _write_query_means(best: np.ndarray, weights: Tensor | None, out: Tensor, first: int, last: int) -> None:
    """Per-token maxima ``(Tq, docs)`` -> per-query means in ``out[:, first:last]`` (the CPU paths).

    A single query's mean is two ufunc calls into ``out``: ``np.mean``'s Python wrapper costs
    more than the sum here, and each call counts in a millisecond rerank.
    """
    if weights is None:
        row = out.numpy()[0, first:last]
        np.divide(np.add.reduce(best, axis=0, out=row), best.shape[0], out=row)
    else:
        out[:, first:last] = weights @ torch.from_numpy(best)


def _bf16_segment_max(sims: Tensor, starts: np.ndarray) -> np.ndarray | None:
    """Per-document maxima of bfloat16 similarities, reduced on their bit patterns; None when that is not exact.

    ``sims`` is ``(Tq + 1, width)``, its last row the all-ones query. numpy has no bfloat16, so
    the general path copies every similarity to float32 before ``maximum.reduceat``; here the
    bits are reduced as int16 instead (no copy, half the bytes read). For bfloat16 values of
    the sign bit 0, the int16 order is the float order, and every such value ranks above every
    value with the sign bit set: so a maximum whose bits are non-negative is exact, and turning
    its 16 bits into the top half of a float32 gives the same float32 the general path would.
    Returns None, for the caller to take the general path on this block, when a maximum has the
    sign bit set (a query token with no similarity above zero in some document), or when the
    all-ones row shows a document token holding NaN or infinity (whose similarities could hide
    under a larger one here, and must reach the result as NaN).
    """
    keys = sims.view(torch.int16).numpy()
    exponent = keys[-1] & 0x7F80
    if (exponent == 0x7F80).any():  # all exponent bits set: NaN or infinity in a document token
        return None
    best = _segment_max(keys[:-1], starts, axis=1)
    if (best < 0).any():
        return None
    return (best.astype(np.int32) << 16).view(np.float32)


def _segment_max(values: np.ndarray, starts: np.ndarray, *, axis: int) -> np.ndarray:
    """The segmented max of the library: per-document maxima of token similarities.

    ``axis=1``: ``(Tq, Td)`` similarities (each document's columns contiguous) -> ``(Tq, N)``.
    ``axis=0``: ``(Td, Tq)`` similarities (one row per document token) -> ``(N, Tq)``.
    ``starts`` are the documents' first columns (rows); segments are never empty (checked by the
    callers). Along axis 1, one ``maximum.reduceat``. Along axis 0, ``maximum.reduceat`` walks one
    column at a time, so it is fast only while a row is at most two cache lines and the rows being
    walked stay in cache: rows that narrow are reduced in blocks of whole documents of at most
    1 MiB, wider rows one document at a time with a vectorised ``maximum.reduce`` over whole rows.
    Against one ``reduceat`` (``benchmarks/maxsim_rerank_breakdown.py --reduction-widths``): 0.46
    against 4.1 ms for 11,910 rows of 64 similarities, 0.81 against 22 ms at 256; 3.7 against
    10 ms for 400 documents of ~700 tokens at 16. ``torch.segment_reduce`` and ``embedding_bag``
    measured slower than both at every width.
    """
    if axis == 1:
        return np.maximum.reduceat(values, starts, axis=1)
    row_bytes = values.shape[1] * values.itemsize
    if row_bytes <= _REDUCEAT_MAX_ROW_BYTES and values.nbytes <= _REDUCE_BLOCK_BYTES:
        return np.maximum.reduceat(values, starts, axis=0)
    best = np.empty((len(starts), values.shape[1]), dtype=values.dtype)
    bounds = np.append(starts, len(values))
    if row_bytes <= _REDUCEAT_MAX_ROW_BYTES:
        for first, last in _doc_chunks(bounds, _REDUCE_BLOCK_BYTES // row_bytes):
            block = values[bounds[first] : bounds[last]]
            np.maximum.reduceat(block, bounds[first:last] - bounds[first], axis=0, out=best[first:last])
        return best
    for doc, (first, stop) in enumerate(zip(bounds[:-1].tolist(), bounds[1:].tolist())):
        np.maximum.reduce(values[first:stop], axis=0, out=best[doc])
    return best


def _query_means(best: Tensor, query_lengths: Tensor) -> Tensor:
    """Per-token maxima ``(Tq, N)`` -> per-query means ``(Q, N)``."""
    if len(query_lengths) == 1:
        return best.mean(dim=0, keepdim=True)
    return _averaging_matrix(query_lengths, best.device).T @ best


def _differentiable(tensor: Tensor) -> bool:
    return tensor.requires_grad and torch.is_grad_enabled()


def _check_finite(scores: Tensor) -> None:
    """Refuse NaN or infinite scores: they come from such token vectors and would rank silently.

    Only the small ``(Q, N)`` result is checked, so the similarities are never scanned twice.
    """
    if scores.device.type == "cpu" and not scores.requires_grad and math.isfinite(np.add.reduce(scores.numpy(), axis=None)):
        return  # a finite sum means finite scores (an overflowing sum of finite ones falls through to the exact check)
    bad = ~torch.isfinite(scores.detach())
    if bool(bad.any()):
        query, doc = (int(i) for i in torch.nonzero(bad)[0])
        raise ValueError(
            f"MaxSim score of query {query} against document {doc} is {float(scores.detach()[query, doc])}: the "
            "token vectors of that query or document contain NaN or infinite values; MaxSim needs finite vectors"
        )


def _default_compute_dtype(tokens: Tensor) -> torch.dtype:
    if tokens.dtype == torch.float16 and tokens.device.type == "cpu":
        return torch.float32
    if not tokens.dtype.is_floating_point:
        raise TypeError(f"token vectors must be floating point, got {tokens.dtype}; dequantise them first")
    return tokens.dtype


def _averaging_matrix(query_lengths: Tensor, device: torch.device) -> Tensor:
    """``(Tq, Q)`` matrix whose product with per-token maxima gives per-query means."""
    owner = torch.repeat_interleave(torch.arange(len(query_lengths), device=device), query_lengths)
    weights = torch.zeros(int(query_lengths.sum()), len(query_lengths), device=device)
    weights[torch.arange(len(owner), device=device), owner] = 1.0 / query_lengths[owner].float()
    return weights


def _doc_chunks(doc_bounds: np.ndarray, max_tokens: int) -> Iterator[tuple[int, int]]:
    """Ranges ``[first, last)`` of whole documents holding at most ``max_tokens`` tokens (or one doc)."""
    n_docs = len(doc_bounds) - 1
    if doc_bounds[-1] <= max_tokens:  # all in one (a rerank)
        yield 0, n_docs
        return
    first = 0
    while first < n_docs:
        last = int(np.searchsorted(doc_bounds, doc_bounds[first] + max_tokens, side="right")) - 1
        last = min(max(last, first + 1), n_docs)
        yield first, last
        first = last


def _check_packed(what: str, tokens: Tensor, offsets: Tensor) -> np.ndarray:
    """Validate packed vectors and their offsets; return the offsets as an int64 numpy array."""
    if tokens.ndim != 2:
        raise ValueError(f"{what} token vectors must be a 2-D (tokens, dim) tensor, got shape {tuple(tokens.shape)}")
    if offsets.device.type == "cpu" and offsets.dtype == torch.int64:
        bounds = offsets.numpy()  # zero-copy, one call (each torch call counts in a millisecond rerank)
    else:
        bounds = np.asarray(offsets.detach().cpu(), dtype=np.int64)
    if bounds.ndim != 1 or len(bounds) < 1 or bounds[0] != 0 or bounds[-1] != tokens.shape[0]:
        raise ValueError(
            f"{what} offsets must start at 0 and end at the number of token vectors ({tokens.shape[0]})"
        )
    lengths = np.diff(bounds)
    if len(lengths) and lengths.min() <= 0:
        bad = int(np.flatnonzero(lengths <= 0)[0])
        raise ValueError(f"{what} {bad} has no token vectors; MaxSim needs at least one per text")
    return bounds
