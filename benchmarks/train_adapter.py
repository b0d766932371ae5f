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
same encodings. Each adapter is then applied to the base token states of the corpus and of the
test and tuning queries (it is a function of them); that shortcut is checked against a full
``SmartEncoder(saved folder)`` encode of a sample of documents and of test queries before
anything is reported. With ``--layers N`` the N-layer states are encoded once and cached at
float16 (``--state-cache-dir``, default ``--cache-dir``).

    python benchmarks/train_adapter.py --tasks debian-siblings --out results.json
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from smart_plugins.encoder import EncodedTexts, SmartEncoder
from smart_plugins.evaluation.cache import EncodedCache
from smart_plugins.evaluation.dataset import load_beir
from smart_plugins.evaluation.default_mode import corpus_default_weights
from smart_plugins.evaluation.encoding import encode_cached, encoder_identity
from smart_plugins.evaluation.metrics import evaluate_run, parse_metrics
from smart_plugins.evaluation.retrieval import CandidateScores, score_candidates
from smart_plugins.evaluation.tuning import tune_weights
from smart_plugins.scoring import ScoreWeights
from smart_plugins.training.data import pseudo_pairs
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


def encode_states(encoder: SmartEncoder, texts: list[str], kind: str, cache: EncodedCache, chunk: int = 1000) -> EncodedTexts:
    """Base states of ``texts`` through the on-disk cache, kept (and stored) at float16 chunk by
    chunk so several layers of a large corpus fit in memory and on disk."""
    identity = {**encoder_identity(encoder), "storage_dtype": "float16"}

    def run(items: list[str]) -> EncodedTexts:
        return encoder.encode(items, kind=kind, show_progress_bar=len(items) > 256).to(dtype=torch.float16)  # type: ignore[arg-type]

    parts = [cache.get_or_encode(identity, kind, texts[i : i + chunk], run) for i in range(0, len(texts), chunk)]
    return EncodedTexts.concat(parts)


def metrics_of(scores: CandidateScores, weights: ScoreWeights, query_ids, doc_ids, qrels) -> dict[str, float]:
    return {k: round(v, 4) for k, v in evaluate_run(scores.run(query_ids, doc_ids, weights), qrels, METRICS).items()}


@dataclass
class Task:
    """One task's data, base encodings, training pairs and held-out tuning slice."""

    name: str
    test: Any
    train: Any
    docs: EncodedTexts
    queries: EncodedTexts
    train_q: EncodedTexts
    state_docs: EncodedTexts
    state_test_q: EncodedTexts
    state_train_q: EncodedTexts
    pairs: list[TrainingPair]
    cache_q_texts: list[str]
    state_cache_q: EncodedTexts
    tune_rows: list[int]
    tune_ids: list[str]
    tune_qrels: dict[str, dict[str, int]]

    def cache(self) -> TokenStateCache:
        return TokenStateCache.from_encoded(self.cache_q_texts, self.state_cache_q, self.test.doc_texts, self.state_docs)


def prepare(task: str, args: argparse.Namespace, base: SmartEncoder, shared: EncodedCache, state_cache: EncodedCache) -> Task:
    """Load ``task``, its base encodings (cached) and the adapter's input states; cut the train split."""
    folder = Path(args.datasets) / task
    test, train = load_beir(folder, "test"), load_beir(folder, "train")
    t0 = time.perf_counter()
    docs, _ = encode_cached(base, test.doc_texts, "document", shared)
    queries, _ = encode_cached(base, test.query_texts, "query", shared)
    train_q, _ = encode_cached(base, train.query_texts, "query", shared)
    states = state_encoder(base, args.layers)
    if args.layers > 1:  # the adapter's inputs: the last N layers side by side
        state_docs = encode_states(states, test.doc_texts, "document", state_cache)
        state_train_q = encode_states(states, train.query_texts, "query", state_cache)
        state_test_q = encode_states(states, test.query_texts, "query", state_cache)
    else:
        state_docs, state_train_q = docs.to(dtype=torch.float16), train_q.to(dtype=torch.float16)
        state_test_q = queries.to(dtype=torch.float16)
    print(f"[{task}] base encodings ready in {time.perf_counter() - t0:.0f}s (0 = cache hit)", flush=True)

    shuffled = list(range(len(train.query_ids)))
    random.Random(0).shuffle(shuffled)
    n_tune = int(round(args.tune_share * len(shuffled)))
    tune_rows, fit_rows = sorted(shuffled[:n_tune]), shuffled[n_tune:]
    tune_ids = [train.query_ids[i] for i in tune_rows]
    doc_at = test.doc_index()
    pairs = [
        TrainingPair(train.query_texts[i], test.doc_texts[doc_at[did]])
        for i in fit_rows
        for did, rel in train.qrels[train.query_ids[i]].items() if rel > 0
    ][: args.max_pairs]
    cache_q_texts, state_cache_q = list(train.query_texts), state_train_q
    if args.pairs != "labels":  # label-free pairs: spans of corpus documents (no qrels, no queries read)
        drawn = pseudo_pairs(folder, args.pseudo_queries, seed=args.pseudo_seed)
        p_texts = [p.query for p in drawn]
        if args.layers > 1:
            state_p = encode_states(states, p_texts, "query", state_cache)
        else:
            state_p = encode_cached(base, p_texts, "query", shared)[0].to(dtype=torch.float16)
        pairs = drawn + (pairs if args.pairs == "both" else [])
        cache_q_texts += p_texts
        state_cache_q = EncodedTexts.concat([state_train_q, state_p])
    if args.skip_base:  # only the adapter's float16 inputs are needed
        docs = queries = train_q = EncodedTexts.from_lists(torch.zeros(0, 1), [])
    return Task(task, test, train, docs, queries, train_q, state_docs, state_test_q, state_train_q, pairs,
                cache_q_texts, state_cache_q, tune_rows, tune_ids, {q: train.qrels[q] for q in tune_ids})


def joint_cache(tasks: list[Task]) -> TokenStateCache:
    """One state cache over every task's texts; a document text found in several corpora is kept
    once, so it can never be mined as a negative of its own copy."""
    q_texts: list[str] = []
    q_parts, d_parts, d_texts, seen = [], [], [], set()
    for t in tasks:
        q_texts += t.cache_q_texts
        q_parts.append(t.state_cache_q)
        keep = [i for i, text in enumerate(t.test.doc_texts) if not (text in seen or seen.add(text))]
        d_texts += [t.test.doc_texts[i] for i in keep]
        d_parts.append(t.state_docs.select(keep))
    return TokenStateCache.from_encoded(q_texts, EncodedTexts.concat(q_parts), d_texts, EncodedTexts.concat(d_parts))


def report(t: Task, method: str, test_scores: CandidateScores, tune_scores: CandidateScores | None,
           default_of: tuple[SmartEncoder, EncodedTexts], shared: EncodedCache, **extra) -> list[dict]:
    """Rows at λ 1:1, the label-free default, λ tuned on the held-out slice, and late only."""
    def row(name: str, w: ScoreWeights) -> dict:
        return {"task": t.name, "method": f"{method}{name}", "weights": f"{w.pool:g}:{w.late:g}", **extra,
                **metrics_of(test_scores, w, t.test.query_ids, t.test.doc_ids, t.test.qrels)}

    rows = [row(", λ 1:1", ScoreWeights(1, 1))]
    # what SmartIndex.search does with no arguments on this corpus: λ fitted on pseudo-queries
    w, _ = corpus_default_weights(default_of[0], t.test.doc_texts, default_of[1], shared)
    rows.append(row(", label-free default", w))
    if tune_scores is not None:
        tuned, _ = tune_weights(tune_scores, t.tune_ids, t.test.doc_ids, t.tune_qrels)
        rows.append(row(", λ tuned", tuned.weights))
    rows.append(row(" late only", ScoreWeights(0, 1)))
    for r in rows:
        print(json.dumps(r), flush=True)
    return rows


def base_rows(t: Task, args: argparse.Namespace, base: SmartEncoder, shared: EncodedCache) -> list[dict]:
    """Pooled and inference-only rows of one task."""
    base_test = score_candidates(t.queries, t.docs, k=args.depth)
    rows = [{"task": t.name, "method": "pooled", "weights": "1:0", "token_dim": None, "bytes_per_token_fp16": 0,
             **metrics_of(base_test, ScoreWeights(1, 0), t.test.query_ids, t.test.doc_ids, t.test.qrels)}]
    print(json.dumps(rows[0]), flush=True)
    return rows + report(t, "inference-only hybrid", base_test, score_candidates(t.train_q.select(t.tune_rows), t.docs, k=args.depth),
                         (base, t.docs), shared, token_dim=base.token_dim, bytes_per_token_fp16=2 * base.token_dim)


def adapter_rows(t: Task, folder: Path, train_report: Any, epochs: int, variant: str, shared: EncodedCache,
                 depth: int) -> list[dict] | None:
    """Rows of a saved adapter model on task ``t`` (None when the cached-state shortcut disagrees
    with a full encode of the saved folder)."""
    trained = SmartEncoder(str(folder), device="cpu")
    adapter = find_adapter(trained.model)
    for kind, texts, states_of in (("document", t.test.doc_texts, t.state_docs), ("query", t.test.query_texts, t.state_test_q)):
        sample = list(range(0, len(texts), max(1, len(texts) // 40)))
        direct = trained.encode([texts[i] for i in sample], kind=kind)
        if not torch.allclose(direct.tokens, project(adapter, states_of.select(sample), kind=kind).tokens, atol=5e-3):
            print(f"adapter applied to cached {kind} states disagrees with SmartEncoder(saved folder): aborting", file=sys.stderr)
            return None
    adapted_docs = project(adapter, t.state_docs)
    return report(
        t, f"adapter D={trained.token_dim}{variant} hybrid",
        score_candidates(project(adapter, t.state_test_q, kind="query"), adapted_docs, k=depth),
        score_candidates(project(adapter, t.state_train_q.select(t.tune_rows), kind="query"), adapted_docs, k=depth),
        (trained, adapted_docs), shared,
        token_dim=trained.token_dim, bytes_per_token_fp16=2 * trained.token_dim, train_pairs=train_report.pairs,
        epochs=epochs, train_seconds=round(train_report.train_seconds, 1),
        epoch_losses=[round(x, 4) for x in train_report.epoch_losses],
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--datasets", default="/work/shared/datasets")
    parser.add_argument("--tasks", nargs="+", default=["debian-siblings", "debian-synopsis", "stdlib-code"])
    parser.add_argument("--model", default="minilm")
    parser.add_argument("--dims", nargs="+", type=int, default=[384, 128])
    parser.add_argument("--max-pairs", type=int, default=None, help="cap on training pairs per task (default: all)")
    parser.add_argument("--tune-share", type=float, default=0.1, help="share of train queries held out to pick λ")
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--min-steps", type=int, default=300, help="raise the epochs of small tasks to reach this many steps")
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--lr", type=float, default=5e-3)
    parser.add_argument("--temperature", type=float, default=0.1)
    parser.add_argument("--warmup", type=float, default=0.05)
    parser.add_argument("--no-decay", action="store_true")
    parser.add_argument("--hard-negatives", type=int, default=2)
    parser.add_argument("--mine-by", choices=("pooled", "smart"), default="pooled", help="how hard negatives are mined")
    parser.add_argument("--mining-depth", type=int, default=50)
    parser.add_argument("--sample-negatives", action="store_true", help="draw each epoch's negatives from the top --mining-depth")
    parser.add_argument("--layers", type=int, default=1, help="adapter mixes the last N layers")
    parser.add_argument("--query-weights", action="store_true", help="adapter learns query-token weights")
    parser.add_argument("--hybrid-weight", default="1", help="schedule of the hybrid InfoNCE term: W or START:END")
    parser.add_argument("--joint", action="store_true", help="train one adapter on the pairs of every task, evaluate it on each")
    parser.add_argument("--pairs", choices=("labels", "pseudo", "both"), default="labels",
                        help="training pairs: the train split's judged pairs, pseudo-query pairs drawn from the corpus "
                             "alone (smart-plugins train --pseudo-queries), or both")
    parser.add_argument("--pseudo-queries", type=int, default=5000, help="pseudo-query pairs drawn per task for --pairs pseudo/both")
    parser.add_argument("--pseudo-seed", type=int, default=0, help="seed of the pseudo-query draw (the CLI's --seed)")
    parser.add_argument("--depth", type=int, default=200)
    parser.add_argument("--skip-base", action="store_true",
                        help="leave out the pooled and inference-only rows (same in every run; saves their scoring and memory)")
    parser.add_argument("--work", default="/tmp/smart-train-bench", help="model folders")
    parser.add_argument("--out", default=None, help="write the results as JSON here")
    parser.add_argument("--cache-dir", default=None, help="encoded-text cache of smart_plugins.evaluation (default: its default)")
    parser.add_argument("--state-cache-dir", default=None,
                        help="where the --layers N states are cached, at float16 (default: --cache-dir)")
    args = parser.parse_args(argv)
    torch.manual_seed(0)
    work = Path(args.work)
    base = SmartEncoder(args.model, device="cpu")
    shared = EncodedCache(args.cache_dir)
    state_cache = EncodedCache(args.state_cache_dir) if args.state_cache_dir else shared
    variant = "".join([
        f", {args.layers} layers" if args.layers > 1 else "",
        ", query weights" if args.query_weights else "",
        f", {args.hard_negatives} negatives" if args.hard_negatives != 2 else "",
        f", mined by {args.mine_by}" if args.mine_by != "pooled" else "",
        f", sampled from top {args.mining_depth}" if args.sample_negatives else "",
        {"labels": "", "pseudo": f", {args.pseudo_queries} pseudo-query pairs only",
         "both": f", + {args.pseudo_queries} pseudo-query pairs"}[args.pairs],
        ", joint (all tasks)" if args.joint else "",
    ])
    results: list[dict] = []

    def save() -> None:
        if args.out:
            Path(args.out).write_text(json.dumps(results, indent=1))

    def train(pairs: list[TrainingPair], cache: TokenStateCache, dim: int, tag: str) -> tuple[Path, Any, int]:
        epochs = max(args.epochs, -(-args.min_steps // -(-len(pairs) // args.batch_size)))
        config = AdapterTrainingConfig(
            dim=dim, epochs=epochs, batch_size=args.batch_size, learning_rate=args.lr, temperature=args.temperature,
            warmup=args.warmup, decay=not args.no_decay, hard_negatives=args.hard_negatives,
            mine_by=args.mine_by, mining_depth=args.mining_depth, sample_negatives=args.sample_negatives,
            hybrid_weight=LinearSchedule.parse(args.hybrid_weight), layers=args.layers, query_weights=args.query_weights,
        )
        model, train_report = train_adapter(base, pairs, config, cache=cache)
        return save_model(model, work / f"{tag}-adapter-{dim}", overwrite=True), train_report, epochs

    if args.joint:
        tasks = []
        for name in args.tasks:
            tasks.append(prepare(name, args, base, shared, state_cache))
            if not args.skip_base:
                results.extend(base_rows(tasks[-1], args, base, shared))
            save()
        cache, pairs = joint_cache(tasks), [p for t in tasks for p in t.pairs]
        for dim in args.dims:
            folder, train_report, epochs = train(pairs, cache, dim, "joint")
            for t in tasks:
                rows = adapter_rows(t, folder, train_report, epochs, variant, shared, args.depth)
                if rows is None:
                    return 1
                results.extend(rows)
                save()
        return 0
    for name in args.tasks:
        t = prepare(name, args, base, shared, state_cache)
        if not args.skip_base:
            results.extend(base_rows(t, args, base, shared))
        save()
        for dim in args.dims:
            folder, train_report, epochs = train(t.pairs, t.cache(), dim, name)
            rows = adapter_rows(t, folder, train_report, epochs, variant, shared, args.depth)
            if rows is None:
                return 1
            results.extend(rows)
            save()
    return 0


if __name__ == "__main__":
    sys.exit(main())
