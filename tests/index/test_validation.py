"""Bad first-stage options are refused before anything is committed, and on open."""

from __future__ import annotations

import json

import pytest

from smart_plugins.index import SmartIndex
from smart_plugins.index.manifest import MANIFEST_NAME, read_manifest, write_manifest
from smart_plugins.index.storage import IndexCorruptedError


@pytest.fixture()
def small_index(tmp_path, tiny_encoder):
    path = tmp_path / "idx"
    with SmartIndex.create(path, tiny_encoder, compression="fp16") as index:
        index.add(["red star marker", "blue moon code"], ids=["a", "b"])
    return path


@pytest.mark.parametrize(
    ("kind", "options", "error", "words"),
    [
        ("hnsw", {"m": -3}, ValueError, "'m' must be an integer in [2, 512], got -3"),
        ("hnsw", {"m": "abc"}, ValueError, "'m' must be an integer in [2, 512], got 'abc'"),
        ("hnsw", {"m": 16.5}, ValueError, "'m'"),
        ("hnsw", {"m": True}, ValueError, "'m'"),
        ("hnsw", {"ef_search": 0}, ValueError, "'ef_search'"),
        ("hnsw", {"ef_construction": 10**9}, ValueError, "'ef_construction'"),
        ("hnsw", {"M": 16}, ValueError, "option 'M' is not known for 'hnsw'"),
        ("exact", {"m": 16}, ValueError, "option 'm' is not known for 'exact'"),
        ("ivf", None, ValueError, "must be one of ('exact', 'hnsw')"),
        ("hnsw", [("m", 16)], TypeError, "options must be a dict"),
    ],
)
def test_bad_first_stage_options_are_never_committed(small_index, tiny_encoder, kind, options, error, words):
    before = (small_index / MANIFEST_NAME).read_bytes()
    with SmartIndex.open(small_index, tiny_encoder) as index:
        with pytest.raises(error) as info:
            index.set_first_stage(kind, options)
        assert words in str(info.value)
        assert index.search("red star", k=1)[0].id == "a"  # the index still works
    assert (small_index / MANIFEST_NAME).read_bytes() == before


def test_create_refuses_bad_options_and_leaves_no_index(tmp_path, tiny_encoder):
    with pytest.raises(ValueError, match="'m' must be an integer"):
        SmartIndex.create(tmp_path / "idx", tiny_encoder, first_stage="hnsw", first_stage_options={"m": -3})
    assert not (tmp_path / "idx" / MANIFEST_NAME).exists()


def test_good_options_are_committed_as_integers(small_index, tiny_encoder):
    import numpy as np

    with SmartIndex.open(small_index, tiny_encoder) as index:
        index.set_first_stage("hnsw", {"m": np.int64(8), "ef_search": 16})
        assert index.info()["first_stage"] == {"kind": "hnsw", "m": 8, "ef_search": 16}
        assert index.search("red star", k=1)[0].id == "a"
    assert json.loads((small_index / MANIFEST_NAME).read_text())["first_stage"]["m"] == 8


@pytest.mark.parametrize("bad", [{"kind": "hnsw", "m": -3}, {"kind": "hnsw", "m": "abc"}, {"kind": "hnsw", "x": 1}, "hnsw"])
def test_a_manifest_with_a_bad_option_is_refused_on_open(small_index, tiny_encoder, bad):
    manifest = read_manifest(small_index)
    manifest["first_stage"] = bad
    write_manifest(small_index, manifest)  # a committed manifest (checksummed) with a bad option
    with pytest.raises(IndexCorruptedError) as info:
        SmartIndex.open(small_index, tiny_encoder)
    assert str(small_index / MANIFEST_NAME) in str(info.value) and "first_stage" in str(info.value)


def test_check_finite_scans_finite_tensors_with_one_reduction(monkeypatch):
    """add_encoded checks every token vector: an elementwise isfinite mask over ~250k x 384
    values costs ~1.5 s per segment on this CPU, a sum ~0.1 s. NaN and infinity still name their row."""
    import torch

    from smart_plugins.index.validation import check_finite

    sizes: list[int] = []
    real = torch.isfinite
    monkeypatch.setattr(torch, "isfinite", lambda t: sizes.append(t.numel()) or real(t))
    tokens = torch.nn.functional.normalize(torch.randn(500, 16), dim=-1)
    check_finite("encoded.tokens", tokens)
    assert max(sizes) == 1  # the sum, never a mask of every value
    huge = torch.full((4, 2), 3e38)  # finite values whose sum overflows: the exact check clears them
    check_finite("encoded.tokens", huge)
    for bad in (float("nan"), float("inf"), -float("inf")):
        broken = tokens.clone()
        broken[321, 5] = bad
        with pytest.raises(ValueError, match=r"encoded.tokens holds 1 NaN or infinite value\(s\) \(first at row 321\)"):
            check_finite("encoded.tokens", broken)
