"""Fixtures of the adapter tests."""

from __future__ import annotations

import tempfile
from collections.abc import Callable
from pathlib import Path

import pytest


@pytest.fixture()
def temp_indexes(tmp_path, monkeypatch) -> Callable[[], set[Path]]:
    """Point the temp folder at a private one; returns a function listing the temporary indexes in it.

    Other processes share the machine's /tmp, so counting there would be racy.
    """
    private = tmp_path / "tmp"
    private.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(private))
    return lambda: set(private.glob("smart-index-*"))
