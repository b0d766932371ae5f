"""Fixtures of the evaluation tests: the checked-in tiny BEIR folder and writable copies of it."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

DATA = Path(__file__).parent / "data" / "tiny-beir"


@pytest.fixture()
def tiny_beir() -> Path:
    """The read-only tiny BEIR fixture (12 documents, 6 test and 4 train queries)."""
    return DATA


@pytest.fixture()
def beir_copy(tmp_path: Path) -> Path:
    """A writable copy of the fixture, for tests that damage it."""
    return Path(shutil.copytree(DATA, tmp_path / "tiny-beir"))
