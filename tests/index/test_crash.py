"""kill -9 a writer process in the middle of an add: the reopened index is the last commit."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from smart_plugins.index import SmartIndex

CHILD = textwrap.dedent(
    """
    import sys, time
    import smart_plugins.index.segment as segment
    import smart_plugins.index.smart_index as smart_index
    from smart_plugins.index import SmartIndex

    path, model, mode = sys.argv[1:4]
    index = SmartIndex.open(path, model)
    if mode == "pause":
        real_write_npy = segment.write_npy
        def write_then_stall(file, array):
            sha = real_write_npy(file, array)
            if file.name.startswith("tok_"):  # token codes on disk, segment incomplete, manifest untouched
                print("STALLED", flush=True)
                time.sleep(600)
            return sha
        segment.write_npy = write_then_stall
        index.add(["blue moon code", "green apple"], ids=["x1", "x2"])
    else:
        batch = 1
        while True:
            texts = [f"red star {batch} marker {j}" for j in range(5)]
            index.add(texts, ids=[f"b{batch}-{j}" for j in range(5)], metadata=[{"batch": batch}] * 5)
            print(f"COMMITTED {batch}", flush=True)
            batch += 1
    """
)


def _spawn(path: Path, model: Path, mode: str) -> subprocess.Popen:
    env = dict(os.environ, HF_HUB_OFFLINE="1", TRANSFORMERS_OFFLINE="1")
    return subprocess.Popen(
        [sys.executable, "-c", CHILD, str(path), str(model), mode], stdout=subprocess.PIPE, text=True, env=env
    )


def _wait_for(proc: subprocess.Popen, prefix: str, timeout: float = 120) -> str:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        line = proc.stdout.readline()
        if line.startswith(prefix):
            return line
        if not line and proc.poll() is not None:
            raise AssertionError(f"child exited with {proc.returncode} before printing {prefix!r}")
    raise AssertionError(f"child did not print {prefix!r} in {timeout}s")


def _kill(proc: subprocess.Popen) -> None:
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait(timeout=30)
    assert proc.returncode == -signal.SIGKILL
    proc.stdout.close()


@pytest.fixture()
def committed(tmp_path, tiny_encoder):
    path = tmp_path / "idx"
    with SmartIndex.create(path, tiny_encoder, compression="residual-2") as index:
        index.add(["red star marker", "python library files"], ids=["a", "b"], metadata=[{"n": 1}, {"n": 2}])
        index.delete("b")
        before = index.search("red star", k=5)
        version = index.version
    return path, before, version


def test_kill_while_segment_half_written(committed, tiny_model_dir, tiny_encoder):
    path, before, version = committed
    proc = _spawn(path, tiny_model_dir, "pause")
    _wait_for(proc, "STALLED")
    leftovers = [p.name for p in (path / "segments").iterdir()]
    _kill(proc)
    assert len(leftovers) == 2  # the committed segment and the uncommitted one
    with SmartIndex.open(path, tiny_encoder, verify=True) as index:
        assert index.version == version
        assert index.ids() == ["a"]
        assert index.get("a").metadata == {"n": 1}
        assert index.search("red star", k=5) == before
        index.add(["blue moon code"], ids=["x1"])  # the writer lock was released by the kill
        assert index.ids() == ["a", "x1"]
        assert len(list((path / "segments").iterdir())) == 2  # the orphan was collected


def test_kill_at_a_random_moment_of_repeated_adds(committed, tiny_model_dir, tiny_encoder):
    path, _, version = committed
    proc = _spawn(path, tiny_model_dir, "loop")
    _wait_for(proc, "COMMITTED 2")
    time.sleep(random.Random(os.getpid()).uniform(0.0, 0.2))
    _kill(proc)
    with SmartIndex.open(path, tiny_encoder, verify=True) as index:
        ids = index.ids()
        # Whole batches only, in order, nothing half-added. The count comes from the ids, not from the
        # version: the label-free default commits its fitted weights as versions of their own.
        batches, partial = divmod(len(ids) - 1, 5)
        assert batches >= 2 and partial == 0, ids
        expected = ["a"] + [f"b{b}-{j}" for b in range(1, batches + 1) for j in range(5)]
        assert ids == expected
        assert index.version - version >= batches
        for doc in index.get(expected[1:]):
            batch = int(doc.id[1 : doc.id.index("-")])
            assert doc.text == f"red star {batch} marker {doc.id[-1]}" and doc.metadata == {"batch": batch}
        assert len(index.search("red star marker", k=100)) == len(expected)
