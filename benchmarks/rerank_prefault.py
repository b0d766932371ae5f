"""Rerank latency in a fresh process vs with populated memory maps, prefaulting off and on.

Reuses (or builds) the synthetic index of ``benchmarks/index_memory.py`` (100k documents by
default), reads its files once so the page cache is warm, then starts fresh child processes,
alternating prefaulting off / on (``smart_plugins.index.prefault.ENABLED``). Each child searches
the same queries twice with one torch thread: the first pass maps each candidate's pages for the
first time (a fresh process), the second finds them mapped (what a long-running server sees).
Printed: rerank-of-the-candidates p50 / p95 per pass, and whether both settings return the same
top-10 ids.

    flock /tmp/cpu-heavy.lock python benchmarks/rerank_prefault.py --work /tmp/index-memory
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path


def child(args: argparse.Namespace) -> None:
    import numpy as np
    import torch

    sys.path.insert(0, str(Path(__file__).parent))
    from index_latency import _StubEncoder, time_queries

    from smart_plugins.encoder import EncodedTexts
    from smart_plugins.index import SmartIndex, prefault

    prefault.ENABLED = args.prefault == "on"
    torch.set_num_threads(1)
    index = SmartIndex.open(args.index, _StubEncoder(args.dim), read_only=True, verify=False)
    queries = EncodedTexts(**torch.load(args.queries_file))
    report = {}
    for name in ("fresh", "mapped"):
        timed = time_queries(index, queries, args.candidates)
        rerank = np.array(timed["rerank"]) * 1000
        report[name] = {"p50": float(np.percentile(rerank, 50)), "p95": float(np.percentile(rerank, 95))}
        report["top10"] = timed["top10"]
    print(json.dumps(report))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--docs", type=int, default=100_000)
    parser.add_argument("--dim", type=int, default=384)
    parser.add_argument("--avg-tokens", type=int, default=64)
    parser.add_argument("--compression", default="residual-4")
    parser.add_argument("--queries", type=int, default=300)
    parser.add_argument("--candidates", type=int, default=100)
    parser.add_argument("--repeats", type=int, default=2, help="child processes per setting (alternating)")
    parser.add_argument("--work", default="/tmp/index-memory")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--prefault", choices=("on", "off"), default="on", help=argparse.SUPPRESS)
    parser.add_argument("--index", help=argparse.SUPPRESS)
    parser.add_argument("--queries-file", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args)
        return
    sys.path.insert(0, str(Path(__file__).parent))
    from index_memory import build_or_reuse

    folder, qfile = build_or_reuse(args)
    for path in sorted(p for p in folder.rglob("*") if p.is_file()):  # warm the page cache
        with open(path, "rb") as fh:
            while fh.read(1 << 24):
                pass
    results: dict[str, list[dict]] = {"off": [], "on": []}
    for _ in range(args.repeats):
        for setting in ("off", "on"):
            cmd = [sys.executable, __file__, "--child", "--prefault", setting, "--index", str(folder),
                   "--queries-file", str(qfile), "--dim", str(args.dim), "--candidates", str(args.candidates)]
            out = subprocess.run(cmd, check=True, capture_output=True, text=True).stdout
            results[setting].append(json.loads(out.strip().splitlines()[-1]))
    print(f"{args.docs} docs, {args.avg_tokens} tokens/doc, {args.compression}, {args.queries} queries, "
          f"rerank of the top-{args.candidates}, 1 torch thread, page cache warm")
    print(f"{'prefault':<9} {'run':>3}  {'fresh process p50 / p95':>24}  {'maps populated p50 / p95':>25}")
    for setting in ("off", "on"):
        for i, r in enumerate(results[setting]):
            print(f"{setting:<9} {i:>3}  {r['fresh']['p50']:10.2f} / {r['fresh']['p95']:6.2f} ms  "
                  f"{r['mapped']['p50']:11.2f} / {r['mapped']['p95']:6.2f} ms")
    same = all(a["top10"] == b["top10"] for a, b in zip(results["off"], results["on"]))
    print(f"same top-10 ids with and without prefaulting: {same}")


if __name__ == "__main__":
    main()
