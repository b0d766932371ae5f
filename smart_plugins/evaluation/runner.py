"""One evaluation: encode (cached), score once, report every mode, λ sweep and tuned λ."""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from smart_plugins.encoder import SmartEncoder
from smart_plugins.evaluation.bm25 import bm25_run
from smart_plugins.evaluation.cache import EncodedCache
from smart_plugins.evaluation.dataset import BeirDataset, load_beir
from smart_plugins.evaluation.default_mode import corpus_default_weights
from smart_plugins.evaluation.encoding import encode_cached
from smart_plugins.evaluation.fusion import FUSIONS, FusionPolicy
from smart_plugins.evaluation.images import dense_inputs, has_images, with_image_metrics
from smart_plugins.evaluation.metrics import DEFAULT_METRICS, evaluate_run
from smart_plugins.evaluation.retrieval import CandidateScores, score_candidates
from smart_plugins.evaluation.tuning import (
    DEFAULT_TUNING_GRID,
    SweepPoint,
    TunedWeights,
    sweep,
    tune_weights,
)
from smart_plugins.scoring import ScoreWeights

logger = logging.getLogger(__name__)

MODES: tuple[str, ...] = ("default", "pooled", "late", "hybrid", "bm25")
_POOLED, _LATE = ScoreWeights(1.0, 0.0), ScoreWeights(0.0, 1.0)


@dataclass
class EvalConfig:
    """Settings of one evaluation (the CLI flags of ``smart-plugins eval``).

    Examples
    --------
    >>> EvalConfig(modes=["pooled", "bm25"]).modes
    ['pooled', 'bm25']
    """

    modes: list[str] = field(default_factory=lambda: ["default", "pooled", "late", "hybrid", "bm25"])
    split: str = "test"
    k: int | None = 200
    depth: int = 100
    weights: ScoreWeights = field(default_factory=ScoreWeights)
    fusion: FusionPolicy = "weighted"
    tuned: TunedWeights | None = None
    lambdas: list[ScoreWeights] | None = None
    tune_lambda: bool = False
    tune_split: str = "train"
    tune_grid: Sequence[float] = DEFAULT_TUNING_GRID
    max_queries: int | None = None
    tune_max_queries: int | None = None
    metrics: dict[str, str] = field(default_factory=lambda: dict(DEFAULT_METRICS))
    cache_dir: str | Path | None = None
    use_cache: bool = True
    compute_dtype: torch.dtype | None = None
    show_progress: bool = True

    def __post_init__(self) -> None:
        unknown = [m for m in self.modes if m not in MODES]
        if unknown or not self.modes:
            raise ValueError(f"unknown mode(s) {unknown or self.modes}; choose from {', '.join(MODES)}")
        if self.fusion not in FUSIONS:
            raise ValueError(f"fusion must be one of {', '.join(FUSIONS)}, got {self.fusion!r}")
        if self.depth <= 0:
            raise ValueError(f"depth must be positive, got {self.depth}")
        if self.k is not None and self.k < self.depth:
            logger.warning("first-stage k=%d is below the run depth %d: recall@%d is capped", self.k, self.depth, self.depth)
        if self.tune_lambda and self.tune_split == self.split:
            raise ValueError(f"λ must be tuned on a split other than the reported one ({self.split!r})")

    @property
    def needs_dense(self) -> bool:
        return any(m != "bm25" for m in self.modes) or bool(self.lambdas) or self.tune_lambda or self.tuned is not None


def run_evaluation(dataset_dir: str | Path, encoder: SmartEncoder | None, config: EvalConfig | None = None) -> dict[str, Any]:
    """Evaluate ``encoder`` on a BEIR folder; returns the JSON-able report.

    The report holds ``modes`` (one object per mode, keyed by metric name), ``first_stage``,
    ``timing``, ``model``, ``dataset`` and, when asked for, ``lambda_sweep`` and ``tuned``.

    Examples
    --------
    >>> import tempfile
    >>> from smart_plugins.evaluation.toy import write_toy_task
    >>> folder = write_toy_task(tempfile.mkdtemp(), n_docs=40, bindings=3, group_size=2)
    >>> report = run_evaluation(folder, None, EvalConfig(modes=["bm25"]))
    >>> sorted(report["modes"]["bm25"])[:2]
    ['mrr@10', 'ndcg@10']
    """
    config = config or EvalConfig()
    started = time.perf_counter()
    data = load_beir(dataset_dir, config.split, max_queries=config.max_queries)
    images = has_images(data)
    if images:  # image task: hit@1 / nDCG@5 beside the usual metrics; BM25 has no text to read
        config = _image_task(config)
    report: dict[str, Any] = {
        "dataset": _describe_dataset(dataset_dir, data),
        "model": None,
        "retrieval": {"depth": config.depth},
        "modes": {},
        "timing": {},
    }
    timing = report["timing"]
    if config.needs_dense:
        if encoder is None:
            raise ValueError("dense modes (pooled, late, hybrid, λ) need an encoder")
        report["model"] = encoder.describe()
        cache = EncodedCache(config.cache_dir) if config.use_cache and not images else None
        docs, timing["encode_corpus_s"] = encode_cached(
            encoder, dense_inputs(data.doc_texts, data.doc_images), "document", cache, show_progress=config.show_progress,
            metadata={"dataset": data.name, "corpus_sha256": data.corpus_sha256},
        )
        queries, timing["encode_queries_s"] = encode_cached(
            encoder, dense_inputs(data.query_texts, data.query_images), "query", cache, show_progress=config.show_progress
        )
        tick = time.perf_counter()
        scores = score_candidates(queries, docs, config.k, compute_dtype=config.compute_dtype, show_progress=config.show_progress)
        timing["score_s"] = time.perf_counter() - tick
        report["retrieval"].update(_first_stage(scores, data, config))
        if "default" in config.modes:
            tick = time.perf_counter()
            weights, fit = corpus_default_weights(encoder, data.doc_texts, docs, cache, show_progress=config.show_progress)
            timing["default_fit_s"] = time.perf_counter() - tick
            run = scores.run(data.query_ids, data.doc_ids, weights, config.depth)
            report["modes"]["default"] = {**evaluate_run(run, data.qrels, config.metrics), "weights": weights.as_dict(),
                                          "fusion": "weighted", "fit": fit}
        tick = time.perf_counter()
        _dense_modes(report, scores, data, config)
        if config.lambdas:
            points = sweep(scores, data.query_ids, data.doc_ids, data.qrels, config.lambdas, config.metrics, fusion=config.fusion, depth=config.depth)
            report["lambda_sweep"] = {"fusion": config.fusion, "points": [p.as_dict() for p in points]}
        timing["rank_and_metrics_s"] = time.perf_counter() - tick
        if config.tune_lambda:
            tick = time.perf_counter()
            tuned, curve = tune_on_split(dataset_dir, encoder, config, cache)
            timing["tune_s"] = time.perf_counter() - tick
            report["tuned"] = tuned.as_dict()
            report["tuning_curve"] = [p.as_dict() for p in curve]
            config = _with_tuned(config, tuned)
        if config.tuned is not None:
            run = scores.run(data.query_ids, data.doc_ids, config.tuned.weights, config.depth, config.tuned.fusion)  # type: ignore[arg-type]
            entry = evaluate_run(run, data.qrels, config.metrics)
            report["modes"]["tuned"] = {**entry, "weights": config.tuned.weights.as_dict(), "fusion": config.tuned.fusion}
    if "bm25" in config.modes:
        tick = time.perf_counter()
        run = bm25_run(data.doc_ids, data.doc_texts, data.query_ids, data.query_texts, k=config.depth)
        timing["bm25_s"] = time.perf_counter() - tick
        report["modes"]["bm25"] = evaluate_run(run, data.qrels, config.metrics)
    timing["total_s"] = time.perf_counter() - started
    return report


def tune_on_split(
    dataset_dir: str | Path, encoder: SmartEncoder, config: EvalConfig, cache: EncodedCache | None
) -> tuple[TunedWeights, list[SweepPoint]]:
    """Fit λ on ``config.tune_split`` (never the reported split); also returns the metric along the grid."""
    data = load_beir(dataset_dir, config.tune_split, max_queries=config.tune_max_queries)
    cache = None if has_images(data) else cache
    docs, _ = encode_cached(encoder, dense_inputs(data.doc_texts, data.doc_images), "document", cache, show_progress=config.show_progress)
    queries, _ = encode_cached(encoder, dense_inputs(data.query_texts, data.query_images), "query", cache, show_progress=config.show_progress)
    scores = score_candidates(queries, docs, config.k, compute_dtype=config.compute_dtype, show_progress=config.show_progress)
    provenance = {"dataset": data.name, "split": config.tune_split, "first_stage_k": config.k, "model": encoder.describe()["model"]}
    return tune_weights(
        scores, data.query_ids, data.doc_ids, data.qrels, fusion=config.fusion, grid=config.tune_grid, depth=config.depth, provenance=provenance
    )


def _dense_modes(report: dict[str, Any], scores: CandidateScores, data: BeirDataset, config: EvalConfig) -> None:
    chosen = {"pooled": (_POOLED, "weighted"), "late": (_LATE, "weighted"), "hybrid": (config.weights, config.fusion)}
    for mode in config.modes:
        if mode not in chosen:
            continue
        weights, fusion = chosen[mode]
        run = scores.run(data.query_ids, data.doc_ids, weights, config.depth, fusion)  # type: ignore[arg-type]
        entry: dict[str, Any] = evaluate_run(run, data.qrels, config.metrics)
        if mode == "hybrid":
            entry.update(weights=weights.as_dict(), fusion=fusion)
        report["modes"][mode] = entry


def _first_stage(scores: CandidateScores, data: BeirDataset, config: EvalConfig) -> dict[str, Any]:
    info: dict[str, Any] = {"exhaustive": scores.exhaustive, "first_stage": None if scores.exhaustive else "pooled", "k": scores.k}
    if not scores.exhaustive:
        name = f"recall@{scores.k}"
        info[f"first_stage_{name}"] = evaluate_run(scores.first_stage_run(data.query_ids, data.doc_ids), data.qrels, {name: f"R@{scores.k}"})[name]
    return info


def _image_task(config: EvalConfig) -> EvalConfig:
    from dataclasses import replace

    modes = [m for m in config.modes if m != "bm25"]
    if "bm25" in config.modes:
        logger.warning("bm25 is skipped on an image task (its documents are images)")
    return replace(config, modes=modes or ["pooled"], metrics=with_image_metrics(config.metrics))


def _with_tuned(config: EvalConfig, tuned: TunedWeights) -> EvalConfig:
    from dataclasses import replace

    return replace(config, tuned=tuned, tune_lambda=False)


def _describe_dataset(folder: str | Path, data: BeirDataset) -> dict[str, Any]:
    return {
        "name": data.name,
        "path": str(Path(folder).resolve()),
        "split": data.split,
        "documents": len(data.doc_ids),
        "queries": len(data.query_ids),
        "corpus_sha256": data.corpus_sha256,
    }


def format_table(report: dict[str, Any]) -> str:
    """A plain-text table of the report's modes (rows) and metrics (columns)."""
    modes = report["modes"]
    if not modes:
        return "(no modes evaluated)"
    metric_names = [k for k in next(iter(modes.values())) if isinstance(next(iter(modes.values()))[k], float)]
    lines = ["mode".ljust(10) + "".join(name.rjust(12) for name in metric_names)]
    for mode, values in modes.items():
        label = mode
        if "weights" in values:
            w = values["weights"]
            label = f"{mode} {w['pool']:g}:{w['late']:g}" + ("" if values.get("fusion") == "weighted" else f" {values['fusion']}")
        lines.append(label.ljust(10) + "".join(f"{values[name]:12.4f}" for name in metric_names))
    return "\n".join(lines)


def format_sweep(report: dict[str, Any], metric_names: Sequence[str] | None = None) -> str:
    """A plain-text table of the λ sweep."""
    points = report.get("lambda_sweep", {}).get("points", [])
    if not points:
        return ""
    metric_names = list(metric_names or [k for k in points[0] if k not in ("weights", "late_ratio")])
    lines = ["λ_pool:λ_late".ljust(15) + "late/pool".rjust(10) + "".join(n.rjust(12) for n in metric_names)]
    for p in points:
        ratio = "inf" if p["late_ratio"] is None else f"{p['late_ratio']:.3g}"
        lines.append(f"{p['weights']['pool']:g}:{p['weights']['late']:g}".ljust(15) + ratio.rjust(10) + "".join(f"{p[n]:12.4f}" for n in metric_names))
    return "\n".join(lines)
