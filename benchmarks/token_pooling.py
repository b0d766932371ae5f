"""Token pooling for storage: bytes and nDCG@10 per pool factor and codec on the shared BEIR tasks.

For each task the corpus and the queries come from the encoding cache (MiniLM; pass the shared
cache folder as ``--cache-dir`` so nothing is re-encoded). For each pool factor, the corpus is
added once to an ``fp32`` index created with ``token_pool_factor=`` (pooling happens in the
index's own add path, as for any user); that index's stored tokens are exact, so they are read
back (``LocalStore.iterate``) and added to one index per other codec, which pools nothing more
(the clustering runs once per factor). Every index is searched with its own two-stage path
(pooled top-``--candidates``, then MaxSim from the stored, decoded tokens), scored by ir-measures.

Reported per row: stored tokens per original token, token bytes per document and per original
token (the goal compares the latter with fp32's 1536 B at 384-d), nDCG@10 of the hybrid 1:1 and
of late only, and the change from fp32 without pooling. Pooled sentence vectors (float32, 1536 B
per document) are the same in every row and are not counted in the token bytes.

    python benchmarks/token_pooling.py --cache-dir /work/cache/encoded
"""

from __future__ import annotations

import argparse
import json
import shutil
import tempfile
import time
from dataclasses import replace
from pathlib import Path

import torch

from smart_plugins.encoder import EncodedTexts, SmartEncoder
from smart_plugins.evaluation.cache import EncodedCache
from smart_plugins.evaluation.dataset import load_beir
from smart_plugins.evaluation.encoding import encode_cached
from smart_plugins.evaluation.metrics import evaluate_run
from smart_plugins.index import SmartIndex
from smart_plugins.scoring import ScoreWeights

TASKS = ("debian-siblings", "debian-synopsis", "stdlib-code")
#: Explicit weights: no label-free fit after each add (the hybrid 1:1 and late-only runs are scored here).
ONE_TO_ONE = ScoreWeights(1.0, 1.0)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--datasets", default=",".join(f"/work/shared/datasets/{t}" for t in TASKS))
    parser.add_argument("--split", default="test")
    parser.add_argument("--model", default="minilm")
    parser.add_argument("--factors", default="1,1.5,2,3")
    parser.add_argument("--codecs", default="residual-4,residual-2", help="codecs measured at every factor")
    parser.add_argument("--reference-codecs", default="fp16", help="codecs measured without pooling only (factor 1)")
    parser.add_argument("--no-baseline", action="store_true",
                        help="skip factor 1 (to split a run over processes; Δ columns then stay empty)")
    parser.add_argument("--candidates", type=int, default=200)
    parser.add_argument("--max-queries", type=int)
    parser.add_argument("--cache-dir", help="encoding cache folder (default: the library's)")
    parser.add_argument("--workdir", default=tempfile.gettempdir())
    parser.add_argument("--threads", type=int, default=1, help="torch threads (default 1)")
    parser.add_argument("--out", help="append one JSON line per row to this file")
    parser.add_argument("--timing", type=int, metavar="N",
                        help="only time it: encode the first N documents of the first task and pool them at each factor "
                             "(side by side, in one run; wrap in flock /tmp/cpu-heavy.lock)")
    args = parser.parse_args()
    Path(args.workdir).mkdir(parents=True, exist_ok=True)  # a new --workdir is created, not an error
    torch.set_num_threads(args.threads)
    encoder = SmartEncoder(args.model, device="cpu")
    if args.timing:
        _timing(encoder, args.datasets.split(",")[0], args.split, args.timing, [float(f) for f in args.factors.split(",")])
        return
    cache = EncodedCache(args.cache_dir)
    factors = [float(f) for f in args.factors.split(",")]
    factors = factors if factors[0] == 1.0 or args.no_baseline else [1.0, *factors]  # the baseline comes first
    factors = [f for f in factors if f != 1.0] if args.no_baseline else factors
    codecs = [c for c in args.codecs.split(",") if c and c != "fp32"]
    references = [c for c in args.reference_codecs.split(",") if c and c != "fp32" and c not in codecs]
    print(f"{'task':<16} {'factor':>6} {'codec':<11} {'tok/orig':>8} {'B/doc':>8} {'B/orig tok':>10} {'of fp32':>8} "
          f"{'hybrid':>7} {'late':>7} {'Δhyb pt':>8} {'Δlate pt':>8}")
    for folder in args.datasets.split(","):
        data = load_beir(folder, split=args.split)
        docs, _ = encode_cached(encoder, data.doc_texts, "document", cache)
        queries, _ = encode_cached(encoder, data.query_texts, "query", cache)  # the whole split: a cache hit
        if args.max_queries is not None and args.max_queries < len(queries):  # the first N, as load_beir keeps
            keep = data.query_ids[: args.max_queries]
            data = replace(data, query_ids=keep, query_texts=data.query_texts[: args.max_queries],
                           query_images=data.query_images[: args.max_queries],
                           qrels={q: data.qrels[q] for q in keep})
            queries = queries.select(list(range(args.max_queries)))
        original = int(docs.tokens.shape[0])
        baseline: dict[str, float] | None = None
        for factor in factors:
            work = Path(tempfile.mkdtemp(prefix="bench-pool-", dir=args.workdir))
            try:
                start = time.perf_counter()
                reference = SmartIndex.create(work / "fp32", encoder, compression="fp32", weights=ONE_TO_ONE,
                                              token_pool_factor=factor)
                reference.add_encoded(docs, data.doc_texts, ids=data.doc_ids)
                pool_s = time.perf_counter() - start
                pooled_docs = EncodedTexts.concat([enc for *_, enc in reference.store.iterate()])
                # fp32 is scored once, unpooled (the baseline); with pooling it only supplies the pooled tokens
                first = baseline is None and factor == 1.0
                rows = [("fp32", reference, pool_s)] if first else []
                for codec in (references + codecs) if first else codecs:
                    start = time.perf_counter()
                    index = SmartIndex.create(work / codec, encoder, compression=codec, weights=ONE_TO_ONE)  # pools nothing more
                    index.add_encoded(pooled_docs, data.doc_texts, ids=data.doc_ids)
                    rows.append((codec, index, time.perf_counter() - start))
                del pooled_docs
                for codec, index, build_s in rows:
                    start = time.perf_counter()
                    scores = _ndcg(index, data, queries, args.candidates)
                    score_s = time.perf_counter() - start
                    if baseline is None and factor == 1.0:
                        baseline = scores
                    base = baseline or {"hybrid": float("nan"), "late": float("nan")}
                    info = index.info()
                    token_bytes = info["token_bytes_per_token"] * info["stored_tokens"]
                    row = {
                        "task": data.name, "split": args.split, "factor": factor, "codec": codec,
                        "recorded_factor": reference.store.token_pool_factor,
                        "documents": len(docs), "queries": len(queries), "original_tokens": original,
                        "stored_tokens": info["stored_tokens"], "bytes_per_doc": token_bytes / len(docs),
                        "bytes_per_original_token": token_bytes / original,
                        "fp32_bytes_per_token": info["fp32_bytes_per_token"], **scores,
                        "delta_hybrid_pt": 100 * (scores["hybrid"] - base["hybrid"]),
                        "delta_late_pt": 100 * (scores["late"] - base["late"]),
                        "fp32_build_s_with_pooling": pool_s, "build_s": build_s, "score_s": score_s,
                        "candidates": args.candidates,
                    }
                    print(f"{data.name:<16} {factor:>6g} {codec:<11} {row['stored_tokens'] / original:>8.3f} "
                          f"{row['bytes_per_doc']:>8.0f} {row['bytes_per_original_token']:>10.1f} "
                          f"{row['bytes_per_original_token'] / row['fp32_bytes_per_token']:>8.2%} "
                          f"{scores['hybrid']:>7.4f} {scores['late']:>7.4f} {row['delta_hybrid_pt']:>+8.2f} "
                          f"{row['delta_late_pt']:>+8.2f}", flush=True)
                    if args.out:
                        with open(args.out, "a", encoding="utf-8") as out:
                            out.write(json.dumps(row) + "\n")
                for _, index, _ in rows:
                    index.close()
                reference.close()
            finally:
                shutil.rmtree(work, ignore_errors=True)
    print("B/doc and B/orig tok count token bytes only; Δ against fp32 without pooling on the same task; "
          "build and score seconds are noisy (shared machine) and only logged in --out")


def _timing(encoder: SmartEncoder, folder: str, split: str, n: int, factors: list[float]) -> None:
    """Seconds to encode ``n`` documents and to pool them at each factor, as ratios to encoding."""
    from smart_plugins.index.token_pooling import pool_encoded

    texts = load_beir(folder, split=split).doc_texts[:n]
    encoder.encode_documents(texts[:8])  # warm-up
    start = time.perf_counter()
    encoded = encoder.encode_documents(texts)
    encode_s = time.perf_counter() - start
    print(f"{n} documents, {encoded.tokens.shape[0]} token vectors: encoding {1000 * encode_s / n:.1f} ms/doc")
    for factor in factors:
        if factor == 1.0:
            continue
        start = time.perf_counter()
        pool_encoded(encoded, factor)
        pool_s = time.perf_counter() - start
        print(f"pool factor {factor:g}: {1000 * pool_s / n:.2f} ms/doc = {pool_s / encode_s:.1%} of encoding")


def _ndcg(index: SmartIndex, data, queries: EncodedTexts, candidates: int) -> dict[str, float]:
    """nDCG@10 of the hybrid 1:1 and late-only over the index's own first stage and stored tokens."""
    q_pooled = torch.nn.functional.normalize(queries.pooled, dim=-1).numpy()
    rows, pooled = index._first_stage(q_pooled, candidates, index._allowed(None, None))
    runs: dict[str, dict[str, dict[str, float]]] = {"hybrid": {}, "late": {}}
    for q, qid in enumerate(data.query_ids):
        late = index._late_scores(queries.select([q]), rows[q])
        ids = [data.doc_ids[int(r)] for r in rows[q]]  # no deletes: global row == corpus position
        runs["hybrid"][qid] = dict(zip(ids, (pooled[q] + late).tolist()))
        runs["late"][qid] = dict(zip(ids, late.tolist()))
    return {mode: evaluate_run(run, data.qrels, {"ndcg@10": "nDCG@10"})["ndcg@10"] for mode, run in runs.items()}


if __name__ == "__main__":
    main()
