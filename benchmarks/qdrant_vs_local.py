"""The same SMART index on the local folder store and on Qdrant Edge, side by side in one run.

It builds one index per store configuration from the same pre-computed encodings, then
searches every query on every store in turn (the stores alternate query by query, so a
shared machine's drifting load falls on all of them alike), and reports: build seconds (writes + first-stage build / Qdrant optimisation; encoding excluded),
bytes per token on disk (the whole store folder, allocated blocks, / stored tokens), p50 / p95
of the two-stage search (pooled top-``candidates`` -> SMART top-10, one query at a time,
end to end through ``SmartIndex.search_encoded``), top-10 agreement with the exact hybrid
(every document scored from the unquantised vectors), and nDCG@10 (ir-measures).

Data: ``--data synthetic`` (token states around per-topic directions, queries are noisy
excerpts of one document, which is their single relevant document; see index_latency.py)
or ``--data debian-synopsis`` (the BEIR task in /work/shared/datasets: the whole corpus and the
test split's queries and qrels, encoded with the packaged MiniLM through the project's encoding
cache, ``--cache-dir``: a cache that holds them is read, not re-encoded).

Every index is created with explicit 1:1 weights, the formula the exact reference scores (an
index created without weights would fit its own label-free default).

    flock /tmp/cpu-heavy.lock python benchmarks/qdrant_vs_local.py --docs 5000 --queries 200
    flock /tmp/cpu-heavy.lock python benchmarks/qdrant_vs_local.py --data debian-synopsis --cache-dir /work/cache/encoded
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from index_latency import _StubEncoder, queries_from, synthetic  # noqa: E402

from smart_plugins.encoder import EncodedTexts  # noqa: E402
from smart_plugins.index import SmartIndex  # noqa: E402
from smart_plugins.scoring import ScoreWeights, smart_scores, top_k  # noqa: E402

#: (label, SmartIndex.create keywords)
CONFIGS = [
    ("local residual-4", {"compression": "residual-4"}),
    ("local fp16", {"compression": "fp16"}),
    ("edge fp16", {"store": "qdrant-edge", "store_options": {"token_dtype": "float16"}}),
    ("edge fp16 + int8 (x4 oversampling, rescored)", {"store": "qdrant-edge", "store_options": {"quantization": "int8", "oversampling": 4.0}}),
    ("edge fp16 + turbo4 (x4 oversampling, rescored)", {"store": "qdrant-edge", "store_options": {"quantization": "turbo4", "oversampling": 4.0}}),
]
CHUNK = 4096


def allocated_bytes(folder: Path) -> int:
    total = 0
    for f in folder.rglob("*"):
        if f.is_file() and not f.name.startswith(".write.lock"):
            st = f.stat()
            total += min(st.st_size, st.st_blocks * 512)
    return total


def synthetic_task(args: argparse.Namespace) -> tuple[EncodedTexts, list[str], EncodedTexts, dict[str, dict[str, int]], list[str], object]:
    rng = np.random.default_rng(0)
    topics = rng.normal(size=(max(8, args.docs // 50), args.dim)).astype(np.float32)
    topics /= np.linalg.norm(topics, axis=1, keepdims=True)
    docs = EncodedTexts.concat(
        [synthetic(min(CHUNK, args.docs - s), args.dim, args.avg_tokens, seed=s + 1, topics=topics) for s in range(0, args.docs, CHUNK)]
    )
    ids = [f"d{i}" for i in range(len(docs))]
    gen = torch.Generator().manual_seed(7)
    picks = torch.randint(len(docs), (args.queries,), generator=gen).tolist()
    # queries_from draws its own picks: rebuild them from the same generator seed for the qrels
    queries = queries_from(docs, args.queries, seed=7)
    qids = [f"q{i}" for i in range(args.queries)]
    qrels = {q: {ids[p]: 1} for q, p in zip(qids, picks)}
    return docs, ids, queries, qrels, qids, _StubEncoder(args.dim)


def synopsis_task(args: argparse.Namespace) -> tuple[EncodedTexts, list[str], EncodedTexts, dict[str, dict[str, int]], list[str], object]:
    from smart_plugins.encoder import SmartEncoder
    from smart_plugins.evaluation.cache import EncodedCache
    from smart_plugins.evaluation.dataset import load_beir
    from smart_plugins.evaluation.encoding import encode_cached

    data = load_beir(args.dataset, split="test")
    encoder = SmartEncoder("minilm", device="cpu")
    cache = EncodedCache(args.cache_dir)  # None: the project's default cache folder
    docs, spent = encode_cached(encoder, data.doc_texts, "document", cache)
    queries, _ = encode_cached(encoder, data.query_texts, "query", cache)
    print(f"documents {'encoded in %.0f s' % spent if spent else 'read from the encoding cache'}", flush=True)
    args.texts = data.doc_texts
    n = args.queries or len(data.query_ids)
    qids = data.query_ids[:n]
    return docs, data.doc_ids, queries.select(list(range(len(qids)))), {q: data.qrels[q] for q in qids}, qids, encoder


def exact_top10(docs: EncodedTexts, queries: EncodedTexts, ids: list[str]) -> list[list[str]]:
    out = []
    for q in range(len(queries)):
        hybrid = smart_scores(queries.select([q]), docs, ScoreWeights(1, 1)).hybrid[0].numpy()
        out.append([ids[i] for i in top_k(hybrid, 10)[1].tolist()])
    return out


def selected(label: str, wanted: list[str]) -> bool:
    """``--only``: an entry equal to a label picks that label; any other entry is a prefix."""
    labels = [c[0] for c in CONFIGS]
    return any(label == w or (w not in labels and label.startswith(w)) for w in (x.strip() for x in wanted))


def ndcg10(run: dict[str, dict[str, float]], qrels: dict[str, dict[str, int]]) -> float:
    import ir_measures
    from ir_measures import nDCG

    return float(ir_measures.calc_aggregate([nDCG @ 10], qrels, run)[nDCG @ 10])


def measure_interleaved(
    built: list[tuple[str, SmartIndex, Path, dict]],
    queries: EncodedTexts,
    qids: list[str],
    qrels: dict[str, dict[str, int]],
    exact: list[list[str]],
    candidates: int,
) -> list[dict]:
    """Search every query on every store, the stores taking turns query by query.

    The machine is shared and its load drifts over minutes: timing one store after another
    would fold that drift into the ratios. Here each query is timed on all stores back to back
    (the order rotates), so every store sees the same load.
    """
    for _, index, _, _ in built:
        index.search_encoded(queries.select([0]), k=10, candidates=candidates)  # warm up
    latencies: list[list[float]] = [[] for _ in built]
    runs: list[dict[str, dict[str, float]]] = [{} for _ in built]
    agreement: list[list[float]] = [[] for _ in built]
    for q in range(len(queries)):
        one = queries.select([q])
        for turn in range(len(built)):
            s = (q + turn) % len(built)
            index = built[s][1]
            t0 = time.perf_counter()
            hits = index.search_encoded(one, k=10, candidates=candidates)[0]
            latencies[s].append(time.perf_counter() - t0)
            got = [h.id for h in hits]
            if q < len(exact):
                agreement[s].append(len(set(got) & set(exact[q])) / 10)
            runs[s][qids[q]] = {h.id: h.score for h in hits}
    rows = []
    for s, (_, _, _, row) in enumerate(built):
        row = dict(row)
        row.update({
            "p50_ms": round(float(np.percentile(latencies[s], 50)) * 1000, 2),
            "p95_ms": round(float(np.percentile(latencies[s], 95)) * 1000, 2),
            "top10_agreement": round(float(np.mean(agreement[s])), 4),
            "ndcg10": round(ndcg10(runs[s], qrels), 4),
        })
        rows.append(row)
        print(json.dumps(row), flush=True)
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", default="synthetic", choices=("synthetic", "debian-synopsis"))
    parser.add_argument("--dataset", default="/work/shared/datasets/debian-synopsis")
    parser.add_argument("--cache-dir", help="encoding cache folder (debian-synopsis; default: the project's cache)")
    parser.add_argument("--docs", type=int, default=5000, help="documents (synthetic)")
    parser.add_argument("--queries", type=int, default=200, help="queries (debian-synopsis: the first N test queries, 0: all)")
    parser.add_argument("--agreement-queries", type=int, default=0,
                        help="score the exact hybrid reference for the first N queries only (0: all)")
    parser.add_argument("--dim", type=int, default=384)
    parser.add_argument("--avg-tokens", type=int, default=60)
    parser.add_argument("--candidates", type=int, default=100)
    parser.add_argument("--only", help="comma-separated config labels (an entry that is no whole label is a prefix)")
    parser.add_argument("--json", help="also write the rows to this JSON file")
    args = parser.parse_args()

    task = synthetic_task if args.data == "synthetic" else synopsis_task
    docs, ids, queries, qrels, qids, encoder = task(args)
    texts = [f"document {i}" for i in ids] if args.data == "synthetic" else args.texts
    n_tokens = int(docs.offsets[-1])
    print(f"{args.data}: {len(docs)} documents, {n_tokens} tokens ({n_tokens / len(docs):.1f}/doc), "
          f"{len(queries)} queries, candidates {args.candidates}, torch threads {torch.get_num_threads()}", flush=True)
    t0 = time.perf_counter()
    n_exact = args.agreement_queries or len(queries)
    exact = exact_top10(docs, queries.select(list(range(min(n_exact, len(queries))))), ids)
    print(f"exact hybrid reference ({len(exact)} queries): {time.perf_counter() - t0:.1f} s", flush=True)

    work = Path(tempfile.mkdtemp(prefix="qdrant-vs-local-"))
    built: list[tuple[str, SmartIndex, Path, dict]] = []
    try:
        for label, keywords in CONFIGS:
            if args.only and not selected(label, args.only.split(",")):
                continue
            folder = work / label.split()[0] / str(len(built))
            t0 = time.perf_counter()
            index = SmartIndex.create(folder, encoder, weights=ScoreWeights(1, 1), **keywords)  # type: ignore[arg-type]
            for start in range(0, len(docs), CHUNK):
                part = list(range(start, min(start + CHUNK, len(docs))))
                index.add_encoded(docs.select(part), [texts[i] for i in part], ids=[ids[i] for i in part])
            index.build_first_stage()
            row = {"config": label, "build_s": round(time.perf_counter() - t0, 2),
                   "bytes_per_token": round(allocated_bytes(folder) / n_tokens, 1)}
            print(f"built {label}: {row['build_s']} s, {row['bytes_per_token']} B/token", flush=True)
            built.append((label, index, folder, row))
        rows = measure_interleaved(built, queries, qids, qrels, exact, args.candidates)
    finally:
        for _, index, _, _ in built:
            index.close()
        shutil.rmtree(work, ignore_errors=True)
    base = rows[0] if rows else None
    print(f"\n| store | build s | bytes/token | p50 ms | p95 ms | top-10 vs exact | nDCG@10 | p50 vs {base['config'] if base else '-'} |")
    print("|---|---|---|---|---|---|---|---|")
    for row in rows:
        ratio = row["p50_ms"] / base["p50_ms"] if base else float("nan")
        print(f"| {row['config']} | {row['build_s']} | {row['bytes_per_token']} | {row['p50_ms']} | {row['p95_ms']} | "
              f"{row['top10_agreement']} | {row['ndcg10']} | {ratio:.2f}x |")
    if args.json:
        Path(args.json).write_text(json.dumps(rows, indent=2))


if __name__ == "__main__":
    main()
