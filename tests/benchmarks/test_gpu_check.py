"""benchmarks/gpu_check.py runs end to end on the CPU with tiny sizes (the GPU run uses the same code)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[2] / "benchmarks" / "gpu_check.py"


@pytest.mark.slow
def test_gpu_check_runs_on_cpu_with_tiny_sizes(tmp_path: Path, tiny_model_dir: Path) -> None:
    pytest.importorskip("sentence_transformers")
    out = tmp_path / "check.json"
    args = [sys.executable, str(SCRIPT), "--device", "cpu", "--model", str(tiny_model_dir), "--texts", "6", "--batch-size", "4",
            "--rerank-docs", "5", "--batch-queries", "2", "--batch-docs", "7", "--doc-tokens", "9", "--query-tokens", "3",
            "--dim", "8", "--rounds", "1", "--out", str(out)]
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1"}
    done = subprocess.run(args, capture_output=True, text=True, env=env, timeout=600)
    assert done.returncode == 0, done.stderr[-2000:]
    report = json.loads(out.read_text())
    assert report["device"] == "cpu"
    assert set(report["encode"]["rows"]) == {f"{who}.encode {dt}" for who in ("SentenceTransformer", "SmartEncoder")
                                             for dt in ("fp32", "bf16", "autocast-bf16")}
    assert report["encode"]["checks"]["pooled max |diff| SmartEncoder vs ST autocast-bf16"] < 1e-2
    assert report["encode"]["checks"]["pooled max |diff| SmartEncoder vs ST fp32"] < 1e-5
    scenarios = {s["scenario"]: s for s in report["maxsim"]}
    assert (scenarios["rerank"]["queries"], scenarios["rerank"]["docs"]) == (1, 5)
    assert (scenarios["batch"]["queries"], scenarios["batch"]["docs"]) == (2, 7)
    assert scenarios["batch"]["max_abs_diff_vs_st"]["fp32"] < 1e-5
    assert all(row["median_ms"] > 0 for s in scenarios.values() for row in s["rows"].values())
    assert "| maxsim batch 2x7 | smart-plugins maxsim bf16 |" in done.stdout


def test_gpu_check_skip_maxsim_times_encoding_only(tmp_path: Path, tiny_model_dir: Path) -> None:
    out = tmp_path / "check.json"
    args = [sys.executable, str(SCRIPT), "--device", "cpu", "--model", str(tiny_model_dir), "--texts", "4", "--batch-size", "4",
            "--rounds", "1", "--skip-maxsim", "--out", str(out)]
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1"}
    done = subprocess.run(args, capture_output=True, text=True, env=env, timeout=600)
    assert done.returncode == 0, done.stderr[-2000:]
    report = json.loads(out.read_text())
    assert report["maxsim"] == [] and report["encode"]["rows"]


def test_gpu_check_refuses_cuda_without_a_gpu(tmp_path: Path) -> None:
    torch = pytest.importorskip("torch")
    if torch.cuda.is_available():
        pytest.skip("a GPU is visible")
    done = subprocess.run([sys.executable, str(SCRIPT), "--device", "cuda", "--out", str(tmp_path / "x.json")],
                          capture_output=True, text=True, timeout=300)
    assert done.returncode != 0 and "no CUDA device is visible" in done.stderr
