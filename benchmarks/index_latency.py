"""Index scale benchmark on synthetic token states: latency, recall, add/delete throughput, memory.

Synthetic documents mimic encoder output (384-d unit token vectors around per-topic directions,
~64 tokens per document, pooled = normalised token mean); queries are noisy 8-token excerpts of
random documents. For each index size it prints

* add throughput (index writes only: encoding is excluded, vectors are pre-computed),
* per-query latency p50/p95 of the first stage (pooled top-``candidates``) and of the exact
  SMART rerank of those candidates (decode + MaxSim), and end to end,
* first-stage recall: share of the exhaustive-SMART top-10 / top-100 found among the candidates,
  and the top-10 agreement of two-stage vs exhaustive search,
* the same for the faiss HNSW first stage (``--hnsw``),
* delete throughput, and the resident memory of a fresh process searching the memory-mapped
  index (anonymous heap vs file-backed pages, next to the index size on disk).

    python benchmarks/index_latency.py --docs 10000,100000
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from smart_plugins.encoder import EncodedTexts
from smart_plugins.index import DEFAULT_COMPRESSION, SmartIndex
from smart_plugins.index.hnsw_store import HNSW_DIR
from smart_plugins.index.smart_index import SEGMENT_DOCS
from smart_plugins.scoring import ScoreWeights


class _StubEncoder:
    """Stands in for a SmartEncoder: the benchmark feeds pre-computed vectors."""

    def __init__(self, dim: int) -> None:
        self.dim = dim
        self.token_dim = dim
        self.pooled_dim = dim

    def encode_queries(self, texts):  # pragma: no cover - never called: queries come pre-encoded
        raise NotImplementedError

    encode_documents = encode_queries

    def describe(self) -> dict:
        return {"model": "synthetic", "pooled_dim": self.dim, "token_dim": self.dim, "token_policy": {}, "adapter": None}


def synthetic(n: int, dim: int, avg_tokens: int, seed: int, topics: np.ndarray) -> EncodedTexts:
    """``n`` synthetic documents (token vectors around their topic's direction)."""
    gen = torch.Generator().manual_seed(seed)
    lengths = torch.clamp(torch.poisson(torch.full((n,), float(avg_tokens)), generator=gen), 4, 4 * avg_tokens).long()
    topic = torch.randint(len(topics), (n,), generator=gen)
    owner = torch.repeat_interleave(torch.arange(n), lengths)
    centre = torch.from_numpy(topics)[topic[owner]]
    tokens = torch.nn.functional.normalize(centre + 1.2 * torch.randn(len(owner), dim, generator=gen) / dim**0.5, dim=-1)
    offsets = torch.zeros(n + 1, dtype=torch.int64)
    offsets[1:] = torch.cumsum(lengths, 0)
    pooled = torch.zeros(n, dim).index_add_(0, owner, tokens)
    pooled = torch.nn.functional.normalize(pooled, dim=-1)
    positions = torch.arange(len(owner)) - offsets[:-1][owner] + 1
    return EncodedTexts(pooled, tokens, offsets, torch.zeros(len(owner), dtype=torch.int64), positions)


def topic_directions(n_docs: int, dim: int) -> np.ndarray:
    """The unit topic directions :func:`build` draws documents around (one per 50 documents, at least 8)."""
    rng = np.random.default_rng(0)
    topics = rng.normal(size=(max(8, n_docs // 50), dim)).astype(np.float32)
    topics /= np.linalg.norm(topics, axis=1, keepdims=True)
    return topics


def queries_from(docs: EncodedTexts, n: int, seed: int, picks: list[int] | None = None) -> EncodedTexts:
    """``n`` queries, each a noisy excerpt of 8 tokens of a document of ``docs`` (``picks``:
    which documents, one per query; default: drawn at random with replacement)."""
    gen = torch.Generator().manual_seed(seed)
    if picks is None:
        picks = torch.randint(len(docs), (n,), generator=gen).tolist()
    elif len(picks) != n:
        raise ValueError(f"picks names {len(picks)} documents for {n} queries")
    parts = []
    for i in picks:
        toks = docs.token_vectors(i)
        sel = toks[torch.randperm(len(toks), generator=gen)[:8]]
        noisy = torch.nn.functional.normalize(sel + 0.8 * torch.randn(sel.shape, generator=gen) / sel.shape[1] ** 0.5, dim=-1)
        parts.append(noisy)
    pooled = torch.nn.functional.normalize(torch.stack([p.mean(0) for p in parts]), dim=-1)
    return EncodedTexts.from_lists(pooled, parts)


def row_ids(index: SmartIndex, rows: np.ndarray) -> list[str]:
    seg_of = np.searchsorted(index._bases, rows, side="right") - 1
    return [index._segments[s].ids[r - int(index._bases[s])] for s, r in zip(seg_of.tolist(), rows.tolist())]


def pct(values: list[float], q: float) -> float:
    return float(np.percentile(np.array(values) * 1000, q))


def build(folder: Path, n: int, args: argparse.Namespace, first_stage: str) -> tuple[SmartIndex, float, EncodedTexts]:
    topics = topic_directions(n, args.dim)
    index = SmartIndex.create(folder, _StubEncoder(args.dim), compression=args.compression, first_stage=first_stage,  # type: ignore[arg-type]
                              weights="1:1")  # explicit: no label-free fit on synthetic texts
    spent = 0.0
    first_chunk = None
    for start in range(0, n, SEGMENT_DOCS):
        m = min(SEGMENT_DOCS, n - start)
        chunk = synthetic(m, args.dim, args.avg_tokens, seed=start + 1, topics=topics)
        first_chunk = first_chunk or chunk
        texts = [f"synthetic document {start + i}" for i in range(m)]
        ids = [f"d{start + i}" for i in range(m)]
        t0 = time.perf_counter()
        index.add_encoded(chunk, texts, ids=ids)
        spent += time.perf_counter() - t0
    assert first_chunk is not None
    return index, spent, first_chunk


def time_queries(index: SmartIndex, queries: EncodedTexts, candidates: int, *, total_first: bool = False) -> dict[str, list]:
    """Search each query alone; per query: first stage, rerank and end-to-end seconds, the
    first stage's candidate rows and the top-10 ids (hybrid 1:1).

    The stages are timed first and the whole search after them (its pages then mapped);
    ``total_first`` times the whole search first (what a fresh process's query costs)."""
    weights = ScoreWeights(1, 1)
    allowed = index._allowed(None, None)
    out: dict[str, list] = {"first": [], "rerank": [], "total": [], "rows": [], "top10": []}
    for q in range(len(queries)):
        one = queries.select([q])
        qp = torch.nn.functional.normalize(one.pooled, dim=-1).numpy()
        if total_first:
            t0 = time.perf_counter()
            hits = index.search_encoded(one, k=10, candidates=candidates, weights=weights)[0]
            out["total"].append(time.perf_counter() - t0)
        t0 = time.perf_counter()
        rows, _ = index._first_stage(qp, candidates, allowed)
        t1 = time.perf_counter()
        index._late_scores(one, rows[0])
        t2 = time.perf_counter()
        if not total_first:
            hits = index.search_encoded(one, k=10, candidates=candidates, weights=weights)[0]
            out["total"].append(time.perf_counter() - t2)
        out["first"].append(t1 - t0)
        out["rerank"].append(t2 - t1)
        out["rows"].append(rows[0])
        out["top10"].append([h.id for h in hits])
    return out


def measure(index: SmartIndex, queries: EncodedTexts, args: argparse.Namespace) -> dict:
    weights = ScoreWeights(1, 1)
    timed = time_queries(index, queries, args.candidates)
    first, rerank, total = timed["first"], timed["rerank"], timed["total"]
    cand_sets = [set(row_ids(index, rows)) for rows in timed["rows"]]
    n_exh = min(args.recall_queries, len(queries))
    rec10, rec100, agree10 = [], [], []
    for q in range(n_exh):
        one = queries.select([q])
        exhaustive = [h.id for h in index.search_encoded(one, k=100, exhaustive=True, weights=weights)[0]]
        two_stage = [h.id for h in index.search_encoded(one, k=10, candidates=args.candidates, weights=weights)[0]]
        rec10.append(len(set(exhaustive[:10]) & cand_sets[q]) / 10)
        rec100.append(len(set(exhaustive) & cand_sets[q]) / len(exhaustive))
        agree10.append(len(set(exhaustive[:10]) & set(two_stage)) / 10)
    return {
        "first_p50": pct(first, 50), "first_p95": pct(first, 95),
        "rerank_p50": pct(rerank, 50), "rerank_p95": pct(rerank, 95),
        "total_p50": pct(total, 50), "total_p95": pct(total, 95),
        "recall10_in_candidates": float(np.mean(rec10)), "recall100_in_candidates": float(np.mean(rec100)),
        "top10_agreement": float(np.mean(agree10)), "recall_queries": n_exh,
    }


def report(label: str, m: dict, candidates: int) -> None:
    print(f"  {label}: first stage p50 {m['first_p50']:.2f} ms p95 {m['first_p95']:.2f} ms | "
          f"rerank top-{candidates} p50 {m['rerank_p50']:.2f} ms p95 {m['rerank_p95']:.2f} ms | "
          f"search end-to-end p50 {m['total_p50']:.2f} ms p95 {m['total_p95']:.2f} ms")
    print(f"  {label}: exhaustive-SMART top-10 in candidates {m['recall10_in_candidates']:.3f}, "
          f"top-100 in candidates (recall@{candidates}) {m['recall100_in_candidates']:.3f}, "
          f"two-stage top-10 == exhaustive top-10 {m['top10_agreement']:.3f}  ({m['recall_queries']} queries)")


MEMORY_CHILD = """
import json, sys, time, resource
import numpy as np, torch
torch.set_num_threads(1)
sys.path.insert(0, sys.argv[3])
from index_latency import _StubEncoder, queries_from
from smart_plugins.index import SmartIndex
from smart_plugins.encoder import EncodedTexts
def status():
    out = {}
    for line in open('/proc/self/status'):
        if line.startswith(('VmRSS', 'RssAnon', 'RssFile')):
            k, v = line.split(':'); out[k] = int(v.split()[0]) / 1024
    return out
before = status()
index = SmartIndex.open(sys.argv[1], _StubEncoder(int(sys.argv[2])), read_only=True, verify=False)
opened = status()
q = torch.load(sys.argv[4])
queries = EncodedTexts(**q)
for i in range(len(queries)):
    index.search_encoded(queries.select([i]), k=10, candidates=100)
after = status()
print(json.dumps({"before": before, "opened": opened, "after": after}))
"""


def memory(folder: Path, queries: EncodedTexts, dim: int) -> dict:
    qfile = folder.parent / "queries.pt"
    torch.save({f: getattr(queries, f) for f in ("pooled", "tokens", "offsets", "token_ids", "positions")}, qfile)
    out = subprocess.run(
        [sys.executable, "-c", MEMORY_CHILD, str(folder), str(dim), str(Path(__file__).parent), str(qfile)],
        capture_output=True, text=True, check=True,
    )
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--docs", default="10000,100000")
    parser.add_argument("--dim", type=int, default=384)
    parser.add_argument("--avg-tokens", type=int, default=64)
    parser.add_argument("--queries", type=int, default=200)
    parser.add_argument("--recall-queries", type=int, default=30)
    parser.add_argument("--candidates", type=int, default=100)
    parser.add_argument("--compression", default=DEFAULT_COMPRESSION)
    parser.add_argument("--hnsw", action="store_true", help="also measure the faiss HNSW first stage")
    parser.add_argument("--threads", type=int, default=1, help="torch threads (default 1: one query per core)")
    parser.add_argument("--workdir", default=tempfile.gettempdir())
    args = parser.parse_args()
    Path(args.workdir).mkdir(parents=True, exist_ok=True)  # a new --workdir is created, not an error
    torch.set_num_threads(args.threads)
    print(f"torch threads {torch.get_num_threads()}, compression {args.compression}, dim {args.dim}, "
          f"~{args.avg_tokens} tokens/doc, {args.queries} queries, candidates {args.candidates}")
    for n in (int(x) for x in args.docs.split(",")):
        folder = Path(tempfile.mkdtemp(prefix=f"bench-lat-{n}-", dir=args.workdir)) / "index"
        index, spent, first_chunk = build(folder, n, args, "exact")
        info = index.info()
        print(f"N={n}: {info['stored_tokens']} tokens, {info['disk_bytes'] / 2**20:.0f} MiB on disk, "
              f"add {n / spent:.0f} docs/s ({info['stored_tokens'] / spent / 1e3:.0f}k tokens/s; encoding excluded)")
        queries = queries_from(first_chunk, args.queries, seed=7)
        m = measure(index, queries, args)
        report("exact", m, args.candidates)
        if args.hnsw:
            index._manifest["first_stage"] = {"kind": "hnsw"}
            t0 = time.perf_counter()
            first_query = torch.nn.functional.normalize(queries.pooled[:1], dim=-1).numpy()
            index._first_stage(first_query, 10, index._allowed(None, None))
            built = time.perf_counter() - t0
            graph_mib = sum(f.stat().st_size for f in (folder / HNSW_DIR).glob("graph-*.faiss")) / 2**20
            print(f"  hnsw: graph built and saved in {built:.1f} s ({graph_mib:.0f} MiB in {HNSW_DIR}/)")
            report("hnsw ", measure(index, queries, args), args.candidates)
            index._manifest["first_stage"] = {"kind": "exact"}
            with SmartIndex.open(folder, index.encoder, read_only=True) as reopened:
                reopened._manifest["first_stage"] = {"kind": "hnsw"}
                t0 = time.perf_counter()
                reopened._first_stage(first_query, 10, reopened._allowed(None, None))
                print(f"  hnsw: saved graph loaded (SHA-256 checked) by a newly opened index in "
                      f"{time.perf_counter() - t0:.2f} s")
        ids = index.ids()
        rng = np.random.default_rng(1)
        victims = [ids[i] for i in rng.choice(len(ids), 1000, replace=False)]
        t0 = time.perf_counter()
        for start in range(0, 1000, 100):
            index.delete(victims[start : start + 100])
        batched = time.perf_counter() - t0
        t0 = time.perf_counter()
        for victim in [i for i in ids[:50] if i in index]:
            index.delete(victim)
        single = (time.perf_counter() - t0) / 50
        print(f"  delete: {1000 / batched:.0f} docs/s in batches of 100; one-id delete (one commit) {single * 1000:.1f} ms")
        index.close()
        mem = memory(folder, queries, args.dim)
        print(f"  memory of a fresh searching process: RSS {mem['after']['VmRSS']:.0f} MiB "
              f"(heap/anon {mem['after']['RssAnon']:.0f} MiB, file-backed {mem['after']['RssFile']:.0f} MiB; "
              f"after imports {mem['before']['VmRSS']:.0f} MiB) vs index {info['disk_bytes'] / 2**20:.0f} MiB on disk")
        shutil.rmtree(folder.parent)


if __name__ == "__main__":
    main()
