"""Normal runs print no third-party noise (faiss k-means warnings on a small index)."""

from __future__ import annotations

import json

import pytest

from smart_plugins.cli.main import main


def test_small_residual_index_builds_without_faiss_warnings(tmp_path, tiny_model_dir, capfd):
    corpus = tmp_path / "c.jsonl"
    words = "red star marker labels blue moon code module green apple banana text python library files".split()
    corpus.write_text("".join(
        json.dumps({"_id": f"d{i}", "text": " ".join(words[(i + j) % len(words)] for j in range(12))}) + "\n"
        for i in range(120)
    ))
    assert main(["--quiet", "index", "build", str(tmp_path / "idx"), "--model", str(tiny_model_dir), "--corpus",
                 str(corpus), "--compression", "residual-4"]) == 0
    err = capfd.readouterr().err
    assert "please provide at least" not in err and "WARNING clustering" not in err


@pytest.mark.slow  # two fresh interpreters, each importing torch and building an index
def test_verbose_build_logs_no_faiss_loader_chatter(tmp_path, tiny_model_dir):
    """-v shows INFO logs; faiss's "Loading faiss with AVX512 support" / "Could not load library" lines need -vv.

    Runs in a fresh interpreter: faiss logs them once, when it is first imported."""
    import os
    import subprocess
    import sys

    corpus = tmp_path / "c.jsonl"
    corpus.write_text("".join(json.dumps({"_id": f"d{i}", "text": f"red star marker {i}"}) + "\n" for i in range(40)))
    base = ["index", "build", "--model", str(tiny_model_dir), "--corpus", str(corpus), "--compression", "residual-2",
            "--first-stage", "hnsw"]
    code = "import sys; from smart_plugins.cli.main import main; sys.exit(main(sys.argv[1:]))"
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1"}
    runs = {}
    for flag in ("-v", "-vv"):
        argv = [flag, *base[:2], str(tmp_path / flag), *base[2:]]
        done = subprocess.run([sys.executable, "-c", code, *argv], capture_output=True, text=True, env=env)
        assert done.returncode == 0, done.stderr[-2000:]
        runs[flag] = done.stderr
    assert "Loading faiss" not in runs["-v"] and "Could not load library" not in runs["-v"]
    assert "Loading faiss" in runs["-vv"]  # still there for whoever asks for debug logs
