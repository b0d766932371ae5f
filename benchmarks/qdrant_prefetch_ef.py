"""Qdrant Edge's pooled prefetch: top-10 agreement with the exact hybrid at several HNSW beam widths.

Builds (or reuses) a Qdrant Edge index of debian-synopsis from the project's encoding cache and
searches the first ``--queries`` test queries with Qdrant's default beam (the collection's
``ef_construct``), with the library's rule (``qdrant_backend.prefetch_ef``), and at a fixed 400,
all on the same index in one run.

    python benchmarks/qdrant_prefetch_ef.py /tmp/edge-synopsis --cache-dir .smart_cache/encoded
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

import smart_plugins.index.qdrant_store as qdrant_store
from smart_plugins.encoder import SmartEncoder
from smart_plugins.evaluation.cache import EncodedCache
from smart_plugins.evaluation.dataset import load_beir
from smart_plugins.evaluation.encoding import encode_cached
from smart_plugins.index import SmartIndex
from smart_plugins.scoring import ScoreWeights

sys.path.insert(0, str(Path(__file__).resolve().parent))
from qdrant_vs_local import exact_top10  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("folder", type=Path, help="the Edge index (built here when missing)")
    parser.add_argument("--dataset", default="/work/shared/datasets/debian-synopsis")
    parser.add_argument("--cache-dir")
    parser.add_argument("--queries", type=int, default=200)
    args = parser.parse_args()
    encoder = SmartEncoder("minilm", device="cpu")
    data = load_beir(args.dataset, split="test")
    cache = EncodedCache(args.cache_dir)
    docs, _ = encode_cached(encoder, data.doc_texts, "document", cache)
    queries, _ = encode_cached(encoder, data.query_texts, "query", cache)
    queries = queries.select(list(range(min(args.queries, len(queries)))))
    exact = [set(top10) for top10 in exact_top10(docs, queries, data.doc_ids)]
    if not args.folder.exists():
        index = SmartIndex.create(args.folder, encoder, weights=ScoreWeights(1, 1), store="qdrant-edge")
        for start in range(0, len(docs), 4096):
            part = list(range(start, min(start + 4096, len(docs))))
            index.add_encoded(docs.select(part), [data.doc_texts[i] for i in part], ids=[data.doc_ids[i] for i in part])
        index.build_first_stage()
        index.close()
    index = SmartIndex.open(args.folder)
    rule = qdrant_store.prefetch_ef
    for label, beam in [("Qdrant's default (ef_construct)", lambda n: None), ("prefetch_ef rule", rule), ("ef 400", lambda n: 400)]:
        qdrant_store.prefetch_ef = beam
        agreement, latency = [], []
        for q in range(len(queries)):
            one = queries.select([q])
            t0 = time.perf_counter()
            hits = index.search_encoded(one, k=10, candidates=100)[0]
            latency.append(time.perf_counter() - t0)
            agreement.append(len({h.id for h in hits} & exact[q]) / 10)
        print(f"{label}: top-10 agreement {np.mean(agreement):.4f}, p50 {np.median(latency) * 1000:.1f} ms", flush=True)
    qdrant_store.prefetch_ef = rule
    index.close()


if __name__ == "__main__":
    main()
