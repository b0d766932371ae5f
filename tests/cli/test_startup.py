"""The CLI loads only what a command needs: --help and index info/delete/compact import no model library,
and neither torch nor faiss (a residual index with a saved HNSW graph needs neither to be read or maintained)."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from smart_plugins.cli import index_command
from smart_plugins.cli.main import COMMANDS, build_parser, main

HEAVY = ("transformers", "sentence_transformers")
PROBE = """
import json, sys
from smart_plugins.cli.main import main
try:
    code = main({argv!r})
except SystemExit as stop:  # --help exits
    code = stop.code
print(json.dumps({{"code": code, "loaded": [m for m in {heavy!r} if m in sys.modules], "torch": "torch" in sys.modules,
                  "faiss": "faiss" in sys.modules}}))
"""


def _probe(argv):
    env = {**os.environ, "HF_HUB_OFFLINE": "1"}
    out = subprocess.run([sys.executable, "-c", PROBE.format(argv=argv, heavy=HEAVY)], capture_output=True, text=True,
                         env=env, check=True).stdout.strip().splitlines()[-1]
    return json.loads(out)


@pytest.fixture(scope="module")
def index_folder(tmp_path_factory, tiny_encoder):
    from smart_plugins.index import SmartIndex

    folder = tmp_path_factory.mktemp("startup") / "idx"
    with SmartIndex.create(folder, tiny_encoder, compression="residual-2", first_stage="hnsw") as index:
        index.add(["red star", "blue moon", "green apple", "yellow sun"], ids=["r", "b", "g", "y"])
        index.build_first_stage()
    return folder


def test_help_imports_no_torch():
    result = _probe(["--help"])
    assert result["code"] == 0 and result["loaded"] == [] and result["torch"] is False


@pytest.mark.parametrize("argv", [["index", "info", "{folder}"], ["index", "compact", "{folder}"],
                                  ["index", "delete", "{folder}", "g"]])
def test_commands_without_a_model_import_no_model_library(index_folder, argv):
    result = _probe([a.format(folder=index_folder) for a in argv])
    assert result["code"] == 0 and result["loaded"] == []
    assert result["torch"] is False and result["faiss"] is False


def test_cli_codec_names_match_the_index():
    from smart_plugins.index import CODEC_NAMES, DEFAULT_COMPRESSION

    assert index_command.CODEC_NAMES == CODEC_NAMES and index_command.DEFAULT_COMPRESSION == DEFAULT_COMPRESSION


def test_every_listed_command_is_registered_by_its_module():
    full = build_parser()
    sub = next(a for a in full._actions if a.dest == "command")
    for name, (_, help_text) in COMMANDS.items():
        assert name in sub.choices
        assert next(c.help for c in sub._choices_actions if c.dest == name) == help_text


def test_quiet_silences_progress_bars_and_restores_them(tmp_path, tiny_model_dir, capfd):
    import os

    from transformers.utils import logging as hf_logging

    hf_logging.enable_progress_bar()
    corpus = tmp_path / "c.jsonl"
    corpus.write_text("".join(json.dumps({"_id": f"d{i}", "text": f"red star {i}"}) + "\n" for i in range(5)))
    args = ["index", "build", str(tmp_path / "loud"), "--model", str(tiny_model_dir), "--corpus", str(corpus),
            "--compression", "fp16"]
    assert main(["--progress", *args]) == 0
    assert "Loading weights" in capfd.readouterr().err  # transformers' bar while the model loads
    before = {name: os.environ.get(name) for name in ("TQDM_DISABLE", "HF_HUB_DISABLE_PROGRESS_BARS")}
    assert main(["--quiet", *args[:2], str(tmp_path / "quiet"), *args[3:]]) == 0
    err = capfd.readouterr().err
    assert "it/s" not in err and "Loading" not in err
    # nothing leaks into the calling process
    assert hf_logging.is_progress_bar_enabled()
    assert {name: os.environ.get(name) for name in before} == before


def test_default_run_on_a_non_terminal_hides_third_party_bars_too(tmp_path, tiny_model_dir, capfd):
    """Standard error captured (not a terminal), no flag: no bar of ours and no "Loading weights" from
    transformers, as --quiet; the calling process's transformers setting is left as it was."""
    from transformers.utils import logging as hf_logging

    hf_logging.enable_progress_bar()
    corpus = tmp_path / "c.jsonl"
    corpus.write_text("".join(json.dumps({"_id": f"d{i}", "text": f"red star {i}"}) + "\n" for i in range(5)))
    assert main(["index", "build", str(tmp_path / "default"), "--model", str(tiny_model_dir), "--corpus", str(corpus),
                 "--compression", "fp16"]) == 0
    err = capfd.readouterr().err
    assert "Loading weights" not in err and "it/s" not in err
    assert hf_logging.is_progress_bar_enabled()


def test_truncation_flag_reaches_the_encoder_and_warnings_name_the_flag(tmp_path, tiny_model_dir, capsys):
    corpus = tmp_path / "c.jsonl"
    long_text = " ".join(["red star marker labels"] * 40)  # the tiny model keeps 64 tokens
    corpus.write_text(json.dumps({"_id": "long", "text": long_text}) + "\n")
    base = ["index", "build", "--model", str(tiny_model_dir), "--corpus", str(corpus), "--compression", "fp16"]
    assert main([*base[:2], str(tmp_path / "warn"), *base[2:]]) == 0
    err = capsys.readouterr().err
    assert "pass --truncation chunk" in err and "truncation='chunk'" not in err
    assert main([*base[:2], str(tmp_path / "chunk"), *base[2:], "--truncation", "chunk"]) == 0
    assert "truncated" not in capsys.readouterr().err
    from smart_plugins.index import SmartIndex

    with SmartIndex.open(tmp_path / "warn", None) as warned, SmartIndex.open(tmp_path / "chunk", None) as chunked:
        assert chunked.info()["tokens"] > warned.info()["tokens"]

