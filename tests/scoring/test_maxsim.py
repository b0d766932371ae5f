"""The MaxSim kernel against a brute-force loop and against sentence-transformers' maxsim."""

from __future__ import annotations

import importlib

import pytest
import torch
import torch.nn.functional as F

from smart_plugins.scoring import late_scores, maxsim, pack_tokens, reduce_similarities


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


def test_cpu_blocks_match_the_autograd_path():
    """The CPU inference path (cache-sized blocks) and the autograd path give the same scores."""
    queries = _texts([16, 4, 9], dim=32, seed=4)
    docs = _texts([120, 80, 3, 150, 1, 64], dim=32, seed=5)
    q_tokens, q_offsets = pack_tokens(queries)
    d_tokens, d_offsets = pack_tokens(docs)
    blocked = maxsim(q_tokens, q_offsets, d_tokens, d_offsets, max_elements=40 * len(q_tokens))
    differentiable = maxsim(q_tokens.requires_grad_(), q_offsets, d_tokens, d_offsets)
    assert differentiable.requires_grad and not blocked.requires_grad
    assert torch.allclose(blocked, differentiable.detach(), atol=1e-6)
    assert torch.allclose(blocked, _brute_force(queries, docs), atol=1e-5)


def test_gradients_flow_to_queries_and_documents():
    q_tokens, q_offsets = pack_tokens(QUERIES)
    d_tokens, d_offsets = pack_tokens(DOCS)
    q_tokens.requires_grad_()
    d_tokens.requires_grad_()
    maxsim(q_tokens, q_offsets, d_tokens, d_offsets).sum().backward()
    assert q_tokens.grad is not None and float(q_tokens.grad.abs().sum()) > 0
    assert d_tokens.grad is not None and float(d_tokens.grad.abs().sum()) > 0


@pytest.mark.parametrize("bad", [float("nan"), float("inf")])
def test_nan_or_infinite_vectors_are_refused(bad):
    docs = [d.clone() for d in DOCS]
    docs[3][1, 0] = bad
    with pytest.raises(ValueError, match=r"query 0 against document 3 is (nan|inf).*NaN or infinite"):
        late_scores(QUERIES, docs)
    d_tokens, d_offsets = pack_tokens(docs)
    q_tokens, q_offsets = pack_tokens(QUERIES)
    with pytest.raises(ValueError, match="document 3"):
        maxsim(q_tokens.requires_grad_(), q_offsets, d_tokens, d_offsets)
    sims = d_tokens @ q_tokens.detach().T
    with pytest.raises(ValueError, match="document 3"):
        reduce_similarities(sims, d_offsets, q_offsets)


def test_reduce_similarities_matches_maxsim():
    q_tokens, q_offsets = pack_tokens(QUERIES)
    d_tokens, d_offsets = pack_tokens(DOCS)
    reduced = reduce_similarities(d_tokens @ q_tokens.T, d_offsets, q_offsets)
    assert torch.allclose(reduced, maxsim(q_tokens, q_offsets, d_tokens, d_offsets), atol=1e-6)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a GPU")
@pytest.mark.parametrize("skewed", [False, True])
def test_gpu_large_batch_matches_cpu(skewed):
    """A batch of realistic size on a GPU (one long document among short ones, too) equals the CPU kernel."""
    lengths = [90 + (i * 37) % 60 for i in range(300)]
    if skewed:
        lengths[0] = 5000
    queries, docs = _texts([16] * 32, dim=64, seed=8), _texts(lengths, dim=64, seed=9)
    q_tokens, q_offsets = pack_tokens(queries)
    d_tokens, d_offsets = pack_tokens(docs)
    cpu = maxsim(q_tokens, q_offsets, d_tokens, d_offsets)
    gpu = maxsim(q_tokens.cuda(), q_offsets, d_tokens.cuda(), d_offsets)
    assert torch.allclose(gpu.cpu(), cpu, atol=1e-5)


@pytest.fixture(params=[0, None], ids=["bit-patterns", "float32-copy"])
def bf16_reduction(request, monkeypatch):
    """Run a test with bfloat16 blocks reduced on their bit patterns (threshold 0), and with the default
    threshold (these small blocks then take the float32 copy)."""
    kernel = importlib.import_module("smart_plugins.scoring.maxsim")
    if request.param is not None:
        monkeypatch.setattr(kernel, "_BITS_MIN_ELEMENTS", request.param)
    return request.param


@pytest.mark.parametrize("shift", [0.0, -0.9])
def test_bfloat16_cpu_path_equals_the_float32_reduction_of_the_same_products(shift, bf16_reduction):
    """bfloat16 maxima of large blocks are reduced on their bit patterns (no float32 copy); the result
    must be the float32 reduction of the same bfloat16 products, also where every similarity of a
    query token to a document is negative (shift -0.9: the exact fallback)."""
    queries = _texts([16, 4, 9], dim=32, seed=6)
    docs = [d + shift for d in _texts([120, 80, 3, 150, 1, 64], dim=32, seed=7)]
    q_tokens, q_offsets = pack_tokens(queries)
    d_tokens, d_offsets = pack_tokens(docs)
    q16, d16 = q_tokens.bfloat16(), d_tokens.bfloat16()
    reference = reduce_similarities((d16 @ q16.T).float(), d_offsets, q_offsets)
    for max_elements in (40 * len(q_tokens), 2**25):  # many blocks, one block
        scores = maxsim(q16, q_offsets, d16, d_offsets, max_elements=max_elements)
        assert torch.allclose(scores, reference, atol=1e-6, rtol=0)
    if shift:
        assert float(reference.min()) < 0  # maxima below zero exist: the fallback was needed


@pytest.mark.parametrize("bad", [float("nan"), float("inf"), -float("inf")])
def test_bfloat16_cpu_path_still_refuses_nan_or_infinite_document_vectors(bad, bf16_reduction):
    docs = [d.clone() for d in DOCS]
    docs[3][1, 0] = bad
    d_tokens, d_offsets = pack_tokens(docs)
    q_tokens, q_offsets = pack_tokens(QUERIES)
    with pytest.raises(ValueError, match="document 3"):
        maxsim(q_tokens.bfloat16(), q_offsets, d_tokens.bfloat16(), d_offsets)


@pytest.mark.parametrize("max_elements", [2**25, 1600])  # one block; many
@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16, torch.float16])
@pytest.mark.parametrize("query_lengths", [[1], [16], [9, 7], [17], [40]])
def test_short_query_path_equals_the_blocked_path(query_lengths, dtype, max_elements, monkeypatch):
    """At most 16 query tokens take the (doc tokens, query tokens) product orientation; with the
    path switched off they take the other. Both give the same scores, in one block or many."""
    kernel = importlib.import_module("smart_plugins.scoring.maxsim")
    queries = _texts(query_lengths, dim=32, seed=10)
    docs = _texts([120, 80, 3, 150, 1, 64], dim=32, seed=11)
    q_tokens, q_offsets = pack_tokens([q.to(dtype) for q in queries])
    d_tokens, d_offsets = pack_tokens([d.to(dtype) for d in docs])
    default = maxsim(q_tokens, q_offsets, d_tokens, d_offsets, max_elements=max_elements)
    monkeypatch.setattr(kernel, "_SHORT_QUERY_TOKENS", 0)
    blocked = maxsim(q_tokens, q_offsets, d_tokens, d_offsets, max_elements=max_elements)
    assert torch.allclose(default, blocked, atol=1e-6, rtol=0)
    if dtype == torch.float32:
        assert torch.allclose(default, _brute_force(queries, docs), atol=1e-5)


def test_float32_short_queries_against_many_documents_take_the_blocked_path(monkeypatch):
    kernel = importlib.import_module("smart_plugins.scoring.maxsim")
    monkeypatch.setattr(kernel, "_SHORT_QUERY_MAX_FP32_TOKENS", 100)
    taken = []
    monkeypatch.setattr(kernel, "_short_query_maxsim", lambda *args: taken.append(args))
    queries, docs = _texts([8], dim=16, seed=14), _texts([60, 70], dim=16, seed=15)
    q_tokens, q_offsets = pack_tokens(queries)
    d_tokens, d_offsets = pack_tokens(docs)
    scores = maxsim(q_tokens, q_offsets, d_tokens, d_offsets)  # 130 float32 tokens: the blocked path
    assert not taken and torch.allclose(scores, _brute_force(queries, docs), atol=1e-5)
    maxsim(q_tokens.bfloat16(), q_offsets, d_tokens.bfloat16(), d_offsets)  # bfloat16: the short-query path
    assert len(taken) == 1


@pytest.mark.parametrize("n_query_tokens", [1, 16, 17, 32, 33, 64, 256])
def test_reduce_similarities_at_every_query_width(n_query_tokens):
    """Rows of up to two cache lines are reduced by reduceat, wider ones a document at a time."""
    gen = torch.Generator().manual_seed(12)
    lengths = [7, 1, 130, 40, 2]
    sims = torch.randn(sum(lengths), n_query_tokens, generator=gen)
    doc_offsets = torch.tensor([0, *torch.tensor(lengths).cumsum(0).tolist()])
    expected = torch.stack([sims[a:b].amax(dim=0) for a, b in zip(doc_offsets[:-1], doc_offsets[1:])]).mean(dim=1)
    reduced = reduce_similarities(sims, doc_offsets, torch.tensor([0, n_query_tokens]))
    assert torch.allclose(reduced[0], expected, atol=1e-6, rtol=0)


def test_reduce_similarities_in_blocks_of_whole_documents(monkeypatch):
    """Narrow rows beyond one block are reduced block by block; a document larger than a block is a block."""
    kernel = importlib.import_module("smart_plugins.scoring.maxsim")
    monkeypatch.setattr(kernel, "_REDUCE_BLOCK_BYTES", 256)  # 16 rows of 4 similarities
    gen = torch.Generator().manual_seed(13)
    lengths = [7, 1, 40, 3, 9, 9, 2, 30]
    sims = torch.randn(sum(lengths), 4, generator=gen)
    doc_offsets = torch.tensor([0, *torch.tensor(lengths).cumsum(0).tolist()])
    expected = torch.stack([sims[a:b].amax(dim=0) for a, b in zip(doc_offsets[:-1], doc_offsets[1:])]).mean(dim=1)
    reduced = reduce_similarities(sims, doc_offsets, torch.tensor([0, 4]))
    assert torch.allclose(reduced[0], expected, atol=1e-6, rtol=0)
