"""Where a CPU MaxSim rerank (1 query x N documents) spends its time beyond the matrix product.

Times, in one process on the same tensors (median of ``--calls`` calls after a warm-up): the whole
``maxsim`` call, the plain product in both orientations (``q @ d.T`` and ``d @ q.T``; the kernel
takes ``d @ q.T`` for queries of at most 16 tokens against few documents, ``q @ d.T`` otherwise,
and its steps below follow the same choice), the product into a reused and into a fresh buffer,
the segmented max, the input and NaN checks, and the query mean, each on its own. What the whole
call costs beyond the sum of those parts is reported as "not accounted": Python and tensor
bookkeeping, and what the parts cost only in sequence, which timing them apart does not show.

Then the same steps replayed in sequence, each timed where it runs (``in sequence:`` rows,
medians over the calls): right after a product has streamed the documents (18 MiB at the default
shape) through a 2 MiB L2, every small step costs several times what it costs alone. The floor of
any kernel written as "product, then numpy reduction" is the "product + reduceat only" row.

``--reduction-widths`` times instead the segmented max of ``(12,000, width)`` similarities (one
row per document token, 100 documents) at several widths: ``maximum.reduceat`` along axis 0,
which walks a column at a time, against the library's ``_segment_max``.

Run:  python benchmarks/maxsim_rerank_breakdown.py [--docs 100] [--query-tokens 16] [--threads 2] [--reduction-widths]
"""

from __future__ import annotations

import argparse
import importlib
import statistics
import time
from collections.abc import Callable

import numpy as np
import torch
import torch.nn.functional as F

from smart_plugins.scoring import maxsim, pack_tokens


def median_ms(fn: Callable[[], object], calls: int) -> float:
    for _ in range(20):
        fn()
    samples = []
    for _ in range(calls):
        start = time.perf_counter()
        fn()
        samples.append(time.perf_counter() - start)
    return statistics.median(samples) * 1e3


def main(argv: list[str] | None = None) -> dict[str, float]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--docs", type=int, default=100)
    parser.add_argument("--doc-tokens", type=int, default=120)
    parser.add_argument("--query-tokens", type=int, default=16)
    parser.add_argument("--dim", type=int, default=384)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--calls", type=int, default=300)
    parser.add_argument("--reduction-widths", action="store_true", help="time the segmented max at several widths instead")
    args = parser.parse_args(argv)
    internals = importlib.import_module("smart_plugins.scoring.maxsim")
    torch.set_num_threads(args.threads)
    gen = torch.Generator().manual_seed(0)
    spread = max(1, args.doc_tokens // 6)
    lengths = torch.randint(args.doc_tokens - spread, args.doc_tokens + spread + 1, (args.docs,), generator=gen)
    docs = [F.normalize(torch.randn(int(n), args.dim, generator=gen), dim=-1) for n in lengths]
    query = [F.normalize(torch.randn(args.query_tokens, args.dim, generator=gen), dim=-1)]
    q_tokens, q_offsets = pack_tokens(query)
    d_tokens, d_offsets = pack_tokens(docs)
    if args.reduction_widths:
        return reduction_widths(internals, d_offsets.numpy(), args.calls)
    width, n_q = int(d_offsets[-1]), args.query_tokens
    short = internals._takes_short_query_path(n_q, width, d_tokens.dtype)
    shape, axis = ((width, n_q), 0) if short else ((n_q, width), 1)  # the kernel's orientation

    def product(out: torch.Tensor) -> torch.Tensor:
        return torch.mm(d_tokens, q_tokens.T, out=out) if short else torch.mm(q_tokens, d_tokens.T, out=out)

    sims = product(torch.empty(shape))
    starts = d_offsets.numpy()[:-1]
    best = internals._segment_max(sims.numpy(), starts, axis=axis)
    scores = torch.full((1, args.docs), 0.5)
    parts = {
        "whole maxsim call": lambda: maxsim(q_tokens, q_offsets, d_tokens, d_offsets),
        "plain q @ d.T": lambda: q_tokens @ d_tokens.T,
        "plain d @ q.T": lambda: d_tokens @ q_tokens.T,
        "product into a reused buffer": lambda: product(sims),
        "product into a fresh buffer": lambda: product(torch.empty(shape)),
        "segmented max (reduceat)": lambda: internals._segment_max(sims.numpy(), starts, axis=axis),
        "offset checks (query + docs)": lambda: (internals._check_packed("query", q_tokens, q_offsets),
                                                 internals._check_packed("document", d_tokens, d_offsets)),
        "NaN check of the scores": lambda: internals._check_finite(scores),
        "query mean": lambda: best.mean(axis=1 - axis),
    }
    result = {name: median_ms(fn, args.calls) for name, fn in parts.items()}
    result.update(in_sequence(product, sims, axis, q_tokens, q_offsets, d_tokens, d_offsets, internals, args.calls))
    accounted = sum(result[k] for k in ("product into a fresh buffer", "segmented max (reduceat)",
                                        "offset checks (query + docs)", "NaN check of the scores", "query mean"))
    result["not accounted"] = result["whole maxsim call"] - accounted
    orientation = "d @ q.T" if short else "q @ d.T"
    print(f"1 query x {args.docs} docs x ~{args.doc_tokens} tokens, {n_q}-token query, {args.dim}-d, {args.threads} threads, "
          f"torch {torch.__version__}; the kernel's product: {orientation}")
    for name, ms in result.items():
        print(f"  {name:32s} {ms:7.3f} ms")
    return result


def reduction_widths(internals, bounds, calls: int) -> dict[str, float]:
    """The segmented max along axis 0 at several widths: plain ``reduceat`` against ``_segment_max``."""
    rng = np.random.default_rng(0)
    result = {}
    print(f"segmented max of ({bounds[-1]}, width) float32 similarities, {len(bounds) - 1} documents")
    for width in (8, 16, 32, 64, 128, 256, 512):
        values = rng.standard_normal((int(bounds[-1]), width)).astype(np.float32)
        plain = median_ms(lambda: np.maximum.reduceat(values, bounds[:-1], axis=0), calls)
        ours = median_ms(lambda: internals._segment_max(values, bounds[:-1], axis=0), calls)
        result[f"reduceat width {width}"], result[f"_segment_max width {width}"] = plain, ours
        print(f"  width {width:4d}: maximum.reduceat axis 0 {plain:8.3f} ms   _segment_max {ours:8.3f} ms")
    return result


def in_sequence(product, sims, axis, q_tokens, q_offsets, d_tokens, d_offsets, internals, calls: int) -> dict[str, float]:
    """The kernel's steps in their order, each timed in place; plus the product and reduction alone."""
    clock = time.perf_counter
    steps: dict[str, list[float]] = {}

    def one_call() -> None:
        t0 = clock()
        bounds = internals._check_packed("query", q_tokens, q_offsets), internals._check_packed("document", d_tokens, d_offsets)
        t1 = clock()
        product(sims)
        t2 = clock()
        best = internals._segment_max(sims.numpy(), bounds[1][:-1], axis=axis)
        t3 = clock()
        scores = torch.from_numpy(best.mean(axis=1 - axis)[None])
        t4 = clock()
        internals._check_finite(scores)
        t5 = clock()
        for name, value in (("checks", t1 - t0), ("product", t2 - t1), ("reduceat", t3 - t2), ("mean", t4 - t3),
                            ("NaN check", t5 - t4), ("all steps", t5 - t0)):
            steps.setdefault(f"in sequence: {name}", []).append(value)

    def floor() -> None:
        t0 = clock()
        product(sims)
        internals._segment_max(sims.numpy(), d_offsets.numpy()[:-1], axis=axis)
        steps.setdefault("product + reduceat only", []).append(clock() - t0)

    for _ in range(20):
        one_call(), floor()
    steps.clear()
    for _ in range(calls):
        one_call(), floor()
    return {name: statistics.median(values) * 1e3 for name, values in steps.items()}


if __name__ == "__main__":
    main()
