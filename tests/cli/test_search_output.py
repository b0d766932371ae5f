"""``smart-plugins search``: ranks are 1-based in the text and the --json output alike."""

from __future__ import annotations

import json

from smart_plugins.cli.main import main
from smart_plugins.index import SmartIndex

TEXTS = ["red star marker labels", "blue moon code module", "green apple banana text"]


def test_ranks_are_one_based_everywhere(tmp_path, tiny_encoder, capsys):
    folder = tmp_path / "idx"
    with SmartIndex.create(folder, tiny_encoder, compression="fp16") as index:
        index.add(TEXTS, ids=["red", "blue", "green"])
        assert [h.rank for h in index.search("red star", k=3)] == [1, 2, 3]
    assert main(["search", str(folder), "red star", "-k", "3", "--json"]) == 0
    assert [h["rank"] for h in json.loads(capsys.readouterr().out)["hits"]] == [1, 2, 3]
    assert main(["search", str(folder), "red star", "-k", "3"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert [line.split(".")[0].strip() for line in lines] == ["1", "2", "3"]
