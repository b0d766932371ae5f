"""benchmarks/maxsim_rerank_breakdown.py times every part of a rerank on tiny sizes (no timing asserted)."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[2] / "benchmarks" / "maxsim_rerank_breakdown.py"


def _script():
    spec = importlib.util.spec_from_file_location("maxsim_rerank_breakdown", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize("query_tokens", ["3", "20"])  # the kernel's two product orientations
def test_breakdown_reports_every_part_and_the_remainder(query_tokens: str) -> None:
    result = _script().main(
        ["--docs", "6", "--doc-tokens", "12", "--query-tokens", query_tokens, "--dim", "8", "--threads", "1", "--calls", "3"]
    )
    parts = ("product into a fresh buffer", "segmented max (reduceat)", "offset checks (query + docs)",
             "NaN check of the scores", "query mean")
    assert all(result[p] > 0 for p in (*parts, "whole maxsim call", "plain q @ d.T", "plain d @ q.T"))
    assert result["not accounted"] == result["whole maxsim call"] - sum(result[p] for p in parts)
    in_sequence = [f"in sequence: {step}" for step in ("checks", "product", "reduceat", "mean", "NaN check", "all steps")]
    assert all(result[name] > 0 for name in (*in_sequence, "product + reduceat only"))


def test_reduction_widths_times_both_reductions_at_every_width() -> None:
    result = _script().main(["--docs", "6", "--doc-tokens", "12", "--dim", "8", "--calls", "3", "--reduction-widths"])
    widths = (8, 16, 32, 64, 128, 256, 512)
    assert all(result[f"reduceat width {w}"] > 0 and result[f"_segment_max width {w}"] > 0 for w in widths)
