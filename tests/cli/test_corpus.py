"""Corpus files of ``index build|add``: bad rows are reported by line, a failed build leaves nothing behind."""

from __future__ import annotations

import json

import pytest

from smart_plugins.cli.corpus import read_corpus, scan_corpus
from smart_plugins.cli.main import main
from smart_plugins.index import SmartIndex

GOOD = [{"_id": f"d{i}", "text": t} for i, t in enumerate(["red star marker", "blue moon code", "green apple text"])]


def _write(path, rows):
    path.write_text("".join((r if isinstance(r, str) else json.dumps(r)) + "\n" for r in rows))
    return path


@pytest.mark.parametrize(
    ("row", "message"),
    [
        ({"_id": "x", "text": None}, ":2: 'text' must be a string, got null"),
        ({"_id": "x", "text": 3}, ":2: 'text' must be a string, got a number (3)"),
        ({"_id": "x", "text": ["a", "b"]}, ":2: 'text' must be a string, got a list"),
        ({"_id": None, "text": "a"}, ":2: '_id' must be a non-empty string or an integer, got null"),
        ({"id": ["a"], "text": "a"}, ":2: 'id' must be a non-empty string or an integer, got a list"),
        ({"_id": "x", "text": "a", "title": 5}, ":2: 'title' must be a string or null, got a number (5)"),
        ('["a", "b"]', ":2: each line must be a JSON object, got a list"),
        ('{"_id": "x", "text": ', ":2 is not valid JSON"),
    ],
)
def test_bad_rows_name_the_line(tmp_path, row, message):
    path = _write(tmp_path / "c.jsonl", [GOOD[0], row])
    with pytest.raises(ValueError) as info:
        list(read_corpus(path))
    assert message in str(info.value) and str(path) in str(info.value)


def test_integer_ids_are_kept_as_text(tmp_path):
    path = _write(tmp_path / "c.jsonl", [{"id": 12, "text": "a", "title": None}])
    assert list(read_corpus(path)) == [("12", "a", {})]


def test_scan_counts_duplicates(tmp_path):
    rows = [*GOOD, *GOOD[:2], GOOD[0]]
    scan = scan_corpus(_write(tmp_path / "c.jsonl", rows))
    assert scan.documents == 6 and scan.duplicates == {"d0": 3, "d1": 2}
    with pytest.raises(ValueError, match=r"2 id\(s\) appear more than once: 'd0', 'd1'"):
        scan.check_unique("c.jsonl")


def test_null_text_is_refused_by_build_and_nothing_is_left(tmp_path, tiny_model_dir, capsys):
    corpus = _write(tmp_path / "c.jsonl", [GOOD[0], {"_id": "x", "text": None}])
    folder = tmp_path / "idx"
    assert main(["index", "build", str(folder), "--model", str(tiny_model_dir), "--corpus", str(corpus)]) == 1
    assert "c.jsonl:2: 'text' must be a string, got null" in capsys.readouterr().err
    assert not folder.exists()


def test_failed_build_can_be_retried(tmp_path, tiny_model_dir, capsys):
    """Bad JSON on line 2 used to leave an empty index, so the retried build failed with 'already exists'."""
    corpus = _write(tmp_path / "c.jsonl", [GOOD[0], '{"_id": "x", "text": ', GOOD[2]])
    folder = tmp_path / "idx"
    args = ["index", "build", str(folder), "--model", str(tiny_model_dir), "--corpus", str(corpus), "--compression", "fp16"]
    assert main(args) == 1
    assert "c.jsonl:2 is not valid JSON" in capsys.readouterr().err
    _write(corpus, GOOD)
    assert main(args) == 0
    with SmartIndex.open(folder, None) as index:
        assert sorted(index.ids()) == ["d0", "d1", "d2"]


def test_build_that_fails_while_indexing_removes_its_folder(tmp_path, tiny_model_dir, capsys):
    """A failure after the index was created (here: an unknown codec option at the first commit) cleans up."""
    corpus = _write(tmp_path / "c.jsonl", GOOD)
    empty = tmp_path / "given"
    empty.mkdir()
    args = ["index", "build", str(empty), "--model", str(tiny_model_dir), "--corpus", str(corpus),
            "--compression", "fp16", "--weights", "1:1", "--chunk", "0"]
    assert main(args) == 1
    err = capsys.readouterr().err
    assert "--chunk must be positive" in err and "removed the incomplete index" in err
    assert empty.is_dir() and not any(empty.iterdir())  # the user's folder stays, emptied again


def test_duplicate_ids_in_add_are_reported_before_encoding(tmp_path, tiny_model_dir, capsys):
    folder = tmp_path / "idx"
    corpus = _write(tmp_path / "c.jsonl", GOOD)
    assert main(["index", "build", str(folder), "--model", str(tiny_model_dir), "--corpus", str(corpus),
                 "--compression", "fp16"]) == 0
    capsys.readouterr()
    more = _write(tmp_path / "more.jsonl", [{"_id": f"n{i}", "text": "apple"} for i in range(3)] * 2)
    assert main(["index", "add", str(folder), "--corpus", str(more)]) == 1
    assert "3 id(s) appear more than once: 'n0', 'n1', 'n2'" in capsys.readouterr().err
    taken = _write(tmp_path / "taken.jsonl", [*GOOD, {"_id": "new", "text": "banana"}])
    assert main(["index", "add", str(folder), "--corpus", str(taken)]) == 1
    err = capsys.readouterr().err
    assert "3 id(s) of the corpus are already in the index: 'd0', 'd1', 'd2'; pass --upsert" in err
    with SmartIndex.open(folder, None) as index:
        assert len(index) == 3 and index.version == 1


def test_build_over_an_index_gives_cli_advice(tmp_path, tiny_model_dir, capsys):
    corpus = _write(tmp_path / "c.jsonl", GOOD)
    args = ["index", "build", str(tmp_path / "idx"), "--model", str(tiny_model_dir), "--corpus", str(corpus),
            "--compression", "fp16"]
    assert main(args) == 0
    assert main(args) == 1
    err = capsys.readouterr().err
    assert "smart-plugins index add" in err and "exist_ok" not in err
    assert (tmp_path / "idx" / "manifest.json").exists()  # the existing index is untouched
