"""Measure the trained token adapter against pooled and inference-only SMART, per task.

For each BEIR task: train adapters (D = 384 and D = 128, backbone frozen, cached states) on the
train split, save each model folder, reload it with ``SmartEncoder(folder)``, and evaluate on the
test split with a two-stage search: pooled top-200, then exact rerank with the core scorer.
nDCG@10 / R@10 / MRR@10 come from ir-measures.

The base model's encodings of the corpus and of the queries come from the evaluation package's
on-disk cache (``smart_plugins.evaluation``, shared with ``smart-plugins eval``), so the backbone
runs once per text for everything here: the training state cache is those same encodings
(train queries + the corpus rows of their positives). Each adapter is then applied to the base
token states (it is a function of them); that shortcut is checked against a full
``SmartEncoder(saved folder)`` encode of a sample of documents and of the test queries before
anything is reported.

    python benchmarks/train_adapter.py --tasks debian-siblings --max-pairs 4000 --out results.json
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import ir_measures
import torch
from ir_measures import RR, R, nDCG

from smart_plugins.encoder import EncodedTexts, SmartEncoder
from smart_plugins.evaluation.cache import EncodedCache
from smart_plugins.evaluation.dataset import load_beir
from smart_plugins.evaluation.encoding import encode_cached
from smart_plugins.scoring import ScoreWeights, maxsim, pooled_scores
from smart_plugins.training import (
    AdapterTrainingConfig,
    LinearSchedule,
    TokenStateCache,
    TrainingPair,
    find_adapter,
    save_model,
    train_adapter,
)

MEASURES = [nDCG @ 10, R @ 10, RR @ 10]


def project(adapter, enc: EncodedTexts, chunk: int = 200_000) -> EncodedTexts:
    """Apply a trained adapter to base token states (exactly what the saved model computes)."""
    parts = []
    with torch.no_grad():
        for i in range(0, enc.tokens.shape[0], chunk):
            parts.append(adapter.project(enc.tokens[i : i + chunk].float()).to(torch.float16))
    return EncodedTexts(enc.pooled, torch.cat(parts), enc.offsets, enc.token_ids, enc.positions)


def two_stage(q: EncodedTexts, d: EncodedTexts, weights: ScoreWeights, depth: int) -> list[tuple[list[int], list[float]]]:
    pooled = pooled_scores(q.pooled, d.pooled)
    top = torch.topk(pooled, min(depth, pooled.shape[1]), dim=1)
    out = []
    for i in range(len(q)):
        cand = top.indices[i]
        score = weights.pool * top.values[i]
        if weights.uses_late:
            sub = d.select(cand)
            qi = q.select([i])
            late = maxsim(qi.tokens.float(), qi.offsets, sub.tokens.float(), sub.offsets)[0]
            score = score + weights.late * late
        out.append((cand.tolist(), score.tolist()))
    return out


def evaluate(ranked, qids, doc_ids, qrels) -> dict[str, float]:
    run = [
        ir_measures.ScoredDoc(qid, doc_ids[j], float(s)) for qid, (cand, scores) in zip(qids, ranked) for j, s in zip(cand, scores)
    ]
    qrels_rows = [ir_measures.Qrel(q, d, rel) for q, docs in qrels.items() for d, rel in docs.items()]
    agg = ir_measures.calc_aggregate(MEASURES, qrels_rows, run)
    return {str(m): round(float(agg[m]), 4) for m in MEASURES}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--datasets", default="/work/shared/datasets")
    parser.add_argument("--tasks", nargs="+", default=["debian-siblings", "debian-synopsis", "stdlib-code"])
    parser.add_argument("--model", default="minilm")
    parser.add_argument("--dims", nargs="+", type=int, default=[384, 128])
    parser.add_argument("--max-pairs", type=int, default=4000)
    parser.add_argument("--epochs", type=int, default=4)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--lr", type=float, default=2e-3)
    parser.add_argument("--hard-negatives", type=int, default=0)
    parser.add_argument("--hybrid-weight", default="0", help="schedule of the hybrid InfoNCE term: W or START:END")
    parser.add_argument("--depth", type=int, default=200)
    parser.add_argument("--work", default="/tmp/smart-train-bench", help="model folders and state caches")
    parser.add_argument("--out", default=None, help="write the results as JSON here")
    parser.add_argument("--cache-dir", default=None, help="encoded-text cache of smart_plugins.evaluation (default: its default)")
    args = parser.parse_args(argv)
    torch.manual_seed(0)
    work = Path(args.work)
    base = SmartEncoder(args.model, device="cpu")
    shared = EncodedCache(args.cache_dir)
    hybrid = ScoreWeights(1, 1)
    results = []
    for task in args.tasks:
        folder = Path(args.datasets) / task
        test, train = load_beir(folder, "test"), load_beir(folder, "train")
        t0 = time.perf_counter()
        docs, doc_s = encode_cached(base, test.doc_texts, "document", shared)
        queries, _ = encode_cached(base, test.query_texts, "query", shared)
        train_q, train_q_s = encode_cached(base, train.query_texts, "query", shared)
        print(f"[{task}] base encodings ready in {time.perf_counter() - t0:.0f}s "
              f"(corpus encode {doc_s:.0f}s, 0 = cache hit)", flush=True)
        docs = docs.to(dtype=torch.float16)
        cache = TokenStateCache.from_encoded(train.query_texts, train_q.to(dtype=torch.float16), test.doc_texts, docs)
        doc_at = test.doc_index()
        pairs = [
            TrainingPair(text, test.doc_texts[doc_at[did]])
            for qid, text in zip(train.query_ids, train.query_texts)
            for did, rel in train.qrels[qid].items() if rel > 0
        ]
        order = torch.randperm(len(pairs), generator=torch.Generator().manual_seed(0)).tolist()
        pairs = [pairs[i] for i in order[: args.max_pairs]]
        rows = [
            {"task": task, "method": "pooled", "token_dim": None, "bytes_per_token_fp16": 0,
             **evaluate(two_stage(queries, docs, ScoreWeights(1, 0), args.depth), test.query_ids, test.doc_ids, test.qrels)},
            {"task": task, "method": "hybrid (inference-only)", "token_dim": base.token_dim, "bytes_per_token_fp16": 2 * base.token_dim,
             **evaluate(two_stage(queries, docs, hybrid, args.depth), test.query_ids, test.doc_ids, test.qrels)},
        ]
        for r in rows:
            print(json.dumps(r), flush=True)
        for dim in args.dims:
            config = AdapterTrainingConfig(
                dim=dim, epochs=args.epochs, batch_size=args.batch_size, learning_rate=args.lr,
                hard_negatives=args.hard_negatives, hybrid_weight=LinearSchedule.parse(args.hybrid_weight),
            )
            model, report = train_adapter(base, pairs, config, cache=cache)
            folder_out = save_model(model, work / f"{task}-adapter-{dim}", overwrite=True)
            trained = SmartEncoder(str(folder_out), device="cpu")
            adapter = find_adapter(trained.model)
            sample = list(range(0, len(test.doc_texts), max(1, len(test.doc_texts) // 40)))
            direct = trained.encode_documents([test.doc_texts[i] for i in sample])
            if not torch.allclose(direct.tokens, project(adapter, docs.select(sample)).tokens.float(), atol=5e-3):
                print("adapter applied to cached states disagrees with SmartEncoder(saved folder): aborting", file=sys.stderr)
                return 1
            q_adapted = trained.encode_queries(test.query_texts)
            row = {
                "task": task, "method": f"hybrid + adapter D={dim}", "token_dim": trained.token_dim,
                "bytes_per_token_fp16": 2 * trained.token_dim, "train_pairs": report.pairs, "epochs": args.epochs,
                "train_seconds": round(report.train_seconds, 1),
                # backbone pass over the training texts; None when the encodings came from the cache
                "train_text_encode_seconds_est": (
                    round(train_q_s + doc_s * len({p.positive for p in pairs}) / len(test.doc_texts), 1)
                    if train_q_s and doc_s else None
                ),
                "epoch_losses": [round(x, 4) for x in report.epoch_losses],
                **evaluate(two_stage(q_adapted, project(adapter, docs), hybrid, args.depth), test.query_ids, test.doc_ids, test.qrels),
            }
            rows.append(row)
            print(json.dumps(row), flush=True)
        results.extend(rows)
        if args.out:
            Path(args.out).write_text(json.dumps(results, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
