"""Progress bars for the long phases of the library (codec training, segment writing, graph build).

One helper, used everywhere instead of scattered ``tqdm`` calls, following the convention of
sentence-transformers: ``show_progress_bar=None`` shows bars when logging is at INFO or below,
``True`` shows them, ``False`` hides them. Bars go to standard error through tqdm.

Whether a bar shows is decided by the process-wide setting (see :func:`progress_bars`):

* ``"auto"`` (the library's default, ``None``): on a terminal, when the ``smart_plugins`` logger
  is at INFO or below;
* ``"terminal"`` (the CLI's default): whenever standard error is a terminal;
* ``"always"`` (``True``; the CLI's ``--progress``): also when standard error is a file or a pipe;
* ``"never"`` (``False``; the CLI's ``--quiet``): never.

``TQDM_DISABLE=1`` in the environment hides every bar whatever the setting, as it does tqdm's.

Examples
--------
>>> import io, contextlib
>>> err = io.StringIO()
>>> with contextlib.redirect_stderr(err), progress_bars("always"):
...     total = sum(track([1, 2, 3], "Adding", unit="number"))
...     with phase("Thinking"):
...         pass
>>> total, "Adding" in err.getvalue(), "Thinking" in err.getvalue()
(6, True, True)
>>> with contextlib.redirect_stderr(err := io.StringIO()), progress_bars(False):
...     total = sum(track([1, 2, 3], "Adding"))
>>> err.getvalue()
''
"""

from __future__ import annotations

import logging
import os
import sys
from collections.abc import Callable, Iterable, Iterator, Sized
from contextlib import contextmanager
from typing import Any, Literal, TypeVar

__all__ = ["ShowProgress", "phase", "progress", "progress_bars", "show_progress", "track"]

T = TypeVar("T")
#: The values of the setting; ``True``, ``False`` and ``None`` stand for ``always``, ``never`` and ``auto``.
ShowProgress = Literal["auto", "terminal", "always", "never"]
_MODES: tuple[str, ...] = ("auto", "terminal", "always", "never")
_setting: ShowProgress = "auto"
_logger = logging.getLogger("smart_plugins")


def _mode(show: bool | str | None) -> ShowProgress:
    if show is None:
        return "auto"
    if show is True or show is False:
        return "always" if show else "never"
    if show not in _MODES:
        raise ValueError(f"show_progress_bar must be True, False, None or one of {', '.join(_MODES)}; got {show!r}")
    return show  # type: ignore[return-value]


@contextmanager
def progress_bars(show: bool | str | None) -> Iterator[None]:
    """Set whether the library shows progress bars while the block runs (restored afterwards).

    Parameters
    ----------
    show:
        ``"auto"`` / None, ``"terminal"``, ``"always"`` / True or ``"never"`` / False (see the module's
        docstring).

    Examples
    --------
    >>> with progress_bars(False):
    ...     show_progress()
    False
    >>> with progress_bars("sometimes"):
    ...     pass
    Traceback (most recent call last):
    ...
    ValueError: show_progress_bar must be True, False, None or one of auto, terminal, always, never; got 'sometimes'
    """
    global _setting
    saved, _setting = _setting, _mode(show)
    try:
        yield
    finally:
        _setting = saved


def show_progress(show_progress_bar: bool | str | None = None, stream: Any = None) -> bool:
    """Whether a bar shows now: ``show_progress_bar`` of the call when given, else the process-wide setting.

    Examples
    --------
    >>> import io
    >>> show_progress(True, io.StringIO()), show_progress("terminal", io.StringIO())
    (True, False)
    """
    if os.environ.get("TQDM_DISABLE", "").strip().lower() in ("1", "true", "yes", "on"):
        return False
    mode = _setting if show_progress_bar is None else _mode(show_progress_bar)
    if mode in ("always", "never"):
        return mode == "always"
    if not _is_terminal(sys.stderr if stream is None else stream):
        return False
    return mode == "terminal" or _logger.getEffectiveLevel() <= logging.INFO


def _is_terminal(stream: Any) -> bool:
    """A terminal, or a notebook's output (where tqdm draws a widget)."""
    try:
        if stream.isatty():
            return True
    except (AttributeError, ValueError):  # no isatty, or a closed stream
        return False
    return type(stream).__module__.startswith("ipykernel")


def progress(
    desc: str,
    *,
    total: float | None = None,
    unit: str = "it",
    show_progress_bar: bool | str | None = None,
    **options: Any,
) -> Any:
    """A tqdm bar (or a silent one with the same ``update`` / ``close``), usable as a context manager;
    ``options`` go to tqdm.

    Examples
    --------
    >>> with progress("Indexing", total=10, unit="doc", show_progress_bar=False) as bar:
    ...     bar.update(10)
    """
    from tqdm.auto import tqdm

    return tqdm(desc=desc, total=total, unit=unit, disable=not show_progress(show_progress_bar),
                dynamic_ncols=True, **options)


def track(
    iterable: Iterable[T],
    desc: str,
    *,
    total: float | None = None,
    unit: str = "it",
    weight: Callable[[T], float] | None = None,
    show_progress_bar: bool | str | None = None,
) -> Iterator[T]:
    """Yield the items of ``iterable`` while a bar counts them, or ``weight(item)`` of each (documents of a
    segment, say) once it has been handled.

    ``total`` defaults to the length of ``iterable`` (to the sum of the weights when ``iterable`` is a
    list or tuple). Nothing shows when the total is 0.

    Examples
    --------
    >>> [len(s) for s in track([[1, 2], [3]], "Writing", unit="doc", weight=len, show_progress_bar=False)]
    [2, 1]
    """
    if total is None and weight is None and isinstance(iterable, Sized):
        total = len(iterable)
    elif total is None and isinstance(iterable, (list, tuple)):
        total = sum(weight(item) for item in iterable)  # type: ignore[misc]
    if total == 0:  # nothing to do: no bar (a search that finds the graph up to date prints nothing)
        show_progress_bar = False
    with progress(desc, total=total, unit=unit, show_progress_bar=show_progress_bar) as bar:
        for item in iterable:
            yield item
            bar.update(weight(item) if weight else 1)


@contextmanager
def phase(desc: str, *, show_progress_bar: bool | str | None = None) -> Iterator[None]:
    """A step that cannot count its progress (one library call): its name while it runs, its time after.

    Examples
    --------
    >>> with phase("Training the codec", show_progress_bar=False):
    ...     pass
    """
    with progress(desc, total=1, unit="step", show_progress_bar=show_progress_bar, bar_format="{desc}: {elapsed}") as bar:
        yield
        bar.update(1)
