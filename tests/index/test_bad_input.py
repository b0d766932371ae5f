"""The audit's bad-input table over the public SmartIndex API: every row a clear error or a no-op.

Each case says which call, what it must raise (or return), and a phrase the message must hold
(the argument's name and what it accepts). After every case the committed index is unchanged.
"""

from __future__ import annotations

import pytest

from smart_plugins.index import SmartIndex
from smart_plugins.index.manifest import MANIFEST_NAME


@pytest.fixture(scope="module")
def shared_index(tmp_path_factory, tiny_encoder):
    path = tmp_path_factory.mktemp("bad-input") / "idx"
    with SmartIndex.create(path, tiny_encoder, compression="residual-2") as index:
        index.add(["red star marker", "blue moon code"], ids=["a", "b"], metadata=[{"n": 1}, {"n": 2}])
    return path


@pytest.fixture()
def index(shared_index, tiny_encoder):
    before = (shared_index / MANIFEST_NAME).read_bytes()
    with SmartIndex.open(shared_index, tiny_encoder) as index:
        yield index
    assert (shared_index / MANIFEST_NAME).read_bytes() == before, "a refused call changed the committed index"


EMPTY = [
    ("add([])", lambda ix: ix.add([]), []),
    ("add([], ids=[], metadata=[])", lambda ix: ix.add([], ids=[], metadata=[]), []),
    ("upsert([], ids=[])", lambda ix: ix.upsert([], ids=[]), []),
    ("delete([])", lambda ix: ix.delete([]), 0),
]


@pytest.mark.parametrize(("name", "call", "expected"), EMPTY, ids=[e[0] for e in EMPTY])
def test_empty_writes_commit_nothing(index, name, call, expected):
    version = index.version
    assert call(index) == expected
    assert index.version == version and index.ids() == ["a", "b"]


def test_first_empty_add_on_an_untrained_residual_index_is_a_no_op(tmp_path, tiny_encoder):
    with SmartIndex.create(tmp_path / "idx", tiny_encoder, compression="residual-2") as index:
        assert index.add([]) == [] and index.version == 0
        assert index._manifest["codec"] is None  # no codec was trained on nothing
        index.add(["red star"], ids=["a"])
        assert index.ids() == ["a"]
