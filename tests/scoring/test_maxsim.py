"""The MaxSim kernel against a brute-force loop and against sentence-transformers' maxsim."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from smart_plugins.scoring import late_scores, maxsim, pack_tokens


def _texts(lengths: list[int], dim: int, seed: int) -> list[torch.Tensor]:
    gen = torch.Generator().manual_seed(seed)
    return [F.normalize(torch.randn(n, dim, generator=gen), dim=-1) for n in lengths]


def _brute_force(queries: list[torch.Tensor], docs: list[torch.Tensor]) -> torch.Tensor:
    out = torch.zeros(len(queries), len(docs))
    for qi, q in enumerate(queries):
        for di, d in enumerate(docs):
            total = 0.0
            for qv in q:
                total += max(float(qv @ dv) for dv in d)
            out[qi, di] = total / len(q)
    return out


QUERIES = _texts([3, 7, 1], dim=16, seed=0)
DOCS = _texts([5, 1, 12, 2, 9], dim=16, seed=1)


def test_matches_brute_force_loop():
    expected = _brute_force(QUERIES, DOCS)
    assert torch.allclose(late_scores(QUERIES, DOCS), expected, atol=1e-5)


@pytest.mark.parametrize("max_elements", [1, 20, 64, 10_000])
def test_chunking_does_not_change_scores(max_elements):
    q_tokens, q_offsets = pack_tokens(QUERIES)
    d_tokens, d_offsets = pack_tokens(DOCS)
    full = maxsim(q_tokens, q_offsets, d_tokens, d_offsets)
    chunked = maxsim(q_tokens, q_offsets, d_tokens, d_offsets, max_elements=max_elements)
    assert torch.allclose(full, chunked, atol=1e-6)


def test_matches_sentence_transformers_maxsim():
    from sentence_transformers.util import maxsim as st_maxsim

    queries = _texts([16, 4], dim=64, seed=2)
    docs = _texts([120, 80, 3, 150], dim=64, seed=3)
    reference = st_maxsim(queries, docs, length_normalize=True)
    assert torch.allclose(late_scores(queries, docs), reference, atol=1e-5)


def test_half_precision_inputs():
    expected = late_scores(QUERIES, DOCS)
    bf16 = late_scores([q.bfloat16() for q in QUERIES], [d.bfloat16() for d in DOCS])
    fp16 = late_scores([q.half() for q in QUERIES], [d.half() for d in DOCS])
    assert bf16.dtype == torch.float32 and fp16.dtype == torch.float32
    assert torch.allclose(bf16, expected, atol=2e-2)
    assert torch.allclose(fp16, expected, atol=2e-3)


def test_single_query_tensor_and_empty_sets():
    assert late_scores(QUERIES[0], DOCS).shape == (1, len(DOCS))
    assert late_scores(QUERIES, []).shape == (3, 0)


def test_errors_are_clear():
    with pytest.raises(ValueError, match="dimensions differ"):
        late_scores(QUERIES, _texts([2], dim=8, seed=0))
    with pytest.raises(ValueError, match="document 1 has no token vectors"):
        late_scores(QUERIES, [DOCS[0], torch.zeros(0, 16)])
    with pytest.raises(ValueError, match="must be 2-D"):
        late_scores(QUERIES, [torch.zeros(16)])
    with pytest.raises(TypeError, match="dequantise"):
        maxsim(*pack_tokens(QUERIES), torch.zeros(3, 16, dtype=torch.int8), torch.tensor([0, 3]))


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a GPU")
def test_gpu_matches_cpu():
    cpu = late_scores(QUERIES, DOCS)
    gpu = late_scores([q.cuda() for q in QUERIES], [d.cuda() for d in DOCS])
    assert gpu.device.type == "cuda"
    assert torch.allclose(gpu.cpu(), cpu, atol=1e-5)
