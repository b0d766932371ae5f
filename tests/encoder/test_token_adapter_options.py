"""TokenAdapter's optional parts: a learned mix of the last layers and learned query-token weights."""

from __future__ import annotations

import pytest
import torch
from sentence_transformers import SentenceTransformer

from smart_plugins.encoder import SmartEncoder, weight_tokens
from smart_plugins.scoring import late_scores
from smart_plugins.training import TokenAdapter, attach_adapter, find_adapter, load_sentence_transformer, save_model

QUERIES = ["red star library", "python debug files for the blue moon server"]
DOCS = ["the red star library holds maps", "debug symbols for the moon server, python build"]


def _perturb(adapter: TokenAdapter, seed: int = 5) -> None:
    """Move every parameter off its neutral initial value (so saving and weighting matter)."""
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in adapter.parameters():
            p.add_(0.5 * torch.randn(p.shape, generator=gen))


def test_weight_tokens_is_a_weighted_mean_inside_maxsim():
    gen = torch.Generator().manual_seed(0)
    q = torch.nn.functional.normalize(torch.randn(3, 6, generator=gen), dim=-1)
    d = torch.nn.functional.normalize(torch.randn(4, 6, generator=gen), dim=-1)
    logits = torch.tensor([0.5, -1.0, 2.0])
    weights = torch.softmax(logits, 0)
    expected = float((weights * (q @ d.T).max(dim=1).values).sum())
    weighted = weight_tokens(q, logits, [3])
    assert late_scores([weighted], [d]).item() == pytest.approx(expected, abs=1e-6)


def test_weight_tokens_rejects_mismatched_shapes():
    with pytest.raises(ValueError, match="one logit per token"):
        weight_tokens(torch.ones(3, 2), torch.ones(2), [3])
    with pytest.raises(ValueError, match="lengths sum"):
        weight_tokens(torch.ones(3, 2), torch.ones(3), [2])


def test_layer_mix_and_weights_need_their_inputs():
    adapter = TokenAdapter(8, 4, layers=3, query_weights=True, seed=0)
    assert adapter.state_size == 24
    with pytest.raises(ValueError, match="3 layer"):
        adapter.project(torch.randn(2, 8))
    with pytest.raises(KeyError, match="hidden states"):
        adapter({"token_embeddings": torch.randn(1, 2, 8)})
    with pytest.raises(ValueError, match="without query_weights"):
        TokenAdapter(8, 4).weight_logits(torch.randn(2, 8))
    with pytest.raises(ValueError, match="layers"):
        TokenAdapter(8, 4, layers=0)


def test_reference_adapter_identity_is_unchanged_by_the_options():
    plain = TokenAdapter(8, 4, seed=0)
    assert "layers" not in plain.describe_adapter()
    mixed = TokenAdapter(8, 4, layers=2, seed=0)
    assert mixed.describe_adapter()["layers"] == 2
    assert mixed.fingerprint() != plain.fingerprint()


def test_live_encoder_matches_the_cached_state_path(tiny_model_dir):
    """What training computes from cached states (hidden_layers encoder + encode_packed) is
    exactly what the encoder gives once the adapter is attached: queries weighted, docs unit."""
    base = SmartEncoder(str(tiny_model_dir), device="cpu", hidden_layers=2)
    assert base.token_dim == 64 and base.describe()["hidden_layers"] == 2
    cached_q, cached_d = base.encode_queries(QUERIES), base.encode_documents(DOCS)

    model = SentenceTransformer(str(tiny_model_dir), device="cpu")
    adapter = attach_adapter(model, 5, layers=2, query_weights=True, seed=1)
    _perturb(adapter)
    live = SmartEncoder(model, device="cpu")
    live_q, live_d = live.encode_queries(QUERIES), live.encode_documents(DOCS)

    with torch.no_grad():
        packed_q = adapter.encode_packed(cached_q.tokens, cached_q.lengths, kind="query")
        packed_d = adapter.encode_packed(cached_d.tokens, cached_d.lengths, kind="document")
    assert torch.allclose(live_q.tokens, packed_q, atol=1e-5)
    assert torch.allclose(live_d.tokens, packed_d, atol=1e-5)
    assert torch.allclose(live_d.tokens.norm(dim=-1), torch.ones(len(live_d.tokens)), atol=1e-5)
    norms = live_q.tokens.norm(dim=-1)
    assert not torch.allclose(norms, torch.ones_like(norms), atol=1e-3)  # weights really applied
    for i in range(len(QUERIES)):  # ... and average 1 over each query
        assert float(norms[live_q.offsets[i] : live_q.offsets[i + 1]].mean()) == pytest.approx(1.0, abs=1e-5)
    # the pooled vector is still the model's own
    assert torch.allclose(live_q.pooled, cached_q.pooled, atol=1e-6)


def test_options_survive_save_and_load(tiny_model_dir, tmp_path):
    model = SentenceTransformer(str(tiny_model_dir), device="cpu")
    adapter = attach_adapter(model, 5, layers=2, query_weights=True, seed=1)
    _perturb(adapter)
    before = SmartEncoder(model, device="cpu").encode_queries(QUERIES)
    out = save_model(model, tmp_path / "mixed")

    reloaded = SmartEncoder(str(out), device="cpu")
    found = find_adapter(reloaded.model)
    assert found is not None and found.layers == 2 and found.query_weights
    assert found.fingerprint() == adapter.fingerprint()
    after = reloaded.encode_queries(QUERIES)
    assert torch.allclose(before.tokens, after.tokens, atol=1e-6)
    # the saved backbone config asks for hidden states, so a plain load encodes too
    plain = load_sentence_transformer(str(out), device="cpu")
    features = plain.preprocess(QUERIES)
    with torch.no_grad():
        assert plain(features)["smart_token_embeddings"].shape[-1] == 5
    assert torch.allclose(
        torch.from_numpy(plain.encode(QUERIES)), SentenceTransformer(str(tiny_model_dir), device="cpu").encode(QUERIES, convert_to_tensor=True), atol=1e-6
    )


def test_hidden_layers_refuses_an_adapter(tiny_model_dir):
    model = SentenceTransformer(str(tiny_model_dir), device="cpu")
    attach_adapter(model, 4)
    with pytest.raises(ValueError, match="token adapter"):
        SmartEncoder(model, device="cpu", hidden_layers=2)
