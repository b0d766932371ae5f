"""The one progress helper: sentence-transformers' show_progress_bar convention, terminals only unless asked."""

from __future__ import annotations

import io
import logging
from contextlib import redirect_stderr

import pytest

from smart_plugins.progress import phase, progress_bars, show_progress, track


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


@pytest.fixture
def library_logger():
    logger = logging.getLogger("smart_plugins")
    saved = logger.level
    yield logger
    logger.setLevel(saved)


@pytest.mark.parametrize(("setting", "level", "terminal", "shown"), [
    ("auto", logging.INFO, True, True),       # sentence-transformers: bars at INFO and below
    ("auto", logging.WARNING, True, False),
    ("auto", logging.INFO, False, False),     # never on a pipe or a file unless asked
    ("terminal", logging.WARNING, True, True),
    ("terminal", logging.INFO, False, False),
    ("always", logging.ERROR, False, True),
    ("never", logging.DEBUG, True, False),
])
def test_when_bars_show(library_logger, setting, level, terminal, shown):
    library_logger.setLevel(level)
    stream = Terminal() if terminal else io.StringIO()
    with redirect_stderr(stream), progress_bars(setting):
        assert show_progress(stream=stream) is shown
        list(track(range(3), "Counting things"))
    assert ("Counting things" in stream.getvalue()) is shown


def test_a_call_argument_overrides_the_setting():
    with progress_bars("never"):
        assert show_progress(True, io.StringIO()) is True
    with progress_bars("always"):
        assert show_progress(False, io.StringIO()) is False


def test_tqdm_disable_hides_every_bar(monkeypatch):
    monkeypatch.setenv("TQDM_DISABLE", "1")
    with progress_bars("always"):
        assert show_progress() is False


def test_setting_is_restored_after_the_block():
    with progress_bars("always"):
        with progress_bars("never"):
            assert show_progress(stream=io.StringIO()) is False
        assert show_progress(stream=io.StringIO()) is True


def test_track_counts_weights_and_skips_empty_work():
    err = io.StringIO()
    with redirect_stderr(err), progress_bars(True):
        assert list(track([[1, 2], [3]], "Writing", unit="doc", weight=len)) == [[1, 2], [3]]
        assert list(track([], "Nothing to do")) == []
    assert "3/3" in err.getvalue() and "Nothing to do" not in err.getvalue()


def test_phase_shows_its_name_even_when_the_step_fails():
    err = io.StringIO()
    with redirect_stderr(err), progress_bars(True), pytest.raises(RuntimeError):
        with phase("Training the codec"):
            raise RuntimeError("boom")
    assert "Training the codec" in err.getvalue()
