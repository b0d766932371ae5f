"""Token codecs: sizes, round-trip error ordering, persistence of the trained state."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from smart_plugins.index import codecs as codecs_module
from smart_plugins.index.codecs import CODEC_NAMES, ResidualCodec, make_codec
from smart_plugins.scoring import maxsim


def _unit(n: int, d: int, seed: int = 0) -> np.ndarray:
    x = np.random.default_rng(seed).normal(size=(n, d)).astype(np.float32)
    return x / np.linalg.norm(x, axis=1, keepdims=True)


def _roundtrip_cos(name: str, x: np.ndarray) -> float:
    codec = make_codec(name, x.shape[1])
    if codec.needs_training:
        codec.train(x)
    decoded = codec.decode(codec.encode(x)).numpy()
    assert decoded.shape == x.shape and decoded.dtype == np.float32
    return float(np.mean(np.sum(decoded * x, axis=1) / np.linalg.norm(decoded, axis=1)))


def test_bytes_per_token_match_stored_arrays():
    x = _unit(3000, 64)
    for name in CODEC_NAMES:
        codec = make_codec(name, 64)
        if codec.needs_training:
            codec.train(x)
        stored = sum(a.nbytes for a in codec.encode(x).values()) / len(x)
        assert stored == codec.bytes_per_token, name


def test_more_bits_reconstruct_better():
    x = _unit(4000, 32, seed=1)
    cos = {name: _roundtrip_cos(name, x) for name in CODEC_NAMES}
    assert cos["fp32"] == pytest.approx(1.0, abs=1e-6)
    assert cos["fp16"] > 0.9999
    assert cos["int8"] > 0.999
    assert cos["residual-4"] > cos["residual-2"] > cos["residual-1"]
    assert cos["int8"] > cos["residual-4"]


def test_residual_state_roundtrip_gives_identical_decoding():
    x = _unit(2000, 32, seed=2)
    codec = ResidualCodec(32, bits=2)
    codec.train(x)
    arrays = codec.encode(x)
    clone = ResidualCodec(32, bits=2)
    assert clone.needs_training
    clone.load_state(codec.state())
    assert torch.equal(clone.decode(arrays), codec.decode(arrays))


def test_decoded_rows_score_close_to_exact_maxsim():
    docs = _unit(600, 32, seed=3)
    queries = _unit(8, 32, seed=4)
    offsets = torch.arange(0, 601, 6)
    q_off = torch.tensor([0, 4, 8])
    exact = maxsim(torch.from_numpy(queries), q_off, torch.from_numpy(docs), offsets)
    codec = make_codec("residual-4", 32)
    codec.train(docs)
    approx = maxsim(torch.from_numpy(queries), q_off, codec.decode(codec.encode(docs)), offsets)
    assert float((approx - exact).abs().max()) < 0.15


def test_bad_codec_requests_are_clear_errors():
    with pytest.raises(ValueError, match="unknown compression"):
        make_codec("pq", 32)
    with pytest.raises(ValueError, match="multiple of 8"):
        make_codec("residual-1", 12)
    codec = make_codec("residual-2", 32)
    with pytest.raises(RuntimeError, match="not trained"):
        codec.encode(_unit(4, 32))
    with pytest.raises(ValueError, match=r"\(tokens, 32\)"):
        make_codec("int8", 32).encode(np.zeros((2, 16), dtype=np.float32))


@pytest.mark.parametrize("block_tokens", [8192, 37])  # one block; many, the last one short
@pytest.mark.parametrize("name", CODEC_NAMES)
def test_similarities_equal_decoded_vectors_times_queries(name, block_tokens, monkeypatch):
    monkeypatch.setattr(codecs_module, "SIMILARITY_BLOCK_TOKENS", block_tokens)
    x = _unit(3000, 64, seed=5)
    queries = torch.from_numpy(_unit(7, 64, seed=6))
    codec = make_codec(name, 64)
    if codec.needs_training:
        codec.train(x)
    arrays = codec.encode(x[:500])
    expected = codec.decode(arrays) @ queries.T
    sims = codec.similarities(arrays, queries)
    assert sims.shape == (500, 7) and sims.dtype == torch.float32
    torch.testing.assert_close(sims, expected, atol=2e-6, rtol=0)


@pytest.mark.parametrize("bits", [1, 2, 4])
def test_residual_rows_hold_codes_id_and_norm_and_the_older_layout_still_reads(bits):
    x = _unit(3000, 64, seed=7)
    codec = ResidualCodec(64, bits=bits)
    codec.train(x)
    arrays = codec.encode(x[:300])
    assert list(arrays) == ["codes"] and arrays["codes"].shape == (300, 64 * bits // 8 + 2 + 4)
    packed, ids, norms = codec._fields(arrays)
    np.testing.assert_allclose(norms, np.linalg.norm(codec._unnormalised(packed, ids), axis=1), rtol=1e-6)
    queries = torch.from_numpy(_unit(5, 64, seed=8))
    # the layout of indexes written before the norm was stored: two arrays, no norms
    legacy = {"centroid_ids": ids.astype(np.uint16), "residuals": np.ascontiguousarray(packed)}
    assert torch.equal(codec.decode(legacy), codec.decode(arrays))
    torch.testing.assert_close(codec.similarities(legacy, queries), codec.similarities(arrays, queries), atol=2e-6, rtol=0)


def _peak_traced_bytes(fn) -> int:
    """Peak of the memory Python and numpy allocate while ``fn`` runs (numpy reports its arrays to tracemalloc)."""
    import tracemalloc

    tracemalloc.start()
    try:
        tracemalloc.reset_peak()
        base = tracemalloc.get_traced_memory()[0]
        fn()
        return tracemalloc.get_traced_memory()[1] - base
    finally:
        tracemalloc.stop()


@pytest.mark.parametrize("bits", [2, 4])
def test_residual_encoding_holds_blocks_not_copies_of_the_whole_batch(bits):
    """At scale an add encodes ~250k token vectors per segment: the working arrays (residuals,
    buckets, reconstructions) must be a block's, not several batch-sized copies (each would be
    hundreds of MB). The result itself is 1 + 6/D bytes per dimension."""
    x = _unit(50_000, 64, seed=11)  # 12.8 MB of float32
    codec = ResidualCodec(64, bits=bits)
    codec.train(x[:5000])
    out_bytes = len(x) * codec.bytes_per_token
    peak = _peak_traced_bytes(lambda: codec.encode(x))
    assert peak < 2 * out_bytes + 4 * 2**20, f"encoding {x.nbytes / 2**20:.1f} MB of vectors peaked at {peak / 2**20:.1f} MB"


def test_residual_codes_do_not_depend_on_how_the_batch_is_split_and_follow_the_cutoffs():
    x = _unit(5000, 32, seed=12)
    codec = ResidualCodec(32, bits=2)
    codec.train(x)
    whole = codec.encode(x)["codes"]
    parts = np.concatenate([codec.encode(x[a:b])["codes"] for a, b in ((0, 1), (1, 1500), (1500, 5000))])
    assert np.array_equal(whole, parts)
    assert codec.encode(x[:0])["codes"].shape == (0, 32 * 2 // 8 + 2 + 4)
    # residuals exactly on a cutoff go to the bucket above it (searchsorted, side="right")
    one = ResidualCodec(4, bits=2)
    one.load_state({"centroids": np.zeros((1, 4), np.float32), "cutoffs": np.array([-0.5, 0.0, 0.5], np.float32),
                    "bucket_weights": np.array([-0.7, -0.2, 0.2, 0.7], np.float32)})
    values = np.array([[-0.5, 0.0, 0.5, 0.9], [-0.6, -0.1, 0.1, 0.4]], np.float32)
    packed, _, _ = one._fields(one.encode(values))
    buckets = np.stack([(packed[:, 0] >> shift) & 3 for shift in (6, 4, 2, 0)], axis=1)
    assert buckets.tolist() == np.searchsorted(one.cutoffs, values, side="right").tolist() == [[1, 2, 3, 3], [0, 1, 2, 2]]


def test_retraining_a_residual_codec_encodes_with_the_new_centroids():
    first, second = _unit(3000, 32, seed=13), _unit(3000, 32, seed=14) * np.float32(-1)
    codec = ResidualCodec(32, bits=2)
    codec.train(first)
    codec.encode(first)  # fills the codec's caches of the first state
    codec.train(second)
    fresh = ResidualCodec(32, bits=2)
    fresh.train(second)
    assert np.array_equal(codec.encode(second)["codes"], fresh.encode(second)["codes"])
