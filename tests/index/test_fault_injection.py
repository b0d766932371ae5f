"""The audit's fault injection: a writer dies at each fsync and each rename of every write path.

For each write path (add that trains the codec, add, upsert, delete, compact, set_first_stage,
HNSW graph save) a clean run counts its ``os.fsync`` and ``os.replace`` calls; then, for every
one of them, a fresh copy of the index is written to again and the writer dies right at that
call: the call raises an exception no library code catches, and from then on nothing is cleaned
up (unlink/rmtree do nothing), as after ``kill -9``. A new ``SmartIndex`` (as a restarted
process would) must then read exactly the last commit: the state before the write, or the
state a clean run committed, with every file's checksum verified, and accept the next write.
``test_crash.py`` and ``test_compact_crash.py`` kill real processes at chosen moments.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

import smart_plugins.index.smart_index as smart_index
from smart_plugins.index import SmartIndex
from smart_plugins.scoring import ScoreWeights

QUERIES = ["red star marker", "java runtime library"]


class WriterKilled(BaseException):
    """Raised at the chosen I/O call; a BaseException so no ``except Exception`` swallows it."""


class Killer:
    """Counts fsync/replace calls and "kills" the writer at call ``at`` (None: never)."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch, at: int | None) -> None:
        self.at, self.calls, self.dead = at, 0, False
        real_fsync, real_replace = os.fsync, os.replace

        def hit(real):
            def call(*args, **kwargs):
                if self.dead:
                    raise WriterKilled("already dead")
                self.calls += 1
                if self.calls == self.at:
                    self.dead = True
                    raise WriterKilled(f"killed at I/O call {self.at}")
                return real(*args, **kwargs)
            return call

        def unless_dead(real):
            def call(*args, **kwargs):
                return None if self.dead else real(*args, **kwargs)
            return call

        monkeypatch.setattr(os, "fsync", hit(real_fsync))
        monkeypatch.setattr(os, "replace", hit(real_replace))
        # a killed process cleans nothing up: leftovers stay for the next writer to collect
        monkeypatch.setattr(os, "unlink", unless_dead(os.unlink))
        monkeypatch.setattr(os, "remove", unless_dead(os.remove))
        monkeypatch.setattr(Path, "unlink", unless_dead(Path.unlink))
        monkeypatch.setattr(shutil, "rmtree", unless_dead(shutil.rmtree))


def snapshot(path: Path, encoder) -> dict:
    """Everything a reader sees, read by a fresh object with every checksum verified."""
    with SmartIndex.open(path, encoder, verify=True, read_only=True) as index:
        ids = index.ids()
        return {
            "version": index.version,
            "ids": ids,
            "docs": index.get(ids),
            "hits": [[(h.id, h.score) for h in hits] for hits in index.search(QUERIES, k=10)],
            "deleted": index.info()["deleted_documents"],
            "weights": index.weights,
            "first_stage": index.info()["first_stage"],
        }


WRITES = {
    "add (trains the codec)": ("empty", lambda ix: ix.add([f"red star marker {i}" for i in range(3)], ids=[f"n{i}" for i in range(3)],
                                                          metadata=[{"i": i} for i in range(3)])),
    "add": ("full", lambda ix: ix.add(["java runtime library", "rust tool", "perl data"], ids=["x", "y", "z"])),
    "upsert": ("full", lambda ix: ix.upsert(["blue moon again", "new green text"], ids=["b", "new"])),
    "delete": ("full", lambda ix: ix.delete(["a", "c"])),
    "compact": ("full", lambda ix: ix.compact()),
    "set_first_stage": ("full", lambda ix: ix.set_first_stage("hnsw", {"m": 8})),
    "set_weights": ("full", lambda ix: ix.set_weights(ScoreWeights(0.5, 1))),
    "HNSW graph save": ("hnsw", lambda ix: ix.build_first_stage()),
}


@pytest.fixture(scope="module")
def templates(tmp_path_factory, tiny_encoder):
    root = tmp_path_factory.mktemp("fault-templates")
    mp = pytest.MonkeyPatch()
    mp.setattr(smart_index, "SEGMENT_DOCS", 2)  # several segments per write: more I/O calls to die at
    try:
        with SmartIndex.create(root / "empty", tiny_encoder, compression="residual-2"):
            pass
        with SmartIndex.create(root / "full", tiny_encoder, compression="residual-2") as index:
            index.add(["red star marker", "blue moon code", "green apple", "python library files", "server client"],
                      ids=["a", "b", "c", "d", "e"], metadata=[{"n": n} for n in range(5)])
            index.delete("d")
        shutil.copytree(root / "full", root / "hnsw")
        with SmartIndex.open(root / "hnsw", tiny_encoder) as index:
            index.set_first_stage("hnsw", {"m": 8})
    finally:
        mp.undo()
    return root


@pytest.mark.parametrize("write", list(WRITES))
def test_a_writer_killed_at_any_fsync_or_rename_leaves_exactly_the_last_commit(templates, tmp_path, tiny_encoder, monkeypatch, write):
    template, run = WRITES[write]
    monkeypatch.setattr(smart_index, "SEGMENT_DOCS", 2)
    before = snapshot(templates / template, tiny_encoder)

    clean = tmp_path / "clean"
    shutil.copytree(templates / template, clean)
    with monkeypatch.context() as m:
        counter = Killer(m, at=None)
        with SmartIndex.open(clean, tiny_encoder) as index:
            run(index)
    n_calls = counter.calls
    after = snapshot(clean, tiny_encoder)
    assert n_calls >= 3, f"{write} made only {n_calls} fsync/rename calls"

    outcomes = set()
    for at in range(1, n_calls + 1):
        path = tmp_path / f"kill-{at}"
        shutil.copytree(templates / template, path)
        with monkeypatch.context() as m:
            Killer(m, at=at)
            index = SmartIndex.open(path, tiny_encoder)
            with pytest.raises(WriterKilled):
                run(index)
            # the killed writer's object is abandoned, as its process would be
        state = snapshot(path, tiny_encoder)
        expected = after if state["version"] == after["version"] else before
        assert state == expected, f"{write}: killed at I/O call {at} of {n_calls}"
        outcomes.add(state["version"])
        with SmartIndex.open(path, tiny_encoder) as index:  # the next writer collects what was left
            index.set_weights(ScoreWeights(1, 0.5))
            live = {e["name"] for e in index._manifest["segments"]}
            assert {p.name for p in (path / "segments").iterdir()} == live
            assert not list(path.glob(".*.tmp"))
        shutil.rmtree(path)
    if after["version"] != before["version"]:
        assert outcomes == {before["version"], after["version"]}  # kills fell before and after the switch
