"""Retrieval metrics through ir-measures (pytrec_eval underneath): no hand-rolled formulas."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import ir_measures

#: Report name -> ir-measures measure string.
DEFAULT_METRICS: dict[str, str] = {
    "ndcg@10": "nDCG@10",
    "recall@10": "R@10",
    "recall@100": "R@100",
    "mrr@10": "RR@10",
}
#: Extra names a user may ask for with ``--metrics``.
KNOWN_METRICS: dict[str, str] = {
    **DEFAULT_METRICS,
    "ndcg@100": "nDCG@100",
    "recall@1": "R@1",
    "recall@5": "R@5",
    "recall@1000": "R@1000",
    "mrr@100": "RR@100",
    "map@100": "AP@100",
    "success@1": "Success@1",
    "p@1": "P@1",
}

Run = Mapping[str, Mapping[str, float]]
Qrels = Mapping[str, Mapping[str, int]]


def parse_metrics(names: Sequence[str] | str | None) -> dict[str, str]:
    """Report names (``"ndcg@10"``, ``"recall@200"``, ...) -> ir-measures strings.

    Names not in :data:`KNOWN_METRICS` of the form ``recall@K`` / ``ndcg@K`` / ``mrr@K`` are built.

    Examples
    --------
    >>> parse_metrics("ndcg@10,recall@200")
    {'ndcg@10': 'nDCG@10', 'recall@200': 'R@200'}
    """
    if names is None:
        return dict(DEFAULT_METRICS)
    if isinstance(names, str):
        names = [n for n in names.split(",") if n.strip()]
    out: dict[str, str] = {}
    families = {"ndcg": "nDCG", "recall": "R", "mrr": "RR", "map": "AP", "p": "P", "success": "Success"}
    for raw in names:
        name = raw.strip().lower()
        if name in KNOWN_METRICS:
            out[name] = KNOWN_METRICS[name]
            continue
        family, _, cutoff = name.partition("@")
        if family not in families or not cutoff.isdigit() or int(cutoff) <= 0:
            raise ValueError(f"unknown metric {raw!r}; use e.g. {', '.join(DEFAULT_METRICS)} or recall@K")
        out[name] = f"{families[family]}@{int(cutoff)}"
    return out


def evaluate_run(run: Run, qrels: Qrels, metrics: Mapping[str, str] | None = None) -> dict[str, float]:
    """Mean of each metric over the judged queries (queries missing from ``run`` score 0).

    Examples
    --------
    >>> qrels = {"q1": {"d1": 1}, "q2": {"d2": 1}}
    >>> run = {"q1": {"d1": 2.0, "d2": 1.0}, "q2": {"d1": 2.0, "d2": 1.0}}
    >>> evaluate_run(run, qrels, {"mrr@10": "RR@10"})
    {'mrr@10': 0.75}
    """
    metrics = dict(metrics or DEFAULT_METRICS)
    measures = {name: ir_measures.parse_measure(spec) for name, spec in metrics.items()}
    totals = {name: 0.0 for name in metrics}
    by_measure = {measure: name for name, measure in measures.items()}
    for metric in ir_measures.iter_calc(list(measures.values()), _qrels_dict(qrels), _run_dict(run)):
        totals[by_measure[metric.measure]] += float(metric.value)
    n = len(qrels)
    return {name: (totals[name] / n if n else 0.0) for name in metrics}


def per_query(run: Run, qrels: Qrels, metric: str = "nDCG@10") -> dict[str, float]:
    """One metric per judged query (0 for queries the run leaves out)."""
    measure = ir_measures.parse_measure(metric)
    values = {q: 0.0 for q in qrels}
    for row in ir_measures.iter_calc([measure], _qrels_dict(qrels), _run_dict(run)):
        values[row.query_id] = float(row.value)
    return values


def _qrels_dict(qrels: Qrels) -> dict[str, dict[str, int]]:
    return {str(q): {str(d): int(r) for d, r in docs.items()} for q, docs in qrels.items()}


def _run_dict(run: Run) -> dict[str, dict[str, float]]:
    return {str(q): {str(d): float(s) for d, s in docs.items()} for q, docs in run.items()}
