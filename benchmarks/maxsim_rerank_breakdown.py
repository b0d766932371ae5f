"""Where a CPU MaxSim rerank (1 query x N documents) spends its time beyond the matrix product.

Times, in one process on the same tensors (median of ``--calls`` calls after a warm-up): the whole
``maxsim`` call, the plain ``q @ d.T``, the product into a reused and into a fresh buffer, the
segmented max (``numpy.maximum.reduceat``), the input and NaN checks, and the query mean, each on
its own. What the whole call costs beyond the sum of those parts is reported as "not accounted":
Python and tensor bookkeeping, and what the parts cost only in sequence (the reduction reading a
product just written by two threads), which timing them apart does not show.

Then the same steps replayed in sequence, each timed where it runs (``in sequence:`` rows,
medians over the calls): right after a product has streamed the documents (18 MiB at the default
shape) through a 2 MiB L2, every small step costs several times what it costs alone. The floor of
any kernel written as "product, then numpy reduction" is the "product + reduceat only" row.

Run:  python benchmarks/maxsim_rerank_breakdown.py [--docs 100] [--threads 2]
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
    width, n_q = int(d_offsets[-1]), args.query_tokens
    sims = torch.empty(n_q * width).view(n_q, width)
    offsets = d_offsets.numpy()
    torch.mm(q_tokens, d_tokens.T, out=sims)
    best = torch.from_numpy(np.maximum.reduceat(sims.numpy(), offsets[:-1], axis=1))
    scores = torch.full((1, args.docs), 0.5)
    parts = {
        "whole maxsim call": lambda: maxsim(q_tokens, q_offsets, d_tokens, d_offsets),
        "plain q @ d.T": lambda: q_tokens @ d_tokens.T,
        "product into a reused buffer": lambda: torch.mm(q_tokens, d_tokens.T, out=sims),
        "product into a fresh buffer": lambda: torch.mm(q_tokens, d_tokens.T, out=torch.empty(n_q * width).view(n_q, width)),
        "segmented max (reduceat)": lambda: np.maximum.reduceat(sims.numpy(), offsets[:-1], axis=1),
        "offset checks (query + docs)": lambda: (internals._check_packed("query", q_tokens, q_offsets),
                                                 internals._check_packed("document", d_tokens, d_offsets)),
        "NaN check of the scores": lambda: internals._check_finite(scores),
        "query mean": lambda: best.mean(dim=0, keepdim=True),
    }
    result = {name: median_ms(fn, args.calls) for name, fn in parts.items()}
    result.update(in_sequence(q_tokens, q_offsets, d_tokens, d_offsets, sims, internals, args.calls))
    accounted = sum(result[k] for k in ("product into a fresh buffer", "segmented max (reduceat)",
                                        "offset checks (query + docs)", "NaN check of the scores", "query mean"))
    result["not accounted"] = result["whole maxsim call"] - accounted
    print(f"1 query x {args.docs} docs x ~{args.doc_tokens} tokens, {args.dim}-d, {args.threads} threads, torch {torch.__version__}")
    for name, ms in result.items():
        print(f"  {name:32s} {ms:7.3f} ms")
    return result


def in_sequence(q_tokens, q_offsets, d_tokens, d_offsets, sims, internals, calls: int) -> dict[str, float]:
    """The kernel's steps in their order, each timed in place; plus the product and reduction alone."""
    clock = time.perf_counter
    steps: dict[str, list[float]] = {}

    def one_call() -> None:
        t0 = clock()
        bounds = internals._check_packed("query", q_tokens, q_offsets), internals._check_packed("document", d_tokens, d_offsets)
        t1 = clock()
        torch.mm(q_tokens, d_tokens.T, out=sims)
        t2 = clock()
        best = np.maximum.reduceat(sims.numpy(), bounds[1][:-1], axis=1)
        t3 = clock()
        scores = torch.from_numpy(best.mean(axis=0, keepdims=True))
        t4 = clock()
        internals._check_finite(scores)
        t5 = clock()
        for name, value in (("checks", t1 - t0), ("product", t2 - t1), ("reduceat", t3 - t2), ("mean", t4 - t3),
                            ("NaN check", t5 - t4), ("all steps", t5 - t0)):
            steps.setdefault(f"in sequence: {name}", []).append(value)

    def floor() -> None:
        t0 = clock()
        torch.mm(q_tokens, d_tokens.T, out=sims)
        np.maximum.reduceat(sims.numpy(), d_offsets.numpy()[:-1], axis=1)
        steps.setdefault("product + reduceat only", []).append(clock() - t0)

    for _ in range(20):
        one_call(), floor()
    steps.clear()
    for _ in range(calls):
        one_call(), floor()
    return {name: statistics.median(values) * 1e3 for name, values in steps.items()}


if __name__ == "__main__":
    main()
