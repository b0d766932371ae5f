"""Long index phases (codec training, segment writing, HNSW graph build) report progress; --quiet silences them."""

from __future__ import annotations

import io
import json
from contextlib import redirect_stderr

import pytest

from smart_plugins.cli.main import main

PHASES = ("Training the residual-4 codec", "Writing segments", "Building the HNSW graph")


@pytest.fixture
def corpus(tmp_path):
    words = "red star marker labels blue moon code module green apple banana text python library files".split()
    path = tmp_path / "c.jsonl"
    path.write_text("".join(
        json.dumps({"_id": f"d{i}", "text": " ".join(words[(i + j) % len(words)] for j in range(12))}) + "\n"
        for i in range(60)
    ))
    return path


def _build(tmp_path, tiny_model_dir, corpus, name, *flags):
    return main([*flags, "index", "build", str(tmp_path / name), "--model", str(tiny_model_dir), "--corpus",
                 str(corpus), "--compression", "residual-4", "--first-stage", "hnsw"])


def test_progress_names_every_long_phase(tmp_path, tiny_model_dir, corpus, capfd):
    assert _build(tmp_path, tiny_model_dir, corpus, "loud", "--progress") == 0
    err = capfd.readouterr().err
    for name in PHASES:
        assert name in err
    assert "60/60" in err  # documents written and vectors added to the graph are counted


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_a_terminal_shows_the_phases_and_quiet_silences_them(tmp_path, tiny_model_dir, corpus):
    shown, quiet = Terminal(), Terminal()
    with redirect_stderr(shown):
        assert _build(tmp_path, tiny_model_dir, corpus, "terminal") == 0
    with redirect_stderr(quiet):
        assert _build(tmp_path, tiny_model_dir, corpus, "quiet", "--quiet") == 0
    assert all(name in shown.getvalue() for name in PHASES)
    assert quiet.getvalue() == ""


def test_no_bars_when_stderr_is_not_a_terminal_unless_asked(tmp_path, tiny_model_dir, corpus, capfd):
    assert _build(tmp_path, tiny_model_dir, corpus, "piped") == 0
    err = capfd.readouterr().err
    assert not any(name in err for name in (*PHASES, "Indexing"))


def test_quiet_and_progress_conflict(capsys):
    with pytest.raises(SystemExit):
        main(["--quiet", "--progress", "index", "info", "x"])
    assert "pass --quiet or --progress, not both" in capsys.readouterr().err
