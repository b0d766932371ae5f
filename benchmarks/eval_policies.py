"""Measure hybrid policies side by side on BEIR tasks (one scoring pass per split, shared by all policies).

Policies: pooled, late, hybrid 1:1 (raw SMART formula), z-scored fusion 1:1, and λ tuned on the
train split (raw and z-scored). Prints nDCG@10 per task and each policy's loss to the better of
pooled and late. Encoded corpora come from the same cache as ``smart-plugins eval``.

    python benchmarks/eval_policies.py /work/shared/datasets/debian-siblings ... --json out.json
"""

from __future__ import annotations

import argparse
import json
import time

from smart_plugins.encoder import SmartEncoder
from smart_plugins.evaluation.cache import EncodedCache
from smart_plugins.evaluation.dataset import load_beir
from smart_plugins.evaluation.encoding import encode_cached
from smart_plugins.evaluation.metrics import evaluate_run
from smart_plugins.evaluation.retrieval import score_candidates
from smart_plugins.evaluation.tuning import tune_weights
from smart_plugins.scoring import ScoreWeights

METRIC = {"ndcg@10": "nDCG@10"}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("datasets", nargs="+")
    parser.add_argument("--model", default="minilm")
    parser.add_argument("--k", type=int, default=200)
    parser.add_argument("--tune-max-queries", type=int, default=1000)
    parser.add_argument("--json")
    args = parser.parse_args()
    encoder = SmartEncoder(args.model)
    cache = EncodedCache()
    results = {}
    for folder in args.datasets:
        started = time.perf_counter()
        scored = {}
        for split, limit in (("test", None), ("train", args.tune_max_queries)):
            data = load_beir(folder, split, max_queries=limit)
            docs, _ = encode_cached(encoder, data.doc_texts, "document", cache)
            queries, _ = encode_cached(encoder, data.query_texts, "query", cache)
            scored[split] = (data, score_candidates(queries, docs, args.k, show_progress=False))
        test, test_scores = scored["test"]
        train, train_scores = scored["train"]

        def ndcg(weights: ScoreWeights, fusion: str = "weighted") -> float:
            run = test_scores.run(test.query_ids, test.doc_ids, weights, 100, fusion)  # type: ignore[arg-type]
            return evaluate_run(run, test.qrels, METRIC)["ndcg@10"]

        row = {
            "pooled": ndcg(ScoreWeights(1, 0)),
            "late": ndcg(ScoreWeights(0, 1)),
            "hybrid 1:1": ndcg(ScoreWeights(1, 1)),
            "zscore 1:1": ndcg(ScoreWeights(1, 1), "zscore"),
        }
        for fusion in ("weighted", "zscore"):
            tuned, _ = tune_weights(train_scores, train.query_ids, train.doc_ids, train.qrels, fusion=fusion)  # type: ignore[arg-type]
            row[f"tuned {fusion}"] = ndcg(tuned.weights, fusion)
            row[f"tuned {fusion} λ"] = tuned.weights.as_dict()
        from smart_plugins.evaluation.tuning import DEFAULT_TUNING_GRID, weights_from_share

        # diagnostic only (chosen on nothing): test nDCG@10 along the grid for both fusions
        row["test sweep (late share: weighted, zscore)"] = {
            share: (round(ndcg(weights_from_share(share)), 4), round(ndcg(weights_from_share(share), "zscore"), 4))
            for share in DEFAULT_TUNING_GRID
        }
        best = max(row["pooled"], row["late"])
        row["loss_to_best_pt"] = {k: round(100 * (best - v), 2) for k, v in row.items() if isinstance(v, float)}
        row["seconds"] = round(time.perf_counter() - started, 1)
        results[test.name] = row
        print(test.name, json.dumps(row, indent=1), flush=True)
    if args.json:
        with open(args.json, "w") as handle:
            json.dump(results, handle, indent=2)


if __name__ == "__main__":
    main()
