"""The writer lock of an index: one writer at a time, a bounded wait, and who holds it.

Writers take an OS file lock on ``<index>/.write.lock`` (released by the kernel when the
process dies, so a killed writer never leaves the index locked). While it holds the lock a
writer records its pid in ``<index>/.write.lock.pid``, so a writer that gives up after
``lock_timeout`` seconds can say which process is in the way (a stopped or hung writer).
Readers never take the lock.
"""

from __future__ import annotations

import os
from pathlib import Path
from types import TracebackType

from filelock import FileLock, Timeout

from smart_plugins.index.validation import check_lock_timeout

#: Seconds a writer waits for another writer before giving up (``None`` waits forever).
DEFAULT_LOCK_TIMEOUT = 60.0
PID_SUFFIX = ".pid"


class IndexLockedError(TimeoutError):
    """Another writer held the index's lock for longer than ``lock_timeout``."""


class WriterLock:
    """A re-entrant writer lock with a timeout and a pid sidecar.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> folder = pathlib.Path(tempfile.mkdtemp())
    >>> lock = WriterLock(folder / ".write.lock", timeout=1)
    >>> with lock:
    ...     holder_pid(folder / ".write.lock") == os.getpid()
    True
    >>> holder_pid(folder / ".write.lock") is None
    True
    """

    def __init__(self, path: str | Path, *, timeout: float | None = DEFAULT_LOCK_TIMEOUT) -> None:
        self.path = Path(path)
        self.timeout = check_lock_timeout(timeout)
        self._lock = FileLock(str(self.path))
        self._depth = 0

    def acquire(self) -> None:
        try:
            self._lock.acquire(timeout=-1 if self.timeout is None else self.timeout)
        except Timeout:
            pid = holder_pid(self.path)
            holder = f"process {pid}" if pid is not None else "another process"
            raise IndexLockedError(
                f"the index writer lock {self.path} is held by {holder}; gave up after {self.timeout:g} s "
                "(lock_timeout). Wait for that writer to finish, or stop it if it is hung; readers are not blocked."
            ) from None
        self._depth += 1
        if self._depth == 1:
            _pid_path(self.path).write_text(f"{os.getpid()}\n")

    def release(self) -> None:
        self._depth -= 1
        if self._depth == 0:
            _pid_path(self.path).unlink(missing_ok=True)
        self._lock.release()

    def __enter__(self) -> WriterLock:
        self.acquire()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.release()


def holder_pid(lock_path: str | Path) -> int | None:
    """The pid recorded by the writer holding ``lock_path``; None when unknown or not running."""
    try:
        pid = int(_pid_path(Path(lock_path)).read_text().strip())
    except (OSError, ValueError):
        return None
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return None  # a writer that died without cleaning up
    except PermissionError:
        pass  # alive, owned by another user
    return pid


def _pid_path(lock_path: Path) -> Path:
    return lock_path.with_name(lock_path.name + PID_SUFFIX)
