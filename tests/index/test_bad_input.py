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


def _nested(depth: int) -> dict:
    meta: dict = {}
    for _ in range(depth):
        meta = {"x": meta}
    return meta


def _encoded_with(index, texts, where: str):
    encoded = index.encoder.encode_documents(texts)
    getattr(encoded, where)[0, 0] = float("nan")
    return encoded


BAD = [
    # (label, call, error, phrase the message must hold)
    ("metadata key 1", lambda ix: ix.add(["x y"], metadata=[{1: "a"}]), TypeError, "metadata[0] key 1 must be a string"),
    ("nested metadata key", lambda ix: ix.add(["x y"], metadata=[{"a": {2: 1}}]), TypeError, "metadata[0]['a'] key 2"),
    ("metadata NaN", lambda ix: ix.add(["x y"], metadata=[{"v": float("nan")}]), ValueError, "metadata[0]['v'] is nan"),
    ("metadata inf in list", lambda ix: ix.add(["x y"], metadata=[{"v": [1, float("inf")]}]), ValueError, "['v'][1] is inf"),
    ("metadata 2000 deep", lambda ix: ix.add(["x y"], metadata=[_nested(2000)]), ValueError, "nested more than 32 levels"),
    ("metadata object", lambda ix: ix.add(["x y"], metadata=[{"o": object()}]), TypeError, "metadata values must be str"),
    ("metadata numpy scalar", lambda ix: ix.add(["x y"], metadata=[{"v": __import__("numpy").float32(1)}]), TypeError,
     "metadata[0]['v'] is a float32"),
    ("metadata not a dict", lambda ix: ix.add(["x y"], metadata=["tag"]), TypeError, "metadata[0] must be a dict or None"),
    ("metadata single dict", lambda ix: ix.add(["x y"], metadata={"a": 1}), TypeError, "one dict per text"),
    ("upsert metadata NaN", lambda ix: ix.upsert(["x y"], ids=["a"], metadata=[{"v": float("nan")}]), ValueError, "finite"),
    ("add_encoded NaN pooled", lambda ix: ix.add_encoded(_encoded_with(ix, ["x y"], "pooled"), ["x y"]), ValueError,
     "encoded.pooled holds 1 NaN"),
    ("add_encoded NaN tokens", lambda ix: ix.add_encoded(_encoded_with(ix, ["x y"], "tokens"), ["x y"]), ValueError,
     "encoded.tokens holds 1 NaN"),
    ("search k=2.5", lambda ix: ix.search("red", k=2.5), TypeError, "k must be a positive integer, got 2.5"),
    ("search k='5'", lambda ix: ix.search("red", k="5"), TypeError, "k must be a positive integer, got '5'"),
    ("search k=None", lambda ix: ix.search("red", k=None), TypeError, "k must be a positive integer, got None"),
    ("search k=True", lambda ix: ix.search("red", k=True), TypeError, "k must be a positive integer"),
    ("search k=0", lambda ix: ix.search("red", k=0), ValueError, "k must be a positive integer, got 0"),
    ("search candidates=-1", lambda ix: ix.search("red", candidates=-1), ValueError, "candidates must be a positive"),
    ("search weights=1", lambda ix: ix.search("red", weights=1), TypeError, "weights must be a ScoreWeights or a 'POOL:LATE'"),
    ("search weights='x'", lambda ix: ix.search("red", weights="x"), ValueError, "weights must look like POOL:LATE"),
    ("search where=3", lambda ix: ix.search("red", where=3), TypeError, "where must be a dict filter or a callable"),
    ("search None", lambda ix: ix.search(None), TypeError, "query must be a string"),
    ("search_encoded k='5'", lambda ix: ix.search_encoded(ix.encoder.encode_queries(["red"]), k="5"), TypeError, "k must"),
    ("rerank k=1.5", lambda ix: ix.rerank("red", ["a"], k=1.5), TypeError, "k must be a positive integer"),
    ("rerank weights={}", lambda ix: ix.rerank("red", ["a"], weights={}), TypeError, "weights must be a ScoreWeights"),
    ("get(None)", lambda ix: ix.get(None), TypeError, "ids must be a string or a list of strings, got NoneType"),
    ("get(3)", lambda ix: ix.get(3), TypeError, "ids must be a string or a list of strings, got int"),
    ("get([None])", lambda ix: ix.get([None]), TypeError, "ids[0] must be a non-empty string"),
    ("get unknown", lambda ix: ix.get("zz"), KeyError, "'zz'"),
    ("delete(None)", lambda ix: ix.delete(None), TypeError, "ids must be a string or a list of strings"),
    ("delete unknown", lambda ix: ix.delete(["a", "zz"]), KeyError, "1 id(s) not in the index: 'zz'"),
    ("add ids=None-in-list", lambda ix: ix.add(["x y"], ids=[None]), TypeError, "ids[0] must be a non-empty string"),
    ("add id taken", lambda ix: ix.add(["x y"], ids=["a"]), ValueError, "already in the index: 'a'"),
    ("add texts=None", lambda ix: ix.add(None), TypeError, "texts must be a string or a sequence"),
    ("add empty text", lambda ix: ix.add(["ok", " "]), ValueError, "texts[1] is an empty"),
    ("compact share 2", lambda ix: ix.compact(min_deleted_share=2), ValueError, "min_deleted_share must be in [0, 1]"),
    ("set_weights str", lambda ix: ix.set_weights("1:1"), TypeError, "weights must be a ScoreWeights"),
]


@pytest.mark.parametrize(("label", "call", "error", "phrase"), BAD, ids=[b[0] for b in BAD])
def test_bad_input_is_a_clear_error_and_changes_nothing(index, label, call, error, phrase):
    with pytest.raises(error) as info:
        call(index)
    assert phrase in str(info.value)
    assert index.ids() == ["a", "b"] and index.get("a").metadata == {"n": 1}


GOOD = [
    ("search([])", lambda ix: ix.search([]), []),
    ("search weights='0:1' (parsed)", lambda ix: [h.id for h in ix.search("red star", k=1, weights="0:1")], ["a"]),
    ("search numpy k", lambda ix: len(ix.search("red star", k=__import__("numpy").int64(1))), 1),
    ("search_encoded of no query", lambda ix: ix.search_encoded(ix.encoder.encode_queries(["red"]).select([])), []),
    ("get([])", lambda ix: ix.get([]), []),
]


@pytest.mark.parametrize(("label", "call", "expected"), GOOD, ids=[g[0] for g in GOOD])
def test_empty_and_converted_inputs_give_the_documented_result(index, label, call, expected):
    assert call(index) == expected


def test_string_weights_score_like_score_weights(index):
    from smart_plugins.scoring import ScoreWeights

    assert index.search("red star", weights="0.5:1") == index.search("red star", weights=ScoreWeights(0.5, 1))


def test_create_takes_string_weights_and_names_a_wrong_type(tmp_path, tiny_encoder):
    from smart_plugins.scoring import ScoreWeights

    with SmartIndex.create(tmp_path / "s", tiny_encoder, weights="0.5:1") as index:
        assert index.weights == ScoreWeights(0.5, 1) and index.info()["weights_source"] == {"kind": "explicit"}
    with pytest.raises(TypeError, match="weights must be a ScoreWeights or a 'POOL:LATE' string"):
        SmartIndex.create(tmp_path / "t", tiny_encoder, weights=(1, 1))
    assert not (tmp_path / "t").exists()  # nothing written
