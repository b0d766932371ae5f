from __future__ import annotations

import torch

from smart_plugins.encoder import EncodedTexts
from smart_plugins.evaluation.cache import EncodedCache, cache_key


def _encoded(n: int = 3) -> EncodedTexts:
    torch.manual_seed(0)
    return EncodedTexts.from_lists(torch.randn(n, 4), [torch.randn(i + 1, 5) for i in range(n)])


def test_round_trip_is_exact(tmp_path):
    cache = EncodedCache(tmp_path)
    enc = _encoded()
    path = cache.save("k1", enc, {"note": "x"})
    back = cache.load("k1")
    assert path.exists() and back is not None
    for name in ("pooled", "tokens", "offsets", "token_ids", "positions"):
        assert torch.equal(getattr(back, name), getattr(enc, name))
    assert [p.name for p in tmp_path.iterdir()] == ["k1.safetensors"]  # no temporary left behind


def test_key_depends_on_identity_kind_and_texts():
    base = cache_key({"model": "m", "token_policy": {"keep_special_tokens": False}}, "document", ["a", "b"])
    assert base == cache_key({"token_policy": {"keep_special_tokens": False}, "model": "m"}, "document", ["a", "b"])
    assert base != cache_key({"model": "m2", "token_policy": {"keep_special_tokens": False}}, "document", ["a", "b"])
    assert base != cache_key({"model": "m", "token_policy": {"keep_special_tokens": True}}, "document", ["a", "b"])
    assert base != cache_key({"model": "m", "token_policy": {"keep_special_tokens": False}}, "query", ["a", "b"])
    assert base != cache_key({"model": "m", "token_policy": {"keep_special_tokens": False}}, "document", ["ab"])


def test_get_or_encode_encodes_once_and_recovers_from_damage(tmp_path):
    cache = EncodedCache(tmp_path)
    calls: list[list[str]] = []

    def encode(texts):
        calls.append(texts)
        return _encoded(len(texts))

    cache.get_or_encode({"model": "m"}, "document", ["x", "y", "z"], encode)
    cache.get_or_encode({"model": "m"}, "document", ["x", "y", "z"], encode)
    assert len(calls) == 1
    key = cache_key({"model": "m"}, "document", ["x", "y", "z"])
    cache.path(key).write_bytes(b"garbage")
    again = cache.get_or_encode({"model": "m"}, "document", ["x", "y", "z"], encode)
    assert len(calls) == 2 and len(again) == 3
