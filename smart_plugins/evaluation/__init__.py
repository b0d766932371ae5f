"""Quality reports on BEIR-format data: pooled, late, hybrid and BM25, λ sweeps and tuning.

Read in this order: ``dataset`` (BEIR loading), ``cache`` / ``encoding`` (encoded corpora on
disk), ``retrieval`` (score once: pooled first stage + MaxSim rerank), ``fusion`` (how the two
scores combine), ``metrics`` (ir-measures), ``bm25`` (lexical reference), ``tuning`` (λ sweep,
tuned λ and its weights file), ``plot``, ``toy`` (code-marker binding task), ``runner``.

>>> from smart_plugins.evaluation import parse_lambdas
>>> [w.as_dict() for w in parse_lambdas("0,inf")]
[{'pool': 1.0, 'late': 0.0}, {'pool': 0.0, 'late': 1.0}]
"""

from smart_plugins.evaluation.bm25 import bm25_run
from smart_plugins.evaluation.cache import EncodedCache
from smart_plugins.evaluation.dataset import BeirDataset, load_beir
from smart_plugins.evaluation.fusion import fuse
from smart_plugins.evaluation.metrics import (
    DEFAULT_METRICS,
    evaluate_run,
    parse_metrics,
)
from smart_plugins.evaluation.retrieval import CandidateScores, score_candidates
from smart_plugins.evaluation.runner import EvalConfig, run_evaluation
from smart_plugins.evaluation.toy import make_toy_task, write_toy_task
from smart_plugins.evaluation.tuning import (
    TunedWeights,
    parse_lambdas,
    sweep,
    tune_weights,
)

__all__ = [
    "DEFAULT_METRICS",
    "BeirDataset",
    "CandidateScores",
    "EncodedCache",
    "EvalConfig",
    "TunedWeights",
    "bm25_run",
    "evaluate_run",
    "fuse",
    "load_beir",
    "make_toy_task",
    "parse_lambdas",
    "parse_metrics",
    "run_evaluation",
    "score_candidates",
    "sweep",
    "tune_weights",
    "write_toy_task",
]
