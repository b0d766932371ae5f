"""kill -9 a process in the middle of compact: the reopened index is exactly the last commit."""

from __future__ import annotations

import os
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
    import smart_plugins.index.local_store as smart_index
    from smart_plugins.index import SmartIndex

    path, model, mode = sys.argv[1:4]
    index = SmartIndex.open(path, model)
    if mode == "segment":  # stall with the first new segment half written, manifest untouched
        real_write_npy = segment.write_npy
        def write_then_stall(file, array):
            sha = real_write_npy(file, array)
            if file.name.startswith("tok_"):
                print("STALLED", flush=True)
                time.sleep(600)
            return sha
        segment.write_npy = write_then_stall
    else:  # "switched": stall right after the manifest switch, before the old files are collected
        real_write_manifest = smart_index.write_manifest
        def switch_then_stall(folder, manifest):
            real_write_manifest(folder, manifest)
            print("STALLED", flush=True)
            time.sleep(600)
        smart_index.write_manifest = switch_then_stall
    index.compact()
    print("DONE", flush=True)
    """
)


def _wait_for(proc: subprocess.Popen, prefix: str, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        line = proc.stdout.readline()
        if line.startswith(prefix):
            return
        if not line and proc.poll() is not None:
            raise AssertionError(f"child exited with {proc.returncode} before printing {prefix!r}")
    raise AssertionError(f"child did not print {prefix!r} in {timeout}s")


@pytest.mark.parametrize("mode", ["segment", "switched"])
def test_kill_during_compact(tmp_path, tiny_model_dir, tiny_encoder, corpus, mode):
    ids, texts, metas = corpus
    path = tmp_path / "idx"
    with SmartIndex.create(path, tiny_encoder, compression="residual-2") as index:
        index.add(texts[:4], ids=ids[:4], metadata=metas[:4])
        index.add(texts[4:], ids=ids[4:], metadata=metas[4:])
        index.delete(["blue-moon", "srv"])
        version, live = index.version, index.ids()
        docs = index.get(live)
        before = index.search(["red star", "java library"], k=6)
        committed_segments = sorted(p.name for p in (path / "segments").iterdir())

    env = dict(os.environ, HF_HUB_OFFLINE="1", TRANSFORMERS_OFFLINE="1")
    proc = subprocess.Popen([sys.executable, "-c", CHILD, str(path), str(tiny_model_dir), mode],
                            stdout=subprocess.PIPE, text=True, env=env)
    try:
        _wait_for(proc, "STALLED")
        on_disk = sorted(p.name for p in (path / "segments").iterdir())
    finally:
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=30)
        proc.stdout.close()
    assert proc.returncode == -signal.SIGKILL
    assert set(committed_segments) < set(on_disk)  # new segment files were on disk when it died

    # killed before the switch: the old version; killed after it: the compacted one. Either way
    # exactly one committed state, with the same ids, documents and results.
    expected_version = version if mode == "segment" else version + 1
    with SmartIndex.open(path, tiny_encoder, verify=True) as index:
        assert index.version == expected_version
        assert index.ids() == live and index.get(live) == docs
        assert index.info()["deleted_documents"] == (2 if mode == "segment" else 0)
        after = index.search(["red star", "java library"], k=6)
        assert [[h.id for h in hits] for hits in after] == [[h.id for h in hits] for hits in before]
        for hits_b, hits_a in zip(before, after):
            assert [h.score for h in hits_a] == pytest.approx([h.score for h in hits_b], rel=1e-6)
        summary = index.compact()  # the lock died with the child; leftovers are collected first
        assert summary["documents_dropped"] == (2 if mode == "segment" else 0)
        assert index.ids() == live and index.info()["deleted_documents"] == 0
        names = {e["name"] for e in index._manifest["segments"]}
        assert {p.name for p in (path / "segments").iterdir()} == names  # no orphan folders left
        index.add(["blue moon code module"], ids=["blue-moon"])
        assert index.ids() == [*live, "blue-moon"]
