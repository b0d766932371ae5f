"""benchmarks/maxsim_compare.py times two kernels on tiny sizes (no timing asserted)."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "benchmarks" / "maxsim_compare.py"


def _script():
    spec = importlib.util.spec_from_file_location("maxsim_compare", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_compares_a_kernel_file_with_this_checkout() -> None:
    kernel = ROOT / "smart_plugins" / "scoring" / "maxsim.py"
    results = _script().main([str(kernel), "--scenarios", "1x4x3,2x8x2", "--rounds", "3", "--threads", "1"])
    for label in ("fp32", "bf16"):
        assert all(results[s][f"{who} {label}"] > 0 for s in ("1x4x3", "2x8x2") for who in ("old", "new", "q @ d.T", "d @ q.T"))


def test_refuses_a_kernel_that_scores_differently(tmp_path: Path) -> None:
    wrong = tmp_path / "maxsim_wrong.py"
    wrong.write_text(
        "from smart_plugins.scoring import maxsim as _right\n"
        "def maxsim(*args, **kwargs):\n"
        "    return _right(*args, **kwargs) + 0.01\n"
    )
    with pytest.raises(SystemExit, match="disagree"):
        _script().main([str(wrong), "--scenarios", "1x4x3", "--rounds", "3", "--threads", "1"])
