"""Chunking settings and dtype are checked up front; a text past max_chunk_tokens is refused."""

from __future__ import annotations

import pytest
import torch

from smart_plugins.encoder import SmartEncoder

LONG = " ".join(["red star blue moon"] * 40)  # 160 word tokens: several windows of the tiny model


@pytest.mark.parametrize(
    ("kwargs", "phrase"),
    [
        ({"chunk_overlap": -5}, "chunk_overlap must be an integer >= 0, got -5"),
        ({"chunk_overlap": 2.5}, "chunk_overlap must be an integer >= 0"),
        ({"chunk_overlap": "8"}, "chunk_overlap must be an integer >= 0"),
        ({"chunk_overlap": 40, "truncation": "chunk"}, "chunk_overlap must be at most half the model's max length (32)"),
        ({"max_chunk_tokens": 0}, "max_chunk_tokens must be a positive integer or None"),
        ({"max_chunk_tokens": "many"}, "max_chunk_tokens must be a positive integer or None"),
        ({"dtype": "int8"}, "dtype must be one of ('float32', 'float16', 'bfloat16')"),
        ({"dtype": torch.int8}, "dtype must be one of"),
        ({"dtype": ["float16"]}, "dtype must be one of"),
    ],
)
def test_bad_encoder_options_are_clear_errors(tiny_model_dir, kwargs, phrase):
    with pytest.raises(ValueError) as info:
        SmartEncoder(str(tiny_model_dir), device="cpu", **kwargs)
    assert phrase in str(info.value)


def test_a_text_over_max_chunk_tokens_is_refused_naming_it(tiny_model_dir):
    encoder = SmartEncoder(str(tiny_model_dir), device="cpu", truncation="chunk", chunk_overlap=8, max_chunk_tokens=100)
    assert len(encoder.encode(["short text"])) == 1
    with pytest.raises(ValueError, match=r"texts\[1\] has 162 tokens, over max_chunk_tokens=100"):
        encoder.encode(["short text", LONG])
    uncapped = SmartEncoder(str(tiny_model_dir), device="cpu", truncation="chunk", chunk_overlap=8, max_chunk_tokens=None)
    assert int(uncapped.encode([LONG]).lengths[0]) >= 160
