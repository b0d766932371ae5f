"""TokenAdapter: shape contract, save/load round trip, pick-up by SmartEncoder."""

from __future__ import annotations

import json

import pytest
import torch
from sentence_transformers import SentenceTransformer

from smart_plugins.encoder import ADAPTED_TOKENS_KEY, SmartEncoder
from smart_plugins.training import TokenAdapter, attach_adapter, find_adapter, load_sentence_transformer, save_model

TEXTS = ["the red star library", "python debug files for the blue moon server"]


def test_forward_writes_unit_vectors_and_keeps_pooled():
    adapter = TokenAdapter(8, 3, seed=1)
    pooled = torch.randn(2, 8)
    out = adapter({"token_embeddings": torch.randn(2, 4, 8), "sentence_embedding": pooled.clone()})
    assert out[ADAPTED_TOKENS_KEY].shape == (2, 4, 3)
    assert torch.allclose(out[ADAPTED_TOKENS_KEY].norm(dim=-1), torch.ones(2, 4), atol=1e-5)
    assert torch.equal(out["sentence_embedding"], pooled)


def test_input_scale_does_not_matter():
    adapter = TokenAdapter(8, 3, seed=1)
    states = torch.randn(5, 8)
    assert torch.allclose(adapter.project(states), adapter.project(7.5 * states), atol=1e-6)


def test_bad_arguments_are_named():
    with pytest.raises(ValueError, match="output_dim"):
        TokenAdapter(8, 0)
    with pytest.raises(ValueError, match="size 8"):
        TokenAdapter(8, 2).project(torch.randn(3, 5))
    with pytest.raises(KeyError, match="token_embeddings"):
        TokenAdapter(8, 2)({"sentence_embedding": torch.ones(1, 8)})


def test_fingerprint_follows_weights():
    a, b = TokenAdapter(8, 4, seed=0), TokenAdapter(8, 4, seed=0)
    assert a.fingerprint() == b.fingerprint()
    with torch.no_grad():
        b.linear.weight[0, 0] += 1e-3
    assert a.fingerprint() != b.fingerprint()


def test_save_load_round_trip_through_sentence_transformers(tiny_model_dir, tmp_path):
    model = SentenceTransformer(str(tiny_model_dir), device="cpu")
    base_pooled = model.encode(TEXTS, convert_to_tensor=True)
    adapter = attach_adapter(model, 5, seed=3)
    with torch.no_grad():
        adapter.norm.weight.mul_(1.5)  # not the init values: the weights must really be saved
    out = save_model(model, tmp_path / "with-adapter")
    modules = json.loads((out / "modules.json").read_text())
    assert modules[-1]["type"] == "smart_plugins.encoder.token_adapter.TokenAdapter"
    assert list((out / modules[-1]["path"]).glob("*.safetensors"))

    reloaded = load_sentence_transformer(str(out), device="cpu")
    loaded = find_adapter(reloaded)
    assert loaded is not None and loaded.output_dim == 5
    assert loaded.fingerprint() == adapter.fingerprint()
    # sentence-transformers' own encode is unchanged by the adapter
    assert torch.allclose(reloaded.encode(TEXTS, convert_to_tensor=True), base_pooled, atol=1e-6)


def test_smart_encoder_picks_up_saved_adapter(tiny_model_dir, tiny_encoder, tmp_path):
    model = SentenceTransformer(str(tiny_model_dir), device="cpu")
    adapter = attach_adapter(model, 6, seed=0)
    out = save_model(model, tmp_path / "enc")
    encoder = SmartEncoder(str(out), device="cpu")
    assert encoder.token_dim == 6
    assert encoder.describe()["adapter"]["sha256"] == adapter.fingerprint()
    assert tiny_encoder.describe()["adapter"] is None
    enc, base = encoder.encode(TEXTS), tiny_encoder.encode(TEXTS)
    assert enc.token_dim == 6
    assert torch.allclose(enc.pooled, base.pooled, atol=1e-6)
    assert enc.lengths.tolist() == base.lengths.tolist()
    # token vectors are the adapter applied to the base model's token states
    assert torch.allclose(enc.tokens, adapter.project(base.tokens).detach(), atol=1e-5)


def test_attach_twice_and_save_over_existing_are_refused(tiny_model_dir, tmp_path):
    model = SentenceTransformer(str(tiny_model_dir), device="cpu")
    attach_adapter(model, 4)
    with pytest.raises(ValueError, match="already has a TokenAdapter"):
        attach_adapter(model, 4)
    save_model(model, tmp_path / "m")
    with pytest.raises(FileExistsError):
        save_model(model, tmp_path / "m")
    save_model(model, tmp_path / "m", overwrite=True)
    assert (tmp_path / "m" / "modules.json").is_file()


def test_folders_saved_under_the_old_module_path_still_load(tiny_model_dir, tmp_path):
    """The adapter class moved from smart_plugins.training.adapter to the encoder package."""
    model = SentenceTransformer(str(tiny_model_dir), device="cpu")
    adapter = attach_adapter(model, 4, seed=1)
    out = save_model(model, tmp_path / "old-layout")
    modules = json.loads((out / "modules.json").read_text())
    modules[-1]["type"] = "smart_plugins.training.adapter.TokenAdapter"
    (out / "modules.json").write_text(json.dumps(modules))
    encoder = SmartEncoder(str(out), device="cpu")
    assert encoder.describe()["adapter"]["sha256"] == adapter.fingerprint()
