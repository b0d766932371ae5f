"""``smart-plugins eval`` (quality report on a BEIR folder) and ``smart-plugins eval-toy`` (binding task)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from smart_plugins.atomic import atomic_write_json

DEFAULT_LAMBDAS = "0,0.125,0.25,0.5,1,2,4,8,inf"


def register(subparsers: Any) -> None:
    """Add the ``eval`` and ``eval-toy`` sub-commands."""
    p = subparsers.add_parser(
        "eval",
        help="evaluate default / pooled / late / hybrid / BM25 retrieval on a BEIR-format folder",
        description=(
            "Evaluate SMART retrieval on a BEIR folder (corpus.jsonl, queries.jsonl, qrels/<split>.tsv). "
            "Default retrieval is two-stage: pooled top-k candidates, then late/hybrid rerank. "
            "Encoded corpora are cached on disk, so re-runs with other modes or λ do not re-encode."
        ),
    )
    p.add_argument("dataset", metavar="DATASET_DIR", help="BEIR folder")
    p.add_argument("--model", default="minilm", help="sentence-transformers name or local path; alias 'minilm' = packaged all-MiniLM-L6-v2 (default), 'mpnet'")
    p.add_argument("--modes", default="default,pooled,late,hybrid,bm25",
                   help="comma list of default,pooled,late,hybrid,bm25 (default: all). 'default' is what SmartIndex.search does "
                        "with no arguments: λ fitted without labels on pseudo-queries drawn from the corpus")
    p.add_argument("--split", default="test", help="qrels split to report (default: test)")
    p.add_argument("--k", type=int, default=200, help="first-stage pooled candidates per query (default: 200)")
    p.add_argument("--exhaustive", action="store_true", help="score every document with pooled and late scores (no first stage)")
    p.add_argument("--depth", type=int, default=100, help="documents per query in the evaluated run (default: 100)")
    p.add_argument("--weights", default="1:1", help="λ_pool:λ_late of the hybrid mode (default: 1:1)")
    p.add_argument("--fusion", choices=("weighted", "zscore"), default="weighted",
                   help="hybrid combination: raw weighted sum (SMART formula) or per-query z-scored scores")
    p.add_argument("--weights-file", help="JSON weights file (from --save-weights) evaluated as the 'tuned' mode")
    p.add_argument("--lambdas", help=f"λ sweep: comma list of POOL:LATE pairs or λ_late/λ_pool ratios, 'inf' = late only (e.g. {DEFAULT_LAMBDAS})")
    p.add_argument("--tune-lambda", action="store_true", help="fit λ on --tune-split and report it as the 'tuned' mode")
    p.add_argument("--tune-split", default="train", help="split λ is fitted on (default: train)")
    p.add_argument("--tune-max-queries", type=int, default=None, help="queries of the tuning split used (default: all)")
    p.add_argument("--save-weights", help="write the tuned λ to this JSON file (pass it back with --weights-file)")
    p.add_argument("--metrics", help="comma list (default: ndcg@10,recall@10,recall@100,mrr@10; also recall@K, ndcg@K, mrr@K, p@1, success@1)")
    p.add_argument("--max-queries", type=int, help="evaluate only the first N judged queries (quick runs)")
    p.add_argument("--json", dest="json_out", help="write the report as JSON here")
    p.add_argument("--plot", help="draw nDCG@10 against λ_late/λ_pool to this PNG (runs the default sweep if --lambdas is absent)")
    p.add_argument("--cache-dir", help="encoded-corpus cache folder (default: $SMART_PLUGINS_CACHE/encoded or ~/.cache/smart-plugins/encoded)")
    p.add_argument("--no-cache", action="store_true", help="encode without reading or writing the cache")
    p.add_argument("--device", help="cuda / cpu (default: GPU when present)")
    from smart_plugins.cli.index_command import BACKEND_CHOICES, add_autocast

    p.add_argument("--backend", choices=BACKEND_CHOICES, default="torch",
                   help="how the model runs: torch (default), or on the CPU onnx / onnx-int8 / openvino (needs smart-plugins[onnx])")
    add_autocast(p)
    p.add_argument("--batch-size", type=int, default=32, help="encoding batch size (default: 32)")
    p.add_argument("--truncation", choices=("warn", "chunk"), default="warn", help="long texts: truncate with a warning, or encode in windows")
    p.add_argument("--bf16", action="store_true", help="compute MaxSim in bfloat16 (faster on recent CPUs/GPUs, tiny precision cost)")
    # SUPPRESS: without the flag here, the global ``smart-plugins --quiet eval ...`` is kept, not reset to False
    p.add_argument("--quiet", action="store_true", default=argparse.SUPPRESS,
                   help="no progress bars (the same as smart-plugins --quiet eval ...)")
    p.set_defaults(func=run_eval)

    t = subparsers.add_parser(
        "eval-toy",
        help="write the code-marker binding task as a BEIR folder",
        description=(
            "Generate a controlled local-evidence task: each document binds several codes to several markers; "
            "documents in a group share codes and markers but bind them differently; a query asks for one binding."
        ),
    )
    t.add_argument("out", metavar="OUT_DIR", help="folder to write (corpus.jsonl, queries.jsonl, qrels/train.tsv, qrels/test.tsv)")
    t.add_argument("--docs", type=int, default=2000, help="number of documents (default: 2000)")
    t.add_argument("--bindings", type=int, default=4, help="bindings per document (default: 4)")
    t.add_argument("--group-size", type=int, default=4, help="documents sharing codes and markers (default: 4, at most --bindings)")
    t.add_argument("--seed", type=int, default=0, help="random seed (default: 0)")
    t.set_defaults(func=run_toy)


def run_toy(args: argparse.Namespace) -> int:
    from smart_plugins.evaluation.toy import write_toy_task

    out = write_toy_task(args.out, n_docs=args.docs, bindings=args.bindings, group_size=args.group_size, seed=args.seed)
    print(f"wrote the binding task to {out}")
    return 0


def run_eval(args: argparse.Namespace) -> int:
    import torch

    from smart_plugins.evaluation.metrics import parse_metrics
    from smart_plugins.evaluation.plot import plot_sweeps
    from smart_plugins.evaluation.runner import (
        EvalConfig,
        format_sweep,
        format_table,
        run_evaluation,
    )
    from smart_plugins.evaluation.tuning import TunedWeights, parse_lambdas
    from smart_plugins.progress import show_progress
    from smart_plugins.scoring import ScoreWeights

    modes = [m.strip() for m in args.modes.split(",") if m.strip()]
    if args.k <= 0:
        raise ValueError(f"--k must be positive, got {args.k}")
    if args.save_weights and not args.tune_lambda:
        raise ValueError("--save-weights needs --tune-lambda")
    lambdas = args.lambdas or (DEFAULT_LAMBDAS if args.plot else None)
    config = EvalConfig(
        modes=modes,
        split=args.split,
        k=None if args.exhaustive else args.k,
        depth=args.depth,
        weights=ScoreWeights.parse(args.weights),
        fusion=args.fusion,
        tuned=TunedWeights.load(args.weights_file) if args.weights_file else None,
        lambdas=parse_lambdas(lambdas) if lambdas else None,
        tune_lambda=args.tune_lambda,
        tune_split=args.tune_split,
        max_queries=args.max_queries,
        tune_max_queries=args.tune_max_queries,
        metrics=parse_metrics(args.metrics),
        cache_dir=args.cache_dir,
        use_cache=not args.no_cache,
        compute_dtype=torch.bfloat16 if args.bf16 else None,
        show_progress=show_progress(),  # --quiet / --progress / a terminal, as for every other command
    )
    from smart_plugins.evaluation.dataset import beir_files

    beir_files(args.dataset, args.split)  # a wrong folder or split is reported before the model loads
    if args.tune_lambda:
        beir_files(args.dataset, args.tune_split)
    encoder = None
    if config.needs_dense:
        from smart_plugins.encoder import SmartEncoder

        encoder = SmartEncoder(args.model, device=args.device, batch_size=args.batch_size, truncation=args.truncation,
                               backend=args.backend, autocast=args.autocast)
    report = run_evaluation(args.dataset, encoder, config)
    report["command"] = "smart-plugins eval " + " ".join(sys.argv[2:]) if sys.argv[1:2] == ["eval"] else None
    print(_summary(report))
    print(format_table(report))
    sweep_table = format_sweep(report, list(config.metrics)[:2])
    if sweep_table:
        print(f"\nλ sweep ({report['lambda_sweep']['fusion']}):\n{sweep_table}")
    if "tuned" in report:
        tuned = TunedWeights.from_dict(report["tuned"])
        print(f"\ntuned on {tuned.provenance.get('split')}: λ = {tuned.weights.pool:g}:{tuned.weights.late:g} "
              f"({tuned.provenance.get('metric')} {tuned.provenance.get('value', 0):.4f} there)")
        if args.save_weights:
            print(f"saved to {tuned.save(args.save_weights)}")
    if args.plot:
        path = plot_sweeps({report["dataset"]["name"]: report["lambda_sweep"]["points"]}, args.plot,
                           title=f"{report['dataset']['name']} ({report['dataset']['split']})")
        print(f"plot written to {path}")
    if args.json_out:
        _write_json(report, Path(args.json_out))
        print(f"report written to {args.json_out}")
    return 0


def _summary(report: dict[str, Any]) -> str:
    d, r, t = report["dataset"], report["retrieval"], report["timing"]
    parts = [f"{d['name']} [{d['split']}]: {d['documents']} documents, {d['queries']} queries"]
    if "exhaustive" in r:
        if r["exhaustive"]:
            parts.append("exhaustive scoring")
        else:
            key = f"first_stage_recall@{r['k']}"
            parts.append(f"two-stage: pooled top-{r['k']} (recall@{r['k']} {r[key]:.4f}) then rerank")
    parts.append("time " + ", ".join(f"{k[:-2]} {v:.1f}s" for k, v in t.items()))
    return "\n".join(parts)


def _write_json(report: dict[str, Any], path: Path) -> None:
    atomic_write_json(path, report)
