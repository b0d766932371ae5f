"""bytes/token and nDCG@10 of every token codec on a BEIR task (default: debian-siblings test).

The corpus and queries are encoded once (MiniLM) through the shared encoded-corpus cache
(``smart_plugins.evaluation``), then indexed once per codec with ``SmartIndex.add_encoded`` and
searched with the index's own two-stage path (pooled top-``--candidates``, exact hybrid rerank
from the stored, decoded tokens). Quality is computed with ir-measures.

    python benchmarks/index_compression.py --dataset /work/shared/datasets/debian-siblings
"""

from __future__ import annotations

import argparse
import shutil
import tempfile
import time
from pathlib import Path

from smart_plugins.encoder import SmartEncoder
from smart_plugins.evaluation.cache import EncodedCache
from smart_plugins.evaluation.dataset import load_beir
from smart_plugins.evaluation.encoding import encode_cached
from smart_plugins.evaluation.metrics import evaluate_run
from smart_plugins.index import CODEC_NAMES, SmartIndex
from smart_plugins.scoring import ScoreWeights


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dataset", default="/work/shared/datasets/debian-siblings")
    parser.add_argument("--split", default="test")
    parser.add_argument("--model", default="minilm")
    parser.add_argument("--codecs", default=",".join(CODEC_NAMES))
    parser.add_argument("--candidates", type=int, default=200)
    parser.add_argument("--max-queries", type=int)
    parser.add_argument("--workdir", default=tempfile.gettempdir())
    args = parser.parse_args()

    data = load_beir(args.dataset, split=args.split, max_queries=args.max_queries)
    encoder = SmartEncoder(args.model, device="cpu")
    cache = EncodedCache()
    docs, _ = encode_cached(encoder, data.doc_texts, "document", cache)
    queries, _ = encode_cached(encoder, data.query_texts, "query", cache)
    print(f"{data.name} {args.split}: {len(docs)} docs, {docs.tokens.shape[0]} tokens, {len(queries)} queries; "
          f"candidates={args.candidates}")
    modes = {"hybrid": ScoreWeights(1, 1), "late": ScoreWeights(0, 1), "pooled": ScoreWeights(1, 0)}
    print(f"{'codec':<11} {'B/token':>8} {'of fp32':>8} {'hybrid':>7} {'late':>7} {'pooled':>7} {'build s':>8} {'ms/query':>9}")
    baseline = None
    for codec in args.codecs.split(","):
        folder = Path(tempfile.mkdtemp(prefix=f"bench-{codec}-", dir=args.workdir))
        shutil.rmtree(folder)
        start = time.perf_counter()
        index = SmartIndex.create(folder, encoder, compression=codec)
        index.add_encoded(docs, data.doc_texts, ids=data.doc_ids)
        build = time.perf_counter() - start
        info = index.info()
        scores = {}
        for mode, weights in modes.items():
            if mode != "hybrid" and codec not in ("fp32",) and mode == "pooled":
                continue  # pooled vectors are never compressed: same for every codec
            start = time.perf_counter()
            hits = index.search_encoded(queries, k=100, candidates=args.candidates, weights=weights)
            elapsed = time.perf_counter() - start
            if mode == "hybrid":
                per_query = 1000 * elapsed / len(queries)
            run = {q: {h.id: h.score for h in qh} for q, qh in zip(data.query_ids, hits)}
            scores[mode] = evaluate_run(run, data.qrels, {"ndcg@10": "nDCG@10"})["ndcg@10"]
        if codec == "fp32":
            baseline = scores
        bpt = info["token_bytes_per_token"]
        print(f"{codec:<11} {bpt:>8.1f} {bpt / info['fp32_bytes_per_token']:>8.1%} {scores['hybrid']:>7.4f} "
              f"{scores['late']:>7.4f} {scores.get('pooled', float('nan')):>7.4f} {build:>8.1f} {per_query:>9.2f}", flush=True)
        index.close()
        shutil.rmtree(folder)
    if baseline:
        print("(nDCG@10 loss vs fp32 is the difference of the hybrid/late columns; pooled is codec-independent)")


if __name__ == "__main__":
    main()
