"""Fixtures of the index tests: a small corpus with metadata and a fresh index folder."""

from __future__ import annotations

import pytest

CORPUS = [
    ("red-star", "red star marker labels", {"color": "red", "n": 1}),
    ("blue-moon", "blue moon code module", {"color": "blue", "n": 2}),
    ("green-apple", "green apple banana text", {"color": "green", "n": 3}),
    ("py-lib", "python library development files", {"color": "red", "n": 4}),
    ("perl-doc", "perl documentation data", {"color": "blue", "n": 5}),
    ("java-rt", "java runtime shared library", {"color": "green", "n": 6}),
    ("rust-tool", "rust command line tool", {"color": "red", "n": 7}),
    ("srv", "server client search index", {"color": "blue", "n": 8}),
]


@pytest.fixture()
def corpus():
    ids = [c[0] for c in CORPUS]
    texts = [c[1] for c in CORPUS]
    metas = [dict(c[2]) for c in CORPUS]
    return ids, texts, metas
