"""One prepared run for a GPU (runs on the CPU too): encoding and MaxSim against sentence-transformers.

On one device, in one process, in alternating rounds (median per method):

- encode throughput, MiniLM, fp32 and bf16: ``SmartEncoder.encode`` (pooled + token vectors)
  vs ``SentenceTransformer.encode`` (pooled only) at the same batch size;
- MaxSim rerank: 1 query x ``--rerank-docs`` docs x ``--doc-tokens`` tokens;
- MaxSim batch: ``--batch-queries`` queries x ``--batch-docs`` docs x ``--doc-tokens`` tokens;
  smart-plugins ``maxsim`` (fp32, bf16) vs sentence-transformers ``maxsim`` (lists and padded).

Prints a markdown table and writes every figure as JSON to ``--out``. Texts are generated from a
fixed vocabulary (seeded), so the script needs no data folder.

Run on a GPU:   python benchmarks/gpu_check.py --device cuda --out gpu_check.json
Smoke on a CPU: python benchmarks/gpu_check.py --device cpu --texts 16 --rerank-docs 8 --batch-queries 2 --batch-docs 16 --rounds 1 --out /tmp/g.json
"""

from __future__ import annotations

import argparse
import json
import platform
import random
import statistics
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F

WORDS = ("package library files development debug documentation data python perl java rust shared runtime tool "
         "command line server client module index search query document token vector model text retrieval late "
         "interaction pooled embedding fast slow red green blue star moon apple banana code marker label").split()


def make_texts(count: int, seed: int = 0) -> list[str]:
    rng = random.Random(seed)
    return [" ".join(rng.choice(WORDS) for _ in range(rng.randint(40, 80))) for _ in range(count)]


def random_docs(count: int, tokens: int, dim: int, gen: torch.Generator, device: str) -> list[torch.Tensor]:
    spread = max(1, tokens // 6)
    lengths = torch.randint(max(1, tokens - spread), tokens + spread + 1, (count,), generator=gen)
    return [F.normalize(torch.randn(int(n), dim, generator=gen), dim=-1).to(device) for n in lengths]


def timed(fn: Callable[[], object], device: str) -> float:
    if device.startswith("cuda"):
        torch.cuda.synchronize()
    start = time.perf_counter()
    fn()
    if device.startswith("cuda"):
        torch.cuda.synchronize()
    return time.perf_counter() - start


def compare(methods: dict[str, Callable[[], object]], rounds: int, device: str) -> dict[str, float]:
    for fn in methods.values():  # warm-up
        fn()
    samples: dict[str, list[float]] = {name: [] for name in methods}
    for _ in range(rounds):
        for name, fn in methods.items():
            samples[name].append(timed(fn, device))
    return {name: statistics.median(values) for name, values in samples.items()}


def encode_section(args: argparse.Namespace) -> dict[str, Any]:
    from sentence_transformers import SentenceTransformer

    from smart_plugins import SmartEncoder
    from smart_plugins.encoder.precision import autocast_context
    from smart_plugins.models import resolve_model_name

    texts = make_texts(args.texts)
    path = resolve_model_name(args.model)
    device = torch.device(args.device)
    methods: dict[str, Callable[[], object]] = {}
    check: dict[str, float] = {}
    # weights in fp32 / cast to bf16, and fp32 weights under torch.autocast(bf16) (SmartEncoder(autocast=...));
    # the plain SentenceTransformer of each label runs the same way
    for label, dtype, autocast in (("fp32", torch.float32, None), ("bf16", torch.bfloat16, None),
                                   ("autocast-bf16", torch.float32, "bfloat16")):
        smart = SmartEncoder(path, device=args.device, batch_size=args.batch_size,
                             **({"autocast": autocast} if autocast else {"dtype": dtype}))
        plain = SentenceTransformer(path, device=args.device, model_kwargs={"dtype": dtype})

        def plain_encode(m: Any = plain, mixed: str | None = autocast, batch: list[str] = texts) -> Any:
            with autocast_context(device, mixed):
                return m.encode(batch, batch_size=args.batch_size, convert_to_tensor=True)

        methods[f"SentenceTransformer.encode {label}"] = plain_encode
        methods[f"SmartEncoder.encode {label}"] = lambda e=smart: e.encode(texts, show_progress_bar=False)
        pooled = smart.encode(texts[:8]).pooled
        reference = plain_encode(batch=texts[:8]).float().cpu()
        check[f"pooled max |diff| SmartEncoder vs ST {label}"] = float((pooled - reference).abs().max())
        check[f"parameter dtype SmartEncoder {label}"] = str(next(smart.model.parameters()).dtype)
        check[f"parameter dtype SentenceTransformer {label}"] = str(next(plain.parameters()).dtype)
    seconds = compare(methods, args.rounds, args.device)
    rows = {name: {"median_s": s, "per_s": len(texts) / s} for name, s in seconds.items()}
    for label in ("fp32", "bf16", "autocast-bf16"):
        base = rows[f"SentenceTransformer.encode {label}"]["median_s"]
        for name in (f"SentenceTransformer.encode {label}", f"SmartEncoder.encode {label}"):
            rows[name]["vs_st_same_dtype"] = base / rows[name]["median_s"]
    return {"texts": len(texts), "batch_size": args.batch_size, "rows": rows, "checks": check}


def maxsim_section(name: str, n_queries: int, n_docs: int, args: argparse.Namespace) -> dict[str, Any]:
    from sentence_transformers.util import maxsim as st_maxsim

    from smart_plugins.scoring import maxsim, pack_tokens

    device, dim = args.device, args.dim
    gen = torch.Generator().manual_seed(0)
    queries = random_docs(n_queries, args.query_tokens, dim, gen, device)
    docs = random_docs(n_docs, args.doc_tokens, dim, gen, device)
    q_tokens, q_offsets = pack_tokens(queries)
    d_tokens, d_offsets = pack_tokens(docs)
    q_bf16, d_bf16 = q_tokens.bfloat16(), d_tokens.bfloat16()
    padded_docs = torch.nn.utils.rnn.pad_sequence(docs, batch_first=True)
    doc_mask = torch.nn.utils.rnn.pad_sequence([torch.ones(len(d), dtype=torch.bool, device=device) for d in docs], batch_first=True)
    padded_queries = torch.nn.utils.rnn.pad_sequence(queries, batch_first=True)
    query_mask = torch.nn.utils.rnn.pad_sequence([torch.ones(len(q), dtype=torch.bool, device=device) for q in queries], batch_first=True)
    methods = {
        "sentence-transformers maxsim (lists)": lambda: st_maxsim(queries, docs, length_normalize=True),
        "sentence-transformers maxsim (padded)": lambda: st_maxsim(padded_queries, padded_docs, a_mask=query_mask,
                                                                   b_mask=doc_mask, length_normalize=True),
        "smart-plugins maxsim fp32": lambda: maxsim(q_tokens, q_offsets, d_tokens, d_offsets),
        "smart-plugins maxsim bf16": lambda: maxsim(q_bf16, q_offsets, d_bf16, d_offsets),
        "plain matmul fp32 q @ d.T": lambda: q_tokens @ d_tokens.T,
        "plain matmul fp32 d @ q.T": lambda: d_tokens @ q_tokens.T,
        "plain matmul bf16 q @ d.T": lambda: q_bf16 @ d_bf16.T,
        "plain matmul bf16 d @ q.T": lambda: d_bf16 @ q_bf16.T,
    }
    reference = st_maxsim(queries, docs, length_normalize=True).float().cpu()
    diff = {
        "fp32": float((maxsim(q_tokens, q_offsets, d_tokens, d_offsets).float().cpu() - reference).abs().max()),
        "bf16": float((maxsim(q_bf16, q_offsets, d_bf16, d_offsets).float().cpu() - reference).abs().max()),
    }
    seconds = compare(methods, args.rounds, device)
    st_best = min(seconds["sentence-transformers maxsim (lists)"], seconds["sentence-transformers maxsim (padded)"])
    rows = {n: {"median_ms": s * 1e3, "vs_st_best": st_best / s} for n, s in seconds.items()}
    return {"scenario": name, "queries": n_queries, "docs": n_docs, "doc_tokens": int(d_offsets[-1]), "rows": rows,
            "max_abs_diff_vs_st": diff}


def multimodal_section(args: argparse.Namespace) -> dict[str, Any]:
    """The multimodal code path on ``--device``: tiny random CLIP and Qwen3-VL, images and text, vs the CPU.

    Correctness only (the models are random and tiny): token counts must match the CPU's exactly and the
    vectors agree within float tolerance (fp32) or bf16 rounding.
    """
    import tempfile

    from smart_plugins import SmartEncoder
    from smart_plugins.encoder import tiny_models

    out: dict[str, Any] = {}
    with tempfile.TemporaryDirectory() as tmp:
        images = [str(p) for p in tiny_models.write_test_images(Path(tmp) / "images")]
        inputs = images + ["a red square on white", "blue stripes"]
        builders = {"clip": tiny_models.build_tiny_clip}
        if tiny_models.torchvision_works():
            builders["qwen3-vl"] = tiny_models.build_tiny_qwen3_vl
        for name, build in builders.items():
            try:
                folder = build(Path(tmp) / name)
                cpu = SmartEncoder(str(folder), device="cpu", dtype="float32").encode(inputs)
                row: dict[str, Any] = {"tokens_per_input": cpu.lengths.tolist()}
                for label in ("fp32", "bf16"):
                    dev = SmartEncoder(str(folder), device=args.device, dtype="float32" if label == "fp32" else "bfloat16").encode(inputs)
                    row[f"{label} same token counts"] = dev.lengths.tolist() == cpu.lengths.tolist()
                    row[f"{label} pooled max |diff|"] = float((dev.pooled.float() - cpu.pooled).abs().max())
                    if dev.tokens.shape == cpu.tokens.shape:
                        row[f"{label} tokens max |diff|"] = float((dev.tokens.float() - cpu.tokens).abs().max())
                out[name] = row
            except Exception as error:  # noqa: BLE001 - reported, so the timed sections still come back
                out[name] = {"error": f"{type(error).__name__}: {error}"}
    return out


def train_section(args: argparse.Namespace) -> dict[str, Any]:
    """Train a token adapter on ``--device`` (3-layer mix + query weights, D=128, generated pairs), save it,
    reload it on the device and on the CPU, and compare what the two encode (correctness, and the time)."""
    import tempfile

    from smart_plugins import SmartEncoder
    from smart_plugins.models import resolve_model_name
    from smart_plugins.training import AdapterTrainingConfig, TrainingPair, save_model, train_adapter

    texts = make_texts(args.train_pairs, seed=1)
    pairs = [TrainingPair(" ".join(t.split()[:8]), t) for t in texts]
    config = AdapterTrainingConfig(dim=128, layers=3, query_weights=True, epochs=2, hard_negatives=2)
    start = time.perf_counter()
    base = SmartEncoder(resolve_model_name(args.model), device=args.device, dtype="float32")
    model, report = train_adapter(base, pairs, config, show_progress_bar=False)
    seconds = time.perf_counter() - start
    with tempfile.TemporaryDirectory() as tmp:
        folder = save_model(model, Path(tmp) / "adapter")
        sample = make_texts(16, seed=2)
        on_device = SmartEncoder(str(folder), device=args.device, dtype="float32").encode(sample, kind="query")
        on_cpu = SmartEncoder(str(folder), device="cpu", dtype="float32").encode(sample, kind="query")
    return {"pairs": len(pairs), "train_seconds": seconds, "epoch_losses": list(report.epoch_losses),
            "adapter": {k: v for k, v in report.adapter.items() if k != "sha256"},
            "same token counts device vs cpu": on_device.lengths.tolist() == on_cpu.lengths.tolist(),
            "tokens max |diff| device vs cpu": float((on_device.tokens - on_cpu.tokens).abs().max()),
            "pooled max |diff| device vs cpu": float((on_device.pooled - on_cpu.pooled).abs().max())}


def device_name(device: str) -> str:
    if device.startswith("cuda"):
        return torch.cuda.get_device_name(torch.device(device))
    return platform.processor() or platform.machine()


def markdown(report: dict[str, Any]) -> str:
    lines = [f"device {report['device']} ({report['device_name']}), torch {report['torch']}", "",
             "| section | method | median | rate | vs sentence-transformers |", "|---|---|---|---|---|"]
    enc = report["encode"] or {"rows": {}}
    for name, row in enc["rows"].items():
        lines.append(f"| encode {enc['texts']} texts, batch {enc['batch_size']} | {name} | {row['median_s']:.3f} s | "
                     f"{row['per_s']:.1f} texts/s | {row['vs_st_same_dtype']:.2f}x (same dtype) |")
    for section in report["maxsim"]:
        shape = f"maxsim {section['scenario']} {section['queries']}x{section['docs']}"
        for name, row in section["rows"].items():
            lines.append(f"| {shape} | {name} | {row['median_ms']:.3f} ms | | {row['vs_st_best']:.2f}x (best ST form) |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--out", required=True, help="JSON file to write")
    parser.add_argument("--model", default="minilm")
    parser.add_argument("--texts", type=int, default=4096, help="texts encoded per method and round")
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--rerank-docs", type=int, default=100)
    parser.add_argument("--batch-queries", type=int, default=32)
    parser.add_argument("--batch-docs", type=int, default=1000)
    parser.add_argument("--doc-tokens", type=int, default=120)
    parser.add_argument("--query-tokens", type=int, default=16)
    parser.add_argument("--dim", type=int, default=384)
    parser.add_argument("--large-batch-docs", type=int, default=0, help="also time a batch over this many docs (0: skip)")
    parser.add_argument("--multimodal", action="store_true", help="also check tiny CLIP / Qwen3-VL on --device against the CPU")
    parser.add_argument("--skip-maxsim", action="store_true", help="time encoding only")
    parser.add_argument("--skip-encode", action="store_true", help="time MaxSim only")
    parser.add_argument("--train-pairs", type=int, default=0, help="also train an adapter on this many generated pairs on --device (0: skip)")
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args(argv)
    if args.device.startswith("cuda") and not torch.cuda.is_available():
        raise SystemExit(f"--device {args.device}: no CUDA device is visible (torch {torch.__version__})")
    for name in ("texts", "batch_size", "rerank_docs", "batch_queries", "batch_docs", "doc_tokens", "query_tokens", "dim", "rounds"):
        if getattr(args, name) < 1:
            raise SystemExit(f"--{name.replace('_', '-')} must be a positive integer, got {getattr(args, name)}")
    report: dict[str, Any] = {"device": args.device, "device_name": device_name(args.device), "torch": torch.__version__,
                              "threads": torch.get_num_threads(), "args": vars(args)}
    import smart_plugins

    report["smart_plugins"] = smart_plugins.__file__
    report["encode"] = None if args.skip_encode else encode_section(args)
    report["maxsim"] = [] if args.skip_maxsim else [maxsim_section("rerank", 1, args.rerank_docs, args),
                                                    maxsim_section("batch", args.batch_queries, args.batch_docs, args)]
    if args.large_batch_docs > 0 and not args.skip_maxsim:
        report["maxsim"].append(maxsim_section("large batch", args.batch_queries, args.large_batch_docs, args))
    if args.multimodal:
        report["multimodal"] = multimodal_section(args)
    if args.train_pairs > 0:
        report["train"] = train_section(args)
    print(markdown(report))
    print(json.dumps({"smart_plugins": report["smart_plugins"], "checks": (report["encode"] or {}).get("checks"), "maxsim diff": [m["max_abs_diff_vs_st"] for m in report["maxsim"]],
                      "multimodal": report.get("multimodal"), "train": report.get("train")}, indent=1))
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(report, indent=1))
    return report


if __name__ == "__main__":
    main()
