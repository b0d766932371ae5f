"""One million documents on one machine: a streamed synthetic SmartIndex, built and searched.

The documents are ``benchmarks/index_latency.py``'s synthetic token states (unit vectors around
per-topic directions, Poisson(``--avg-tokens``) tokens per document, pooled = normalised token
mean), generated ``--chunk`` documents at a time from a seed per chunk (``start + 1``, as
``index_latency.build``) and added with ``SmartIndex.add_encoded`` one chunk per commit, so the
corpus is never held in memory (1M x 60 x 384 float32 would be ~92 GB). The index uses a
compressed codec (``--compression``; ``fp16`` would need 768 B/token, ~46 GB at 1M x 60) and the
faiss HNSW first stage, built once after the last add (``build_first_stage``). The weights are
explicit (1:1): the label-free default would fit on pseudo-queries drawn from the texts, which a
synthetic index does not have.

Build time is split by phase (wrapping the library's own functions while the build runs):
generating the synthetic chunks (the benchmark's cost, not the index's), codec training
(k-means), codec encoding, writing the segment files (npy + checksums + fsync, encoding
excluded), committing (manifest switch + reload), the rest of ``add_encoded`` (validation, id
checks, copies), and the HNSW graph (build + save). Add rates are also given for the first and
the last tenth of the chunks, and the heap (RssAnon) of the building process after each quarter,
so a phase that slows down as the index grows shows.

Queries are noisy 8-token excerpts (``index_latency.queries_from``) of ``--queries`` documents
drawn across the whole index, taken from their chunks while those are generated for the build
(saved beside the index, so ``--keep`` reuses them). Search runs in a **fresh process** (1 torch
thread), first with the page cache as the build left it, then with the index files dropped from
it (``posix_fadvise(DONTNEED)``, these files only): time to open and to load the graph, p50/p95
of the search end to end (each query's search is timed first, so it pays its own first touch of
the pages it reads), then of its first stage and of the rerank of the top-``--candidates`` timed
again on their own, and the process's resident memory (anonymous heap vs file-backed pages,
``/proc/self/status``).

Recall, in the parent:

* first-stage recall@``candidates``: share of the exact pooled top-``candidates``
  (``first_stage.exact_pooled_scores`` over the stored pooled vectors) that HNSW returned;
* for ``--exhaustive-queries`` queries, the exhaustive SMART top-10 (hybrid 1:1, MaxSim over the
  *original* float32 token vectors, every chunk scored while the build has it at hand): how much of it is
  among the HNSW candidates, and its agreement with the two-stage top-10 (HNSW + rerank of the
  compressed tokens), and with the two-stage top-10 of the exact pooled first stage (what the
  approximate graph costs, codec loss being common to both);
* how often the query's source document is in the two-stage top-10 (a sanity check).

Prints one JSON row (also written to ``WORKDIR/result.json``) and a markdown table. The index
stays in ``WORKDIR/index``; ``--keep`` reuses it (and its build record) to run the search and
recall parts again.

    flock /tmp/cpu-heavy.lock python benchmarks/million_docs.py --docs 1000000 --compression residual-2 \\
        --workdir /tmp/million
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import time
from collections import defaultdict
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).parent))
from index_latency import _StubEncoder, queries_from, row_ids, synthetic, time_queries, topic_directions  # noqa: E402
from index_memory import _status  # noqa: E402

from smart_plugins.encoder import EncodedTexts  # noqa: E402
from smart_plugins.index import SmartIndex, local_store  # noqa: E402
from smart_plugins.index.first_stage import exact_pooled_scores  # noqa: E402
from smart_plugins.index.smart_index import SEGMENT_DOCS  # noqa: E402
from smart_plugins.lazy import import_faiss  # noqa: E402
from smart_plugins.scoring import ScoreWeights, maxsim, top_k  # noqa: E402

WEIGHTS = ScoreWeights(1.0, 1.0)
QUERY_FIELDS = ("pooled", "tokens", "offsets", "token_ids", "positions")
#: Build settings an index kept in the work folder must match to be reused (``--keep``).
BUILD_KEYS = ("docs", "dim", "avg_tokens", "compression", "chunk", "hnsw_m", "ef_construction")


# ------------------------------------------------------------------------------------ corpus
def chunks(args: argparse.Namespace, topics: np.ndarray, only: set[int] | None = None) -> Iterator[tuple[int, EncodedTexts]]:
    """``(start, documents)`` of every chunk (or of the chunks starting at ``only``), regenerated from their seed."""
    for start in range(0, args.docs, args.chunk):
        if only is None or start in only:
            yield start, synthetic(min(args.chunk, args.docs - start), args.dim, args.avg_tokens, seed=start + 1, topics=topics)


def query_documents(args: argparse.Namespace) -> np.ndarray:
    """Global positions of the documents the queries are drawn from (seeded, spread over the index)."""
    rng = np.random.default_rng(7)
    return rng.choice(args.docs, size=min(args.queries, args.docs), replace=False)


def make_queries(sources: dict[int, EncodedTexts], picks: np.ndarray) -> EncodedTexts:
    """One noisy excerpt per picked document (``sources`` maps a position to its one-document batch)."""
    docs = EncodedTexts.concat([sources[int(p)] for p in picks])
    return queries_from(docs, len(picks), seed=7, picks=list(range(len(picks))))


def save_queries(path: Path, queries: EncodedTexts, picks: np.ndarray) -> None:
    torch.save({**{f: getattr(queries, f) for f in QUERY_FIELDS}, "picks": torch.from_numpy(picks)}, path)


def load_queries(path: Path) -> tuple[EncodedTexts, np.ndarray]:
    saved = torch.load(path)
    return EncodedTexts(**{f: saved[f] for f in QUERY_FIELDS}), saved["picks"].numpy()


# ------------------------------------------------------------------------------------- build
@contextmanager
def phase_timers(spent: dict[str, float], cpu: dict[str, float], codec_type: type) -> Iterator[None]:
    """Add the wall and CPU time (all threads) spent in the library's build functions to
    ``spent`` and ``cpu`` while the block runs."""
    patches = [
        (codec_type, "train", "codec_train"),
        (codec_type, "encode", "codec_encode"),
        (local_store, "write_segment", "segment_write"),
        (local_store.LocalStore, "_commit", "commit"),
    ]
    originals = []
    for owner, name, key in patches:
        original = getattr(owner, name)
        originals.append((owner, name, owner.__dict__[name] if name in owner.__dict__ else None))

        def timed(*a: Any, _original: Callable = original, _key: str = key, **k: Any) -> Any:
            t0, c0 = time.perf_counter(), time.process_time()
            try:
                return _original(*a, **k)
            finally:
                spent[_key] += time.perf_counter() - t0
                cpu[_key] += time.process_time() - c0

        setattr(owner, name, timed)
    try:
        yield
    finally:
        for owner, name, original in originals:
            if original is None:
                delattr(owner, name)
            else:
                setattr(owner, name, original)


def hnsw_options(args: argparse.Namespace) -> dict[str, int]:
    options = {"m": args.hnsw_m, "ef_construction": args.ef_construction, "ef_search": args.ef_search}
    return {k: v for k, v in options.items() if v is not None}


def sources_of(args: argparse.Namespace, topics: np.ndarray, picks: np.ndarray) -> dict[int, EncodedTexts]:
    """The picked documents (one-document batches by position), their chunks generated again."""
    starts = {int(p) // args.chunk * args.chunk for p in picks}
    return {int(p): chunk.select([int(p) - start]) for start, chunk in chunks(args, topics, starts)
            for p in picks if start <= p < start + len(chunk)}


def build(folder: Path, args: argparse.Namespace, topics: np.ndarray, picks: np.ndarray) -> tuple[dict, EncodedTexts]:
    """Stream the chunks into a new index, build its HNSW graph; the build record and the queries.

    The first ``--exhaustive-queries`` queries are made first (their documents' chunks generated
    ahead), so every chunk is scored against them while it is at hand: the exhaustive reference
    costs no second pass over the corpus.
    """
    n_exh = min(args.exhaustive_queries, len(picks))
    t0 = time.perf_counter()
    exhaustive = ExhaustiveTop10(make_queries(sources_of(args, topics, picks[:n_exh]), picks[:n_exh])) if n_exh else None
    pregenerate = time.perf_counter() - t0
    index = SmartIndex.create(
        folder, _StubEncoder(args.dim), compression=args.compression, weights=WEIGHTS,  # type: ignore[arg-type]
        first_stage="hnsw", first_stage_options=hnsw_options(args),
    )
    spent: dict[str, float] = defaultdict(float)
    cpu: dict[str, float] = defaultdict(float)
    per_chunk: list[float] = []
    heap: list[float] = []
    wanted = np.sort(picks)
    sources: dict[int, EncodedTexts] = {}
    add_total = 0.0
    with phase_timers(spent, cpu, type(index.store._codec)):
        t_gen, c_gen = time.perf_counter(), time.process_time()
        for start, chunk in chunks(args, topics):
            spent["generate"] += time.perf_counter() - t_gen
            cpu["generate"] += time.process_time() - c_gen
            m = len(chunk)
            inside = wanted[(wanted >= start) & (wanted < start + m)]
            for p in inside.tolist():
                sources[p] = chunk.select([p - start])
            if exhaustive is not None:
                exhaustive.add(start, chunk)
            t0, c0, trained = time.perf_counter(), time.process_time(), spent["codec_train"]
            index.add_encoded(chunk, [f"synthetic document {start + i}" for i in range(m)],
                              ids=[f"d{start + i}" for i in range(m)])
            elapsed = time.perf_counter() - t0
            cpu["add_total"] += time.process_time() - c0
            add_total += elapsed
            per_chunk.append(elapsed - (spent["codec_train"] - trained))  # rates leave the one k-means out
            heap.append(_status()["RssAnon"])
            del chunk
            if args.verbose:
                print(f"  {start + m:>9,} docs  add {per_chunk[-1]:.2f} s  heap {heap[-1]:.0f} MiB", flush=True)
            t_gen, c_gen = time.perf_counter(), time.process_time()
        faiss = import_faiss()
        faiss.omp_set_num_threads(args.hnsw_threads)  # torch and faiss share OpenMP: --threads set it too
        t0, c0 = time.perf_counter(), time.process_time()
        graph = index.build_first_stage()
        spent["hnsw"], cpu["hnsw"] = time.perf_counter() - t0, time.process_time() - c0
    info = index.info()
    index.close()
    assert graph is not None
    tenth = max(1, len(per_chunk) // 10)
    sizes = [min(args.chunk, args.docs - s) for s in range(0, args.docs, args.chunk)]
    record = {
        **{k: getattr(args, k) for k in BUILD_KEYS},
        "queries": len(picks),
        "segments": info["segments"],
        "stored_tokens": info["stored_tokens"],
        "codec": info["codec"],
        "first_stage": info["first_stage"],
        "hnsw_graph_bytes": graph["bytes"],
        "build_s": {
            "generate": spent["generate"],
            "codec_train": spent["codec_train"],
            "codec_encode": spent["codec_encode"],
            "segment_files": spent["segment_write"] - spent["codec_encode"],
            "commit": spent["commit"],
            "add_other": add_total - spent["segment_write"] - spent["commit"] - spent["codec_train"],
            "add_total": add_total,
            "hnsw": spent["hnsw"],
            "index_total": add_total + spent["hnsw"],
        },
        "build_cpu_s": {  # CPU seconds of every thread (OpenMP threads that spin-wait count too)
            "generate": cpu["generate"],
            "codec_train": cpu["codec_train"],
            "codec_encode": cpu["codec_encode"],
            "segment_files": cpu["segment_write"] - cpu["codec_encode"],
            "commit": cpu["commit"],
            "add_total": cpu["add_total"],
            "hnsw": cpu["hnsw"],
        },
        "pregenerate_exhaustive_s": pregenerate,
        "add_docs_per_s": args.docs / add_total,  # codec training included
        "add_docs_per_s_without_training": args.docs / sum(per_chunk),
        "add_docs_per_s_first_tenth": sum(sizes[:tenth]) / sum(per_chunk[:tenth]),
        "add_docs_per_s_last_tenth": sum(sizes[-tenth:]) / sum(per_chunk[-tenth:]),
        "hnsw_vectors_per_s": args.docs / spent["hnsw"],
        "build_heap_mib_by_quarter": [heap[min(len(heap) - 1, (len(heap) * q) // 4)] for q in (0, 1, 2, 3)] + [heap[-1]],
        "build_peak_rss_mib": _status()["VmHWM"],
        "torch_threads": torch.get_num_threads(),
        "hnsw_threads": import_faiss().omp_get_max_threads(),
        "load_average_after_build": list(os.getloadavg()),
    }
    queries = make_queries(sources, picks)
    if exhaustive is not None:
        assert torch.equal(exhaustive.queries.tokens, queries.select(list(range(n_exh))).tokens)  # the same queries
        record["exhaustive_reference"] = {"queries": n_exh, "top10": exhaustive.ids(), "seconds": exhaustive.seconds}
    return record, queries


def disk_usage(folder: Path, stored_tokens: int) -> dict[str, Any]:
    """Bytes of the index folder (sizes and allocated blocks), by part, and per stored token."""
    parts: dict[str, int] = defaultdict(int)
    size = allocated = 0
    for path in folder.rglob("*"):
        if not path.is_file():
            continue
        st = path.stat()
        size += st.st_size
        allocated += st.st_blocks * 512
        name = path.name
        part = ("tokens" if name.startswith("tok_") else "pooled" if name == "pooled.npy"
                else "token_ids_positions" if name in ("token_ids.npy", "positions.npy")
                else "hnsw" if path.parent.name == "hnsw" else "texts_ids" if name in ("docs.jsonl", "docs_offsets.npy", "ids.json")
                else "other")
        parts[part] += st.st_size
    return {
        "bytes": size,
        "allocated_bytes": allocated,
        "by_part": dict(sorted(parts.items())),
        "bytes_per_token": size / stored_tokens,
        "token_bytes_per_token": parts["tokens"] / stored_tokens,
    }


# ------------------------------------------------------------------------------------ search
def child(args: argparse.Namespace) -> None:
    """Fresh searching process: open, load the graph, time every query, report memory."""
    torch.set_num_threads(1)
    report: dict[str, Any] = {"status_start": _status()}
    if args.drop:
        for path in (p for p in Path(args.index).rglob("*") if p.is_file()):
            fd = os.open(path, os.O_RDONLY)
            try:
                os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
            finally:
                os.close(fd)
    t0 = time.perf_counter()
    index = SmartIndex.open(args.index, _StubEncoder(args.dim), read_only=True, verify=False)
    report["open_s"] = time.perf_counter() - t0
    report["status_opened"] = _status()
    t0 = time.perf_counter()
    index.build_first_stage()  # loads the saved graph (read_only: never rebuilds it on disk)
    report["graph_load_s"] = time.perf_counter() - t0
    report["status_graph_loaded"] = _status()
    queries, _ = load_queries(Path(args.queries_file))
    timed = time_queries(index, queries, args.candidates, total_first=True)
    report["status_end"] = _status()
    report["latency_ms"] = {
        name: {"p50": float(np.percentile(np.array(timed[name]) * 1000, 50)),
               "p95": float(np.percentile(np.array(timed[name]) * 1000, 95))}
        for name in ("first", "rerank", "total")
    }
    report["candidate_rows"] = [r.tolist() for r in timed["rows"]]
    report["top10"] = timed["top10"]
    Path(args.out).write_text(json.dumps(report))


def run_child(args: argparse.Namespace, folder: Path, qfile: Path, drop: bool) -> dict[str, Any]:
    out = Path(args.workdir) / f"search-{'cold' if drop else 'as-built'}.json"
    out.unlink(missing_ok=True)
    cmd = [sys.executable, __file__, "--child", "--index", str(folder), "--queries-file", str(qfile), "--out", str(out),
           "--dim", str(args.dim), "--candidates", str(args.candidates)]
    if drop:
        cmd.append("--drop")
    subprocess.run(cmd, check=True)
    return json.loads(out.read_text())


# ------------------------------------------------------------------------------------ recall
def exact_candidates(index: SmartIndex, queries: EncodedTexts, n: int, block: int = 16) -> list[set[int]]:
    """The exact pooled top-``n`` global rows of every query (the stored pooled vectors)."""
    out = []
    q = torch.nn.functional.normalize(queries.pooled.float(), dim=-1).numpy()
    for start in range(0, len(q), block):
        scores = exact_pooled_scores(q[start : start + block], index._segments)
        for row in scores:
            out.append(set(np.argpartition(-row, n - 1)[:n].tolist()) if n < len(row) else set(range(len(row))))
    return out


class ExhaustiveTop10:
    """Running exhaustive SMART top-10 of some queries (hybrid 1:1, MaxSim over the original
    float32 tokens), fed chunk after chunk."""

    def __init__(self, queries: EncodedTexts) -> None:
        self.queries = queries
        self.q_pooled = torch.nn.functional.normalize(queries.pooled.float(), dim=-1)
        self.best = torch.full((len(queries), 0), float("-inf"))
        self.rows = torch.zeros((len(queries), 0), dtype=torch.int64)
        self.seconds = 0.0

    def add(self, start: int, chunk: EncodedTexts) -> None:
        t0 = time.perf_counter()
        pooled = self.q_pooled @ torch.nn.functional.normalize(chunk.pooled.float(), dim=-1).T
        late = maxsim(self.queries.tokens, self.queries.offsets, chunk.tokens, chunk.offsets)
        scores = torch.cat([self.best, WEIGHTS.combine(pooled, late)], dim=1)
        rows = torch.cat([self.rows, torch.arange(start, start + len(chunk)).expand(len(self.queries), -1)], dim=1)
        self.best, order = top_k(scores, 10)
        self.rows = torch.gather(rows, 1, order)
        self.seconds += time.perf_counter() - t0

    def ids(self) -> list[list[str]]:
        return [[f"d{r}" for r in row] for row in self.rows.tolist()]


def exhaustive_top10(args: argparse.Namespace, topics: np.ndarray, queries: EncodedTexts) -> list[list[str]]:
    """The exhaustive top-10 of ``queries``, every chunk generated again (when the build's is not kept)."""
    top = ExhaustiveTop10(queries)
    for start, chunk in chunks(args, topics):
        top.add(start, chunk)
    return top.ids()


def recall(args: argparse.Namespace, folder: Path, topics: np.ndarray, queries: EncodedTexts, picks: np.ndarray,
           search: dict[str, Any], reference_kept: dict[str, Any] | None) -> dict[str, Any]:
    n_cand = min(args.candidates, args.docs)
    out: dict[str, Any] = {"queries": len(queries)}
    with SmartIndex.open(folder, _StubEncoder(args.dim), read_only=True, verify=False) as index:
        exact = exact_candidates(index, queries, n_cand)
        hnsw = [set(rows) for rows in search["candidate_rows"]]
        out["first_stage_recall_at_candidates"] = float(np.mean([len(h & e) / n_cand for h, e in zip(hnsw, exact)]))
        out["source_doc_in_top10"] = float(np.mean([f"d{p}" in top for p, top in zip(picks.tolist(), search["top10"])]))
        n_exh = min(args.exhaustive_queries, len(queries))
        out["exhaustive_queries"] = n_exh
        if n_exh:
            kept = reference_kept
            out["exhaustive_reference"] = "build"
            if kept is not None and kept["queries"] == n_exh:
                reference, out["exhaustive_s"] = kept["top10"], kept["seconds"]
            else:
                out["exhaustive_reference"] = "second pass"
                t0 = time.perf_counter()
                reference = exhaustive_top10(args, topics, queries.select(list(range(n_exh))))
                out["exhaustive_s"] = time.perf_counter() - t0
            index._manifest["first_stage"] = {"kind": "exact"}  # in memory only: the exact pooled first stage
            exact_two_stage = [[h.id for h in index.search_encoded(queries.select([q]), k=10, candidates=n_cand,
                                                                    weights=WEIGHTS)[0]] for q in range(n_exh)]
            in_cand = [len(set(ref) & set(row_ids(index, np.array(sorted(hnsw[q]), dtype=np.int64)))) / len(ref)
                       for q, ref in enumerate(reference)]
            out["exhaustive_top10_in_candidates"] = float(np.mean(in_cand))
            out["exhaustive_top10"] = reference
            out["top10_agreement"] = float(np.mean([len(set(r) & set(search["top10"][q])) / len(r)
                                                    for q, r in enumerate(reference)]))
            out["top10_agreement_exact_first_stage"] = float(np.mean([len(set(r) & set(e)) / len(r)
                                                                      for r, e in zip(reference, exact_two_stage)]))
    return out


# -------------------------------------------------------------------------------------- main
def table(row: dict[str, Any]) -> str:
    b, d, r = row["build"]["build_s"], row["disk"], row["recall"]
    lines = [f"| {row['docs']:,} docs, {row['compression']}, ~{row['avg_tokens']} tokens, {row['dim']}-d | |", "|---|---|"]

    def add(name: str, value: str) -> None:
        lines.append(f"| {name} | {value} |")

    c = row["build"]["build_cpu_s"]
    add("build: add (index writes) / HNSW / both", f"{b['add_total']:.1f} / {b['hnsw']:.1f} / {b['index_total']:.1f} s "
        f"(CPU {c['add_total']:.0f} / {c['hnsw']:.0f} s)")
    add("add split: codec train / encode / segment files / commit / other",
        " / ".join(f"{b[k]:.1f}" for k in ("codec_train", "codec_encode", "segment_files", "commit", "add_other")) + " s")
    add("add rate: all (k-means included) / first tenth / last tenth (k-means left out)",
        f"{row['build']['add_docs_per_s']:.0f} / {row['build']['add_docs_per_s_first_tenth']:.0f} / "
        f"{row['build']['add_docs_per_s_last_tenth']:.0f} docs/s")
    add("HNSW build rate", f"{row['build']['hnsw_vectors_per_s']:.0f} vectors/s")
    add("generating the synthetic chunks / scoring them for the exhaustive reference (not the index's cost)",
        f"{b['generate']:.1f} / {row['build'].get('exhaustive_reference', {}).get('seconds', 0):.1f} s")
    add("build heap (RssAnon) by quarter / peak RSS",
        " / ".join(f"{x:.0f}" for x in row["build"]["build_heap_mib_by_quarter"]) + f" / {row['build']['build_peak_rss_mib']:.0f} MiB")
    add("disk: size / allocated", f"{d['bytes'] / 2**30:.2f} / {d['allocated_bytes'] / 2**30:.2f} GiB")
    add("disk by part (MiB)", ", ".join(f"{k} {v / 2**20:.0f}" for k, v in d["by_part"].items()))
    add("bytes per stored token: all files / token codes", f"{d['bytes_per_token']:.1f} / {d['token_bytes_per_token']:.1f}")
    for label, s in row["search"].items():
        lat, end = s["latency_ms"], s["status_end"]
        add(f"fresh process ({label}): open / graph load", f"{s['open_s']:.2f} / {s['graph_load_s']:.2f} s")
        add(f"fresh process ({label}): search end to end / then its first stage / rerank top-{row['candidates']}, p50 / p95 ms",
            " ; ".join(f"{lat[k]['p50']:.1f} / {lat[k]['p95']:.1f}" for k in ("total", "first", "rerank")))
        add(f"fresh process ({label}): RSS / heap (RssAnon) / file-backed at end; peak",
            f"{end['VmRSS']:.0f} / {end['RssAnon']:.0f} / {end['RssFile']:.0f}; {end['VmHWM']:.0f} MiB")
    stage = {k: v for k, v in row["build"]["first_stage"].items() if k != "kind"} or "library defaults"
    add(f"first-stage recall@{min(row['candidates'], row['docs'])} (HNSW {stage} vs exact pooled, {r['queries']} queries)",
        f"{r['first_stage_recall_at_candidates']:.3f}")
    add("query's source document in the two-stage top-10", f"{r['source_doc_in_top10']:.3f}")
    if r["exhaustive_queries"]:
        add(f"exhaustive SMART top-10 (fp32 tokens, {r['exhaustive_queries']} queries): in HNSW candidates / "
            "agreement with two-stage top-10 (HNSW / exact first stage)",
            f"{r['exhaustive_top10_in_candidates']:.3f} / {r['top10_agreement']:.3f} / {r['top10_agreement_exact_first_stage']:.3f}")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--docs", type=int, default=1_000_000)
    parser.add_argument("--avg-tokens", type=int, default=60)
    parser.add_argument("--dim", type=int, default=384)
    parser.add_argument("--compression", default="residual-2")
    parser.add_argument("--chunk", type=int, default=SEGMENT_DOCS, help="documents generated and added per commit")
    parser.add_argument("--queries", type=int, default=200)
    parser.add_argument("--exhaustive-queries", type=int, default=20,
                        help="queries checked against the exhaustive SMART top-10 (0: skip). Scored during the build "
                        "(their documents' chunks are generated first); with --keep and another count, one more pass over every chunk")
    parser.add_argument("--candidates", type=int, default=100)
    parser.add_argument("--hnsw-m", type=int, default=None, help="HNSW M (default: the library's)")
    parser.add_argument("--ef-construction", type=int, default=None)
    parser.add_argument("--ef-search", type=int, default=None, help="with --keep: searches the kept graph with it")
    parser.add_argument("--hnsw-threads", type=int, default=os.cpu_count(), help="faiss threads building the graph")
    parser.add_argument("--threads", type=int, default=None, help="torch threads while building (default: torch's)")
    parser.add_argument("--workdir", default="/tmp/million-docs")
    parser.add_argument("--keep", action="store_true", help="reuse the index in WORKDIR/index (search and recall only)")
    parser.add_argument("--cold", action=argparse.BooleanOptionalAction, default=True,
                        help="also search in a fresh process with the index dropped from the page cache")
    parser.add_argument("--verbose", action="store_true", help="one line per added chunk")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--index", help=argparse.SUPPRESS)
    parser.add_argument("--queries-file", help=argparse.SUPPRESS)
    parser.add_argument("--out", help=argparse.SUPPRESS)
    parser.add_argument("--drop", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args)
        return
    for name in ("docs", "avg_tokens", "dim", "chunk", "queries", "candidates"):
        if getattr(args, name) <= 0:
            parser.error(f"--{name.replace('_', '-')} must be positive")
    if args.threads:
        torch.set_num_threads(args.threads)
    work = Path(args.workdir)
    folder, qfile, record_file = work / "index", work / "queries.pt", work / "build.json"
    topics = topic_directions(args.docs, args.dim)
    if folder.exists():
        if not args.keep:
            sys.exit(f"million_docs: {folder} exists; pass --keep to reuse it or remove it")
        if not record_file.exists() or not qfile.exists():
            sys.exit(f"million_docs: {folder} has no complete build record ({record_file}, {qfile}); remove it")
        record = json.loads(record_file.read_text())
        differs = {k: (record[k], getattr(args, k)) for k in BUILD_KEYS if record[k] != getattr(args, k)}
        if differs:
            sys.exit(f"million_docs: the kept index was built with other settings (kept, asked): {differs}")
        queries, picks = load_queries(qfile)
        if len(queries) != min(args.queries, args.docs):
            picks = query_documents(args)  # other query count: draw them again from their chunks
            queries = make_queries(sources_of(args, topics, picks), picks)
            save_queries(qfile, queries, picks)
        ef_search = hnsw_options(args).get("ef_search")
        with SmartIndex.open(folder, _StubEncoder(args.dim), verify=False) as kept:
            stage = dict(kept.info()["first_stage"])
            if ef_search is not None and stage.get("ef_search") != ef_search:  # search-time only: the graph is kept
                kept.set_first_stage("hnsw", {**{k: v for k, v in stage.items() if k != "kind"}, "ef_search": ef_search})
            record["first_stage"] = kept.info()["first_stage"]
        reused = True
    else:
        work.mkdir(parents=True, exist_ok=True)
        print(f"building {args.docs:,} documents into {folder} ...", flush=True)
        picks = query_documents(args)
        record, queries = build(folder, args, topics, picks)
        save_queries(qfile, queries, picks)
        record_file.write_text(json.dumps(record, indent=1))
        reused = False
    disk = disk_usage(folder, record["stored_tokens"])
    search = {"as built": run_child(args, folder, qfile, drop=False)}
    if args.cold:
        search["cold"] = run_child(args, folder, qfile, drop=True)
    same_queries = record.get("queries") == len(queries)
    rec = recall(args, folder, topics, queries, picks, search["as built"],
                 record.get("exhaustive_reference") if same_queries else None)
    row = {
        "benchmark": "million_docs",
        "docs": args.docs, "dim": args.dim, "avg_tokens": args.avg_tokens, "compression": args.compression,
        "candidates": args.candidates, "queries": len(queries), "build_reused": reused,
        "build": record, "disk": disk,
        "search": {label: {k: v for k, v in s.items() if k not in ("candidate_rows", "top10")} for label, s in search.items()},
        "recall": rec,
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version(), "load_average_end": list(os.getloadavg())},
    }
    (work / "result.json").write_text(json.dumps(row, indent=1))
    print(json.dumps(row))
    print(table(row))
    print(f"index kept in {folder} ({disk['bytes'] / 2**30:.2f} GiB): rerun with --keep, or remove it")


if __name__ == "__main__":
    main()
