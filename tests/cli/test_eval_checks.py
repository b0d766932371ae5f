"""``smart-plugins eval`` checks the dataset folder and split before it loads a model."""

from __future__ import annotations

from pathlib import Path

import pytest

from smart_plugins.cli.main import main


@pytest.fixture()
def no_model_loading(monkeypatch):
    from smart_plugins.encoder import SmartEncoder

    def refuse(*args, **kwargs):
        raise AssertionError("the model was loaded before the dataset was checked")

    monkeypatch.setattr(SmartEncoder, "__init__", refuse)


def test_missing_folder_is_reported_before_the_model_loads(tmp_path, no_model_loading, capsys):
    assert main(["eval", str(tmp_path / "nowhere"), "--modes", "pooled", "--quiet"]) == 1
    assert "dataset folder" in capsys.readouterr().err


def test_missing_split_is_reported_before_the_model_loads(tmp_path, no_model_loading, capsys):
    (tmp_path / "qrels").mkdir()
    for name in ("corpus.jsonl", "queries.jsonl", "qrels/train.tsv"):
        (tmp_path / name).write_text("")
    assert main(["eval", str(tmp_path), "--modes", "pooled", "--quiet"]) == 1
    assert "has no qrels/test.tsv (available splits: train)" in capsys.readouterr().err


TINY_BEIR = Path(__file__).parents[1] / "evaluation" / "data" / "tiny-beir"


@pytest.mark.parametrize(("argv", "quiet"), [(["--quiet", "eval", "d"], True), (["eval", "d", "--quiet"], True),
                                             (["eval", "d"], False)])
def test_the_global_quiet_reaches_eval(argv, quiet):
    from smart_plugins.cli.main import build_parser

    assert build_parser("eval").parse_args(argv).quiet is quiet


@pytest.mark.parametrize(("flag", "bars"), [("--quiet", False), ("--progress", True)])
def test_eval_progress_follows_the_global_flags(tmp_path, tiny_model_dir, capfd, flag, bars):
    argv = [flag, "eval", str(TINY_BEIR), "--model", str(tiny_model_dir), "--modes", "late", "--k", "5",
            "--json", str(tmp_path / "r.json"), "--no-cache", "--device", "cpu"]
    assert main(argv) == 0
    assert ("MaxSim" in capfd.readouterr().err) is bars
