"""CPU encoding backends side by side: docs/s and nDCG@10 of torch, ONNX Runtime (fp32, int8), OpenVINO.

Speed: the same real passages (the first ``--passages`` of debian-synopsis) are encoded by every
method in alternating rounds in one process; the median time per method gives docs/s and the
ratio to ``SmartEncoder`` on torch. ``SentenceTransformer.encode`` (plain, pooled only, torch) is
timed beside them. Exports and quantisation happen before timing (they are cached).

Quality: on each shared task (test split), the test queries (``--max-queries``, the first ones)
and a fixed subset of the corpus: every judged positive of those queries plus a seeded sample of
other documents up to ``--docs`` (encoding whole 20k corpora per backend is too slow on the shared
machine). Each backend encodes that subset; pooled, late and hybrid (1:1) runs (pooled top-200
first stage) are scored with ir-measures (``smart_plugins.evaluation.metrics``) and reported as
nDCG@10 and the change from torch in points.

``--autocast bfloat16`` adds torch in mixed precision (``SmartEncoder(autocast="bfloat16")``, and
plain ``SentenceTransformer.encode`` under the same ``torch.autocast`` beside it); ``--dtypes
bfloat16`` adds torch with its weights cast to bfloat16. Both are fast only on CPUs with native
bf16 matrix units (AMX or AVX512-BF16; ``cpu_has_native_bf16()``, recorded in the JSON).

Run (speed under the shared lock, quality separately: it is not timed):
  flock /tmp/cpu-heavy.lock python benchmarks/encode_backends.py --skip-quality
  python benchmarks/encode_backends.py --skip-speed --docs 2000
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import time
from pathlib import Path
from typing import Any

import torch

from smart_plugins import SmartEncoder
from smart_plugins.encoder.onnx_backend import BACKEND_NAMES
from smart_plugins.encoder.precision import autocast_context, cpu_has_native_bf16
from smart_plugins.evaluation.dataset import load_beir
from smart_plugins.evaluation.metrics import evaluate_run
from smart_plugins.evaluation.retrieval import score_candidates
from smart_plugins.scoring import ScoreWeights

DATASETS = Path(__file__).resolve().parents[1].parent / "shared" / "datasets"
MODES = {"pooled": ScoreWeights(1.0, 0.0), "late": ScoreWeights(0.0, 1.0), "hybrid": ScoreWeights(1.0, 1.0)}


def speed(encoders: dict[str, SmartEncoder], passages: list[str], rounds: int, batch_size: int) -> dict[str, Any]:
    methods = {}
    for name in ("torch", *(n for n in encoders if n.startswith("torch-"))):  # plain ST in each torch precision
        encoder = encoders[name]
        label = "torch" if name == "torch" else f"torch, {name.removeprefix('torch-')}"

        def plain(e: SmartEncoder = encoder) -> Any:
            with autocast_context(e.device, e.autocast):
                return e.model.encode(passages, batch_size=batch_size, convert_to_tensor=True)

        methods[f"SentenceTransformer.encode ({label})"] = plain
    for name, encoder in encoders.items():
        methods[f"SmartEncoder {name}"] = lambda e=encoder: e.encode(passages, show_progress_bar=False)
    for encoder in encoders.values():  # warm-up (first-call allocations, OpenVINO's first shapes)
        encoder.encode(passages[: 2 * batch_size], show_progress_bar=False)
    times: dict[str, list[float]] = {name: [] for name in methods}
    for round_index in range(rounds):
        for name, fn in methods.items():
            start = time.perf_counter()
            fn()
            times[name].append(time.perf_counter() - start)
        print(f"  round {round_index + 1}: " + ", ".join(f"{n.split()[-1]} {t[-1]:.1f}s" for n, t in times.items()), flush=True)
    base = statistics.median(times["SmartEncoder torch"]) if "SmartEncoder torch" in times else None
    rows = {}
    for name, values in times.items():
        median = statistics.median(values)
        rows[name] = {"median_s": median, "docs_per_s": len(passages) / median, "speedup_vs_torch": (base / median) if base else None}
    return rows


def subset(data: Any, max_queries: int | None, docs: int, seed: int) -> tuple[list[str], list[str], list[str], list[str], dict]:
    query_ids = data.query_ids[:max_queries] if max_queries else data.query_ids
    query_texts = data.query_texts[: len(query_ids)]
    qrels = {q: data.qrels[q] for q in query_ids}
    positives = sorted({d for q in query_ids for d in qrels[q]})
    index = data.doc_index()
    others = [d for d in data.doc_ids if d not in set(positives)]
    random.Random(seed).shuffle(others)
    chosen = positives + others[: max(0, docs - len(positives))]
    chosen.sort(key=index.__getitem__)
    return list(query_ids), list(query_texts), chosen, [data.doc_texts[index[d]] for d in chosen], qrels


def quality(encoders: dict[str, SmartEncoder], folders: list[Path], max_queries: int | None, docs: int, seed: int) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for folder in folders:
        data = load_beir(folder, "test")
        query_ids, query_texts, doc_ids, doc_texts, qrels = subset(data, max_queries, docs, seed)
        print(f"{folder.name}: {len(query_ids)} test queries, {len(doc_ids)} docs ({len(data.doc_ids)} in the corpus)", flush=True)
        task: dict[str, Any] = {"queries": len(query_ids), "docs": len(doc_ids), "corpus": len(data.doc_ids), "backends": {}}
        for name, encoder in encoders.items():
            tick = time.perf_counter()
            d = encoder.encode_documents(doc_texts, show_progress_bar=False)
            q = encoder.encode_queries(query_texts, show_progress_bar=False)
            scores = score_candidates(q, d, k=200)
            row = {mode: evaluate_run(scores.run(query_ids, doc_ids, w), qrels, {"ndcg@10": "nDCG@10"})["ndcg@10"]
                   for mode, w in MODES.items()}
            task["backends"][name] = row
            print(f"  {name:<10} " + "  ".join(f"{m} {v:.4f}" for m, v in row.items()) + f"  ({time.perf_counter() - tick:.0f}s)", flush=True)
        out[folder.name] = task
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default="minilm")
    parser.add_argument("--backends", default=",".join(BACKEND_NAMES), help=f"comma list of {', '.join(BACKEND_NAMES)}")
    parser.add_argument("--autocast", default="", help="mixed precisions, e.g. bfloat16: each adds a 'torch-autocast-<dtype>' "
                        "encoder (SmartEncoder(autocast=...)) and a plain SentenceTransformer.encode under the same torch.autocast")
    parser.add_argument("--dtypes", default="", help="weight dtypes, e.g. bfloat16: each adds a 'torch-<dtype>' encoder "
                        "(SmartEncoder(dtype=...), weights cast) and a plain SentenceTransformer.encode in that dtype")
    parser.add_argument("--datasets", default=",".join(str(DATASETS / n) for n in ("debian-synopsis", "debian-siblings", "stdlib-code")))
    parser.add_argument("--passages", type=int, default=256, help="speed: passages encoded per method and round")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--docs", type=int, default=2000, help="quality: documents per task (all judged positives included)")
    parser.add_argument("--max-queries", type=int, default=None, help="quality: first N test queries per task (default all)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--skip-speed", action="store_true")
    parser.add_argument("--skip-quality", action="store_true")
    parser.add_argument("--json", help="write the results here")
    args = parser.parse_args()
    names = [b.strip() for b in args.backends.split(",") if b.strip()]
    if "torch" not in names:
        names.insert(0, "torch")
    tick = time.perf_counter()
    encoders = {name: SmartEncoder(args.model, device="cpu", batch_size=args.batch_size, backend=name) for name in names}
    for dtype in (d.strip() for d in args.autocast.split(",") if d.strip()):
        encoders[f"torch-autocast-{dtype}"] = SmartEncoder(args.model, device="cpu", batch_size=args.batch_size, autocast=dtype)
    for dtype in (d.strip() for d in args.dtypes.split(",") if d.strip()):
        encoders[f"torch-{dtype}"] = SmartEncoder(args.model, device="cpu", batch_size=args.batch_size, dtype=dtype)
    print(f"model {args.model}, backends {names} ready in {time.perf_counter() - tick:.0f}s (exports cached); "
          f"torch {torch.__version__}, {torch.get_num_threads()} threads", flush=True)
    report: dict[str, Any] = {"model": args.model, "threads": torch.get_num_threads(), "batch_size": args.batch_size,
                              "cpu_native_bf16": cpu_has_native_bf16(), "torch": torch.__version__}
    if not args.skip_speed:
        folder = Path(args.datasets.split(",")[0])
        passages = load_beir(folder, "test").doc_texts[: args.passages]
        report["speed"] = speed(encoders, passages, args.rounds, args.batch_size)
        print(f"\n| method ({len(passages)} passages of {folder.name}, batch {args.batch_size}) | docs/s | vs SmartEncoder torch |")
        print("|---|---|---|")
        for name, row in report["speed"].items():
            print(f"| {name} | {row['docs_per_s']:.1f} | {row['speedup_vs_torch']:.2f}x |")
    if not args.skip_quality:
        report["quality"] = quality(encoders, [Path(p) for p in args.datasets.split(",")], args.max_queries, args.docs, args.seed)
        print("\n| task (queries / docs) | backend | pooled | late | hybrid 1:1 | change vs torch (pt) |")
        print("|---|---|---|---|---|---|")
        for task, entry in report["quality"].items():
            base = entry["backends"]["torch"]
            for name, row in entry["backends"].items():
                delta = ", ".join(f"{m} {100 * (row[m] - base[m]):+.2f}" for m in MODES)
                print(f"| {task} ({entry['queries']} / {entry['docs']}) | {name} | {row['pooled']:.4f} | {row['late']:.4f} | "
                      f"{row['hybrid']:.4f} | {delta} |")
    if args.json:
        Path(args.json).write_text(json.dumps(report, indent=1))


if __name__ == "__main__":
    main()
