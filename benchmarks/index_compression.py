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

import torch

from smart_plugins.encoder import SmartEncoder
from smart_plugins.evaluation.cache import EncodedCache
from smart_plugins.evaluation.dataset import load_beir
from smart_plugins.evaluation.encoding import encode_cached
from smart_plugins.evaluation.metrics import evaluate_run
from smart_plugins.index import CODEC_NAMES, SmartIndex
from smart_plugins.scoring import ScoreWeights

#: Explicit weights: the hybrid column is pooled + late at 1:1, scored here, so the index's label-free
#: fit of its default weights (run after each add when none are given) would be unused work inside "build s".
ONE_TO_ONE = ScoreWeights(1, 1)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dataset", default="/work/shared/datasets/debian-siblings")
    parser.add_argument("--split", default="test")
    parser.add_argument("--model", default="minilm")
    parser.add_argument("--codecs", default=",".join(CODEC_NAMES))
    parser.add_argument("--candidates", type=int, default=200)
    parser.add_argument("--max-queries", type=int)
    parser.add_argument("--workdir", default=tempfile.gettempdir())
    parser.add_argument("--threads", type=int, default=1, help="torch threads (default 1)")
    args = parser.parse_args()
    Path(args.workdir).mkdir(parents=True, exist_ok=True)  # a new --workdir is created, not an error
    torch.set_num_threads(args.threads)

    data = load_beir(args.dataset, split=args.split, max_queries=args.max_queries)
    encoder = SmartEncoder(args.model, device="cpu")
    cache = EncodedCache()
    docs, _ = encode_cached(encoder, data.doc_texts, "document", cache)
    queries, _ = encode_cached(encoder, data.query_texts, "query", cache)
    print(f"{data.name} {args.split}: {len(docs)} docs, {docs.tokens.shape[0]} tokens, {len(queries)} queries; "
          f"candidates={args.candidates}")
    print(f"{'codec':<11} {'B/token':>8} {'of fp32':>8} {'hybrid':>7} {'late':>7} {'pooled':>7} {'build s':>8} {'rerank ms/q':>12}")
    q_pooled = torch.nn.functional.normalize(queries.pooled, dim=-1).numpy()
    baseline = None
    for codec in args.codecs.split(","):
        folder = Path(tempfile.mkdtemp(prefix=f"bench-{codec}-", dir=args.workdir))
        shutil.rmtree(folder)
        start = time.perf_counter()
        index = SmartIndex.create(folder, encoder, compression=codec, weights=ONE_TO_ONE)
        index.add_encoded(docs, data.doc_texts, ids=data.doc_ids)
        build = time.perf_counter() - start
        info = index.info()
        allowed = index._allowed(None, None)
        rows, pooled = index._first_stage(q_pooled, args.candidates, allowed)  # the index's own first stage
        runs: dict[str, dict[str, dict[str, float]]] = {"hybrid": {}, "late": {}, "pooled": {}}
        spent = 0.0
        for q, qid in enumerate(data.query_ids):
            start = time.perf_counter()
            late = index._late_scores(queries.select([q]), rows[q])  # decode stored tokens + maxsim
            spent += time.perf_counter() - start
            ids = [data.doc_ids[int(r)] for r in rows[q]]  # no deletes: global row == corpus position
            for mode, values in (("hybrid", pooled[q] + late), ("late", late), ("pooled", pooled[q])):
                runs[mode][qid] = dict(zip(ids, values.tolist()))
        scores = {m: evaluate_run(run, data.qrels, {"ndcg@10": "nDCG@10"})["ndcg@10"] for m, run in runs.items()}
        if codec == "fp32":
            baseline = scores
        bpt = info["token_bytes_per_token"]
        loss = "" if baseline is None else f"  (hybrid {100 * (scores['hybrid'] - baseline['hybrid']):+.2f} pt, late {100 * (scores['late'] - baseline['late']):+.2f} pt vs fp32)"
        print(f"{codec:<11} {bpt:>8.1f} {bpt / info['fp32_bytes_per_token']:>8.1%} {scores['hybrid']:>7.4f} "
              f"{scores['late']:>7.4f} {scores['pooled']:>7.4f} {build:>8.1f} {1000 * spent / len(queries):>12.2f}{loss}",
              flush=True)
        index.close()
        shutil.rmtree(folder)
    print("pooled vectors are stored as float32 for every codec, so the pooled column only checks the first stage")


if __name__ == "__main__":
    main()
