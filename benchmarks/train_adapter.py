"""Measure the trained token adapter against pooled and inference-only SMART, per task.

For each BEIR task the train split's queries are cut, seeded, into a training part and a held-out
**tuning** slice (``--tune-share``, default 10 %). Adapters (each ``--dims`` value, backbone
frozen, cached states) are trained on the training part's pairs, saved, and reloaded with
``SmartEncoder(folder)``. Everything is then evaluated on the **test** split with the evaluation
package's two-stage search (pooled top-``--depth``, exact rerank with the core MaxSim kernel;
nDCG@10 / R@10 / MRR@10 from ir-measures). Each hybrid is reported twice:

* at the default λ = 1:1, and
* at the λ chosen on the held-out tuning slice (``smart_plugins.evaluation.tune_weights``); the
  inference-only hybrid is tuned on the same slice, so the two tuned rows compare like with like.

The base model's encodings come from the evaluation package's on-disk cache (shared with
``smart-plugins eval``), so the backbone runs once per text: the training state cache is those
same encodings. Each adapter is then applied to the base token states (it is a function of them);
that shortcut is checked against a full ``SmartEncoder(saved folder)`` encode of a sample of
documents before anything is reported.

    python benchmarks/train_adapter.py --tasks debian-siblings --out results.json
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import time
from pathlib import Path

import torch

from smart_plugins.encoder import EncodedTexts, SmartEncoder
from smart_plugins.evaluation.cache import EncodedCache
from smart_plugins.evaluation.dataset import load_beir
from smart_plugins.evaluation.encoding import encode_cached
from smart_plugins.evaluation.metrics import evaluate_run, parse_metrics
from smart_plugins.evaluation.retrieval import CandidateScores, score_candidates
from smart_plugins.evaluation.tuning import tune_weights
from smart_plugins.scoring import ScoreWeights
from smart_plugins.training import (
    AdapterTrainingConfig,
    LinearSchedule,
    TokenStateCache,
    TrainingPair,
    find_adapter,
    save_model,
    state_encoder,
    train_adapter,
)

METRICS = parse_metrics("ndcg@10,recall@10,mrr@10")


def project(adapter, enc: EncodedTexts, kind: str = "document", texts_per_chunk: int = 4096) -> EncodedTexts:
    """Apply a trained adapter to base token states (exactly what the saved model computes,
    query-token weights included for ``kind="query"``)."""
    parts = []
    with torch.no_grad():
        for i in range(0, len(enc), texts_per_chunk):
            part = enc.select(list(range(i, min(len(enc), i + texts_per_chunk))))
            parts.append(adapter.encode_packed(part.tokens.float(), part.lengths, kind=kind))
    return EncodedTexts(enc.pooled, torch.cat(parts), enc.offsets, enc.token_ids, enc.positions)


def encode_states(encoder: SmartEncoder, texts: list[str], kind: str, shared: EncodedCache, chunk: int = 4000) -> EncodedTexts:
    """Base states of ``texts`` (through the on-disk cache), kept at float16 chunk by chunk so
    several layers of a large corpus fit in memory."""
    parts = [
        encode_cached(encoder, texts[i : i + chunk], kind, shared)[0].to(dtype=torch.float16)
        for i in range(0, len(texts), chunk)
    ]
    return EncodedTexts.concat(parts)


def metrics_of(scores: CandidateScores, weights: ScoreWeights, query_ids, doc_ids, qrels) -> dict[str, float]:
    return {k: round(v, 4) for k, v in evaluate_run(scores.run(query_ids, doc_ids, weights), qrels, METRICS).items()}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--datasets", default="/work/shared/datasets")
    parser.add_argument("--tasks", nargs="+", default=["debian-siblings", "debian-synopsis", "stdlib-code"])
    parser.add_argument("--model", default="minilm")
    parser.add_argument("--dims", nargs="+", type=int, default=[384, 128])
    parser.add_argument("--max-pairs", type=int, default=None, help="cap on training pairs (default: all)")
    parser.add_argument("--tune-share", type=float, default=0.1, help="share of train queries held out to pick λ")
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--min-steps", type=int, default=300, help="raise the epochs of small tasks to reach this many steps")
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--lr", type=float, default=5e-3)
    parser.add_argument("--temperature", type=float, default=0.1)
    parser.add_argument("--warmup", type=float, default=0.05)
    parser.add_argument("--no-decay", action="store_true")
    parser.add_argument("--hard-negatives", type=int, default=2)
    parser.add_argument("--layers", type=int, default=1, help="adapter mixes the last N layers")
    parser.add_argument("--query-weights", action="store_true", help="adapter learns query-token weights")
    parser.add_argument("--hybrid-weight", default="1", help="schedule of the hybrid InfoNCE term: W or START:END")
    parser.add_argument("--depth", type=int, default=200)
    parser.add_argument("--work", default="/tmp/smart-train-bench", help="model folders")
    parser.add_argument("--out", default=None, help="write the results as JSON here")
    parser.add_argument("--cache-dir", default=None, help="encoded-text cache of smart_plugins.evaluation (default: its default)")
    args = parser.parse_args(argv)
    torch.manual_seed(0)
    work = Path(args.work)
    base = SmartEncoder(args.model, device="cpu")
    shared = EncodedCache(args.cache_dir)
    default = ScoreWeights(1, 1)
    results = []
    for task in args.tasks:
        folder = Path(args.datasets) / task
        test, train = load_beir(folder, "test"), load_beir(folder, "train")
        t0 = time.perf_counter()
        docs, doc_s = encode_cached(base, test.doc_texts, "document", shared)
        queries, _ = encode_cached(base, test.query_texts, "query", shared)
        train_q, _ = encode_cached(base, train.query_texts, "query", shared)
        if args.layers > 1:  # the adapter's inputs: the last N layers side by side
            states = state_encoder(base, args.layers)
            state_docs = encode_states(states, test.doc_texts, "document", shared)
            state_train_q = encode_states(states, train.query_texts, "query", shared)
        else:
            state_docs, state_train_q = docs.to(dtype=torch.float16), train_q.to(dtype=torch.float16)
        print(f"[{task}] base encodings ready in {time.perf_counter() - t0:.0f}s (0 = cache hit)", flush=True)

        shuffled = list(range(len(train.query_ids)))
        random.Random(0).shuffle(shuffled)
        n_tune = int(round(args.tune_share * len(shuffled)))
        tune_rows, fit_rows = sorted(shuffled[:n_tune]), shuffled[n_tune:]
        tune_ids = [train.query_ids[i] for i in tune_rows]
        tune_qrels = {q: train.qrels[q] for q in tune_ids}
        doc_at = test.doc_index()
        pairs = [
            TrainingPair(train.query_texts[i], test.doc_texts[doc_at[did]])
            for i in fit_rows
            for did, rel in train.qrels[train.query_ids[i]].items() if rel > 0
        ][: args.max_pairs]
        cache = TokenStateCache.from_encoded(train.query_texts, state_train_q, test.doc_texts, state_docs)
        tune_q = train_q.select(tune_rows)
        state_tune_q = state_train_q.select(tune_rows)

        def report(method: str, test_scores: CandidateScores, tune_scores: CandidateScores | None, **extra):
            rows = [{"task": task, "method": f"{method}, λ 1:1", "weights": "1:1", **extra,
                     **metrics_of(test_scores, default, test.query_ids, test.doc_ids, test.qrels)}]
            if tune_scores is not None:
                tuned, _ = tune_weights(tune_scores, tune_ids, test.doc_ids, tune_qrels)
                w = tuned.weights
                rows.append({"task": task, "method": f"{method}, λ tuned", "weights": f"{w.pool:g}:{w.late:g}", **extra,
                             **metrics_of(test_scores, w, test.query_ids, test.doc_ids, test.qrels)})
            rows.append({"task": task, "method": f"{method} late only", "weights": "0:1", **extra,
                         **metrics_of(test_scores, ScoreWeights(0, 1), test.query_ids, test.doc_ids, test.qrels)})
            for r in rows:
                print(json.dumps(r), flush=True)
            return rows

        base_test = score_candidates(queries, docs, k=args.depth)
        rows = [{"task": task, "method": "pooled", "weights": "1:0", "token_dim": None, "bytes_per_token_fp16": 0,
                 **metrics_of(base_test, ScoreWeights(1, 0), test.query_ids, test.doc_ids, test.qrels)}]
        print(json.dumps(rows[0]), flush=True)
        rows += report("inference-only hybrid", base_test, score_candidates(tune_q, docs, k=args.depth),
                       token_dim=base.token_dim, bytes_per_token_fp16=2 * base.token_dim)
        steps_per_epoch = -(-len(pairs) // args.batch_size)
        epochs = max(args.epochs, -(-args.min_steps // steps_per_epoch))
        for dim in args.dims:
            config = AdapterTrainingConfig(
                dim=dim, epochs=epochs, batch_size=args.batch_size, learning_rate=args.lr, temperature=args.temperature,
                warmup=args.warmup, decay=not args.no_decay, hard_negatives=args.hard_negatives,
                hybrid_weight=LinearSchedule.parse(args.hybrid_weight),
                layers=args.layers, query_weights=args.query_weights,
            )
            model, train_report = train_adapter(base, pairs, config, cache=cache)
            folder_out = save_model(model, work / f"{task}-adapter-{dim}", overwrite=True)
            trained = SmartEncoder(str(folder_out), device="cpu")
            adapter = find_adapter(trained.model)
            sample = list(range(0, len(test.doc_texts), max(1, len(test.doc_texts) // 40)))
            direct = trained.encode_documents([test.doc_texts[i] for i in sample])
            if not torch.allclose(direct.tokens, project(adapter, state_docs.select(sample)).tokens, atol=5e-3):
                print("adapter applied to cached states disagrees with SmartEncoder(saved folder): aborting", file=sys.stderr)
                return 1
            adapted_docs = project(adapter, state_docs)
            variant = "".join([f", {args.layers} layers" if args.layers > 1 else "", ", query weights" if args.query_weights else ""])
            rows += report(
                f"adapter D={dim}{variant} hybrid",
                score_candidates(trained.encode_queries(test.query_texts), adapted_docs, k=args.depth),
                score_candidates(project(adapter, state_tune_q, kind="query"), adapted_docs, k=args.depth),
                token_dim=trained.token_dim, bytes_per_token_fp16=2 * trained.token_dim, train_pairs=train_report.pairs,
                epochs=epochs, train_seconds=round(train_report.train_seconds, 1),
                epoch_losses=[round(x, 4) for x in train_report.epoch_losses],
            )
        results.extend(rows)
        if args.out:
            Path(args.out).write_text(json.dumps(results, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
