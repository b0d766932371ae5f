"""A writer stuck holding the lock makes other writers fail after lock_timeout, naming it."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap

import pytest

from smart_plugins.index import IndexLockedError, SmartIndex
from smart_plugins.index.locking import WriterLock, holder_pid

HOLDER = textwrap.dedent(
    """
    import sys, time
    from smart_plugins.index.locking import WriterLock
    with WriterLock(sys.argv[1], timeout=5):
        print("HOLDING", flush=True)
        time.sleep(600)
    """
)


@pytest.fixture()
def held_index(tmp_path, tiny_encoder):
    path = tmp_path / "idx"
    with SmartIndex.create(path, tiny_encoder, compression="fp16") as index:
        index.add(["red star marker"], ids=["a"])
    proc = subprocess.Popen([sys.executable, "-c", HOLDER, str(path / ".write.lock")], stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout.readline().strip() == "HOLDING"
        yield path, proc
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.wait(timeout=30)
        proc.stdout.close()


def test_a_second_writer_gives_up_naming_the_lock_and_the_holder(held_index, tiny_encoder):
    path, proc = held_index
    pid = proc.pid
    with SmartIndex.open(path, tiny_encoder, lock_timeout=0.2) as index:
        for write in (lambda: index.add(["blue moon"], ids=["b"]), lambda: index.delete("a"), index.compact,
                      lambda: index.set_first_stage("hnsw")):
            with pytest.raises(IndexLockedError) as info:
                write()
            message = str(info.value)
            assert str(path / ".write.lock") in message and f"process {pid}" in message and "lock_timeout" in message
        # readers are not blocked by the writer lock
        assert index.ids() == ["a"] and index.search("red star", k=1)[0].id == "a"
    with SmartIndex.open(path, tiny_encoder, read_only=True) as reader:
        assert reader.get("a").text == "red star marker"


def test_the_lock_is_free_again_once_the_holder_dies(held_index, tiny_encoder):
    path, proc = held_index
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait(timeout=30)
    assert holder_pid(path / ".write.lock") is None  # its pid file is left, but the process is gone
    with SmartIndex.open(path, tiny_encoder, lock_timeout=5) as index:
        index.add(["blue moon"], ids=["b"])
        assert index.ids() == ["a", "b"]
    assert not (path / ".write.lock.pid").exists()


@pytest.mark.parametrize("bad", [-1, "5", float("nan"), True])
def test_bad_lock_timeouts_are_refused(tmp_path, tiny_encoder, bad):
    with pytest.raises(ValueError, match="lock_timeout"):
        SmartIndex.create(tmp_path / "idx", tiny_encoder, lock_timeout=bad)
    assert not (tmp_path / "idx").exists()
    with pytest.raises(ValueError, match="lock_timeout"):
        WriterLock(tmp_path / "x.lock", timeout=bad)


def test_cli_lock_timeout(held_index, tiny_model_dir, capsys):
    from smart_plugins.cli.main import main

    path, proc = held_index
    assert main(["index", "delete", str(path), "a", "--lock-timeout", "0.2"]) == 1
    err = capsys.readouterr().err
    assert "smart-plugins index: error:" in err and str(path / ".write.lock") in err and f"process {proc.pid}" in err
    assert main(["index", "info", str(path)]) == 0  # reading needs no lock
    with pytest.raises(SystemExit):
        main(["index", "compact", str(path), "--lock-timeout", "-1"])
