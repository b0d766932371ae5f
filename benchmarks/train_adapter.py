"""Measure the trained token adapter against pooled and inference-only SMART, per task.

For each BEIR task: train adapters (D = 384 and D = 128, backbone frozen, cached states) on the
train split, save each model folder, reload it with ``SmartEncoder(folder)``, and evaluate on the
test split with a two-stage search: pooled top-200, then exact rerank with the core scorer.
nDCG@10 / R@10 / MRR@10 come from ir-measures.

The corpus is encoded once with the base model; each adapter is applied to those token states
(the adapter is a function of them). That shortcut is checked against a full
``SmartEncoder(saved folder)`` encode of a sample of documents before anything is reported.

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
from smart_plugins.scoring import ScoreWeights, maxsim, pooled_scores
from smart_plugins.training import AdapterTrainingConfig, LinearSchedule, TokenStateCache, find_adapter, load_pairs, save_model, train_adapter, unique_texts
from smart_plugins.training.data import _read_jsonl, document_text, read_qrels

MEASURES = [nDCG @ 10, R @ 10, RR @ 10]


def load_test(folder: Path, split: str) -> tuple[list[str], list[str], list[str], list[str], dict]:
    qrels = read_qrels(folder / "qrels" / f"{split}.tsv")
    corpus = list(_read_jsonl(folder / "corpus.jsonl"))
    queries = {str(r["_id"]): str(r["text"]) for r in _read_jsonl(folder / "queries.jsonl") if str(r["_id"]) in qrels}
    qids = sorted(queries)
    return [str(r["_id"]) for r in corpus], [document_text(r) for r in corpus], qids, [queries[q] for q in qids], qrels


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
    args = parser.parse_args(argv)
    torch.manual_seed(0)
    work = Path(args.work)
    base = SmartEncoder(args.model, device="cpu")
    hybrid = ScoreWeights(1, 1)
    results = []
    for task in args.tasks:
        folder = Path(args.datasets) / task
        pairs = load_pairs(folder, "train", max_pairs=args.max_pairs, seed=0)
        tq, td = unique_texts(pairs)
        t0 = time.perf_counter()
        cache = TokenStateCache.build(base, tq, td, path=work / f"{task}-{len(pairs)}.states.safetensors")
        cache_s = time.perf_counter() - t0
        doc_ids, doc_texts, qids, q_texts, qrels = load_test(folder, "test")
        t0 = time.perf_counter()
        docs = base.encode_documents(doc_texts).to(dtype=torch.float16)
        queries = base.encode_queries(q_texts)
        print(f"[{task}] encoded {len(doc_texts)} docs + {len(q_texts)} test queries in {time.perf_counter() - t0:.0f}s", flush=True)
        rows = [
            {"task": task, "method": "pooled", "token_dim": None, "bytes_per_token": 0, **evaluate(two_stage(queries, docs, ScoreWeights(1, 0), args.depth), qids, doc_ids, qrels)},
            {"task": task, "method": "hybrid (inference-only)", "token_dim": base.token_dim, "bytes_per_token": 2 * base.token_dim, **evaluate(two_stage(queries, docs, hybrid, args.depth), qids, doc_ids, qrels)},
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
            sample = list(range(0, len(doc_texts), max(1, len(doc_texts) // 40)))
            direct = trained.encode_documents([doc_texts[i] for i in sample])
            shortcut = project(adapter, docs.select(sample))
            if not torch.allclose(direct.tokens, shortcut.tokens.float(), atol=2e-3):
                print("adapter shortcut disagrees with SmartEncoder(saved folder): aborting", file=sys.stderr)
                return 1
            q_adapted = trained.encode_queries(q_texts)
            row = {
                "task": task, "method": f"hybrid + adapter D={dim}", "token_dim": trained.token_dim,
                "bytes_per_token": 2 * trained.token_dim, "train_pairs": report.pairs, "epochs": args.epochs,
                "cache_seconds": round(cache_s, 1), "train_seconds": round(report.train_seconds, 1),
                "final_loss": round(report.epoch_losses[-1], 4),
                **evaluate(two_stage(q_adapted, project(adapter, docs), hybrid, args.depth), qids, doc_ids, qrels),
            }
            rows.append(row)
            print(json.dumps(row), flush=True)
        results.extend(rows)
    if args.out:
        Path(args.out).write_text(json.dumps(results, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
