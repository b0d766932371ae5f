"""``smart-plugins index compact DIR [--min-deleted-share X] [--json]``, run in-process."""

from __future__ import annotations

import json

from smart_plugins.cli.main import main
import pytest

from smart_plugins.index import SmartIndex

IDS = ["red-star", "blue-moon", "green-apple", "py-lib", "perl-doc", "java-rt", "rust-tool", "srv"]
TEXTS = ["red star marker labels", "blue moon code module", "green apple banana text", "python library files",
         "perl documentation data", "java runtime shared library", "rust command line tool", "server client index"]


@pytest.fixture()
def corpus():
    return IDS, TEXTS, [{"n": i} for i in range(len(IDS))]


def _build(tmp_path, tiny_encoder, corpus):
    ids, texts, metas = corpus
    folder = tmp_path / "idx"
    with SmartIndex.create(folder, tiny_encoder, compression="int8") as index:
        index.add(texts[:4], ids=ids[:4], metadata=metas[:4])
        index.add(texts[4:], ids=ids[4:], metadata=metas[4:])
    return folder


def test_compact_command(tmp_path, tiny_encoder, corpus, capsys):
    folder = _build(tmp_path, tiny_encoder, corpus)
    assert main(["index", "compact", str(folder)]) == 0
    assert "nothing to compact" in capsys.readouterr().out

    assert main(["index", "delete", str(folder), "red-star", "blue-moon", "srv"]) == 0
    capsys.readouterr()
    assert main(["index", "compact", str(folder), "--min-deleted-share", "0.4", "--json"]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["committed"] and summary["segments_rewritten"] == 1 and summary["documents_dropped"] == 2
    assert summary["bytes_after"] < summary["bytes_before"]

    assert main(["index", "compact", str(folder)]) == 0
    out = capsys.readouterr().out
    assert "compacted 1 of 2 segments" in out and "dropped 1 deleted documents" in out

    with SmartIndex.open(folder, tiny_encoder, read_only=True) as index:
        assert index.info()["deleted_documents"] == 0
        assert index.ids() == ["green-apple", "py-lib", "perl-doc", "java-rt", "rust-tool"]


def test_compact_command_rejects_a_bad_share(tmp_path, tiny_encoder, corpus, capsys):
    folder = _build(tmp_path, tiny_encoder, corpus)
    assert main(["index", "compact", str(folder), "--min-deleted-share", "2"]) != 0
    assert "min_deleted_share must be in [0, 1]" in capsys.readouterr().err
    assert main(["index", "compact", str(tmp_path / "missing")]) != 0
    assert "no SMART index" in capsys.readouterr().err
