"""Local-store search latency with 1 and 2 torch intra-op threads, alternating query by query.

On a shared machine whose cores are oversubscribed, torch's intra-op threads wait on each other
at every parallel region; this measures what that costs one search (synthetic documents, the
local store, pooled top-100 then the exact rerank).

    python benchmarks/search_threads.py --compression residual-4
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from index_latency import _StubEncoder, queries_from, synthetic  # noqa: E402

from smart_plugins.index import SmartIndex  # noqa: E402
from smart_plugins.scoring import ScoreWeights  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--docs", type=int, default=10_000)
    parser.add_argument("--queries", type=int, default=200)
    parser.add_argument("--compression", default="residual-4")
    args = parser.parse_args()
    rng = np.random.default_rng(0)
    topics = rng.normal(size=(max(8, args.docs // 50), 384)).astype(np.float32)
    topics /= np.linalg.norm(topics, axis=1, keepdims=True)
    docs = synthetic(args.docs, 384, 80, seed=1, topics=topics)
    queries = [queries_from(docs, args.queries, seed=7).select([q]) for q in range(args.queries)]
    with tempfile.TemporaryDirectory() as work:
        index = SmartIndex.create(Path(work) / "index", _StubEncoder(384), weights=ScoreWeights(1, 1), compression=args.compression)
        index.add_encoded(docs, [f"t{i}" for i in range(len(docs))], ids=[f"d{i}" for i in range(len(docs))])
        index.build_first_stage()
        latency: dict[int, list[float]] = {1: [], 2: []}
        for q, query in enumerate(queries):
            for threads in (1, 2) if q % 2 else (2, 1):
                torch.set_num_threads(threads)
                t0 = time.perf_counter()
                index.search_encoded(query, k=10, candidates=100)
                latency[threads].append(time.perf_counter() - t0)
        index.close()
    for threads, values in latency.items():
        print(f"{args.compression}, torch threads {threads}: p50 {np.median(values) * 1000:.1f} ms, "
              f"p95 {np.percentile(values, 95) * 1000:.1f} ms")


if __name__ == "__main__":
    main()
