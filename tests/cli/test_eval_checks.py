"""``smart-plugins eval`` checks the dataset folder and split before it loads a model."""

from __future__ import annotations

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
