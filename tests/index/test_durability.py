"""A commit is durable when it returns: new folders and entries are fsync'ed around the switch."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

from smart_plugins.index import SmartIndex

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads fd paths from /proc")


def test_add_fsyncs_the_new_segment_folder_segments_and_the_index_folder(tmp_path, tiny_encoder, monkeypatch):
    path = tmp_path / "idx"
    with SmartIndex.create(path, tiny_encoder, compression="residual-2") as index:
        events: list[tuple[str, str]] = []
        real_fsync, real_replace = os.fsync, os.replace

        def fsync(fd):
            events.append(("fsync", os.readlink(f"/proc/self/fd/{fd}")))
            return real_fsync(fd)

        def replace(src, dst):
            events.append(("replace", str(dst)))
            return real_replace(src, dst)

        monkeypatch.setattr(os, "fsync", fsync)
        monkeypatch.setattr(os, "replace", replace)
        index.add(["red star marker", "blue moon"], ids=["a", "b"])
        index.delete("a")
        monkeypatch.undo()
        segment = path / "segments" / index._manifest["segments"][0]["name"]

    switches = [i for i, (kind, target) in enumerate(events) if kind == "replace" and target.endswith("manifest.json")]
    assert len(switches) == 2
    add_events, delete_events = events[: switches[0] + 1], events[switches[0] + 1 : switches[1] + 1]
    synced_before = {target for kind, target in add_events[:-1] if kind == "fsync"}
    assert str(segment) in synced_before  # the files' entries in the new segment folder
    assert str(path / "segments") in synced_before  # the new folder's entry
    assert str(path) in synced_before  # the new codec file's entry
    assert any(t.endswith(".safetensors") for k, t in add_events if k == "fsync")
    assert events[switches[0] + 1] == ("fsync", str(path))  # the manifest rename itself
    tombstone_synced = {t for k, t in delete_events[:-1] if k == "fsync"}
    assert str(segment) in tombstone_synced  # the new tombstone file's entry
