"""SmartSentenceTransformer: drop-in encode, SMART extras, save/load round trip."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from sentence_transformers import SentenceTransformer

from smart_plugins.encoder import EncodedTexts, SmartEncoder, TokenPolicy
from smart_plugins.integrations.sentence_transformers import (
    SMART_CONFIG_FILE,
    SmartSentenceTransformer,
    read_smart_config,
)
from smart_plugins.scoring import ScoreWeights, smart_scores

TEXTS = ["the red star binds the label", "python package with debug files", "a banana and an apple"]


@pytest.fixture(scope="module")
def smart_model(tiny_model_dir):
    return SmartSentenceTransformer(str(tiny_model_dir), device="cpu")


def test_encode_is_exactly_the_wrapped_models_output(smart_model, tiny_model_dir):
    plain = SentenceTransformer(str(tiny_model_dir), device="cpu")
    for kwargs in ({}, {"convert_to_tensor": True}, {"normalize_embeddings": True, "batch_size": 2}):
        ours, theirs = smart_model.encode(TEXTS, **kwargs), plain.encode(TEXTS, **kwargs)
        assert type(ours) is type(theirs)
        assert ours.shape == theirs.shape
        assert np.array_equal(np.asarray(ours), np.asarray(theirs))
    assert isinstance(smart_model, SentenceTransformer)
    assert list(type(m) for m in smart_model) == list(type(m) for m in plain)  # no module added


def test_encode_smart_matches_smart_encoder(smart_model, tiny_encoder):
    ours = smart_model.encode_smart_documents(TEXTS)
    reference = tiny_encoder.encode_documents(TEXTS)
    assert isinstance(ours, EncodedTexts)
    assert torch.allclose(ours.pooled, reference.pooled, atol=1e-6)
    assert torch.equal(ours.offsets, reference.offsets)
    assert torch.allclose(ours.tokens, reference.tokens, atol=1e-6)
    # pooled equals the plain encode() output
    assert np.allclose(ours.pooled.numpy(), smart_model.encode(TEXTS), atol=1e-6)


def test_similarity_is_hybrid_for_encoded_texts_and_plain_otherwise(smart_model):
    q, d = smart_model.encode_smart_queries(TEXTS[:2]), smart_model.encode_smart_documents(TEXTS)
    expected = smart_scores(q, d, smart_model.smart_weights).hybrid
    assert torch.allclose(smart_model.similarity(q, d), expected)
    emb = smart_model.encode(TEXTS, convert_to_tensor=True)
    assert torch.allclose(smart_model.similarity(emb, emb), SentenceTransformer.similarity(smart_model, emb, emb))
    with pytest.raises(TypeError, match="not a mix"):
        smart_model.similarity(q, emb)


def test_rank_and_scores_follow_the_weights(smart_model):
    scores = smart_model.smart_scores(["red star label"], TEXTS, weights="1:0")
    assert scores.late is None and torch.allclose(scores.hybrid, scores.pooled)
    ranked = smart_model.rank("red star label", TEXTS, top_k=2)
    full = smart_model.smart_scores(["red star label"], TEXTS)
    assert [r["corpus_id"] for r in ranked] == torch.argsort(full.hybrid[0], descending=True)[:2].tolist()
    assert ranked[0]["score"] == pytest.approx(float(full.hybrid[0].max()), abs=1e-5)
    assert set(ranked[0]) == {"corpus_id", "score"}  # CrossEncoder.rank's keys
    with_text = smart_model.rank("red star label", TEXTS, return_documents=True)
    assert len(with_text) == len(TEXTS) and with_text[0]["text"] == TEXTS[with_text[0]["corpus_id"]]
    with pytest.raises(ValueError, match="top_k"):
        smart_model.rank("red", TEXTS, top_k=0)


def test_save_round_trips_without_trust_remote_code(tiny_model_dir, tmp_path):
    policy = TokenPolicy(skip_punctuation=True)
    model = SmartSentenceTransformer(str(tiny_model_dir), device="cpu", weights="0.25:1", token_policy=policy)
    folder = tmp_path / "saved"
    model.save(str(folder))
    modules = json.loads((folder / "modules.json").read_text())
    assert all(m["type"].startswith("sentence_transformers.") for m in modules)
    assert read_smart_config(folder)["weights"] == {"pool": 0.25, "late": 1.0}
    card = (folder / "README.md").read_text()
    assert "## SMART settings" in card and "pool 0.25, late 1" in card and '"skip_punctuation": true' in card
    plain = SentenceTransformer(str(folder), device="cpu")  # would raise if a custom module type were saved
    again = SmartSentenceTransformer(str(folder), device="cpu")
    assert again.smart_weights == ScoreWeights(0.25, 1.0)
    assert again.token_policy == policy
    assert np.array_equal(plain.encode(TEXTS), model.encode(TEXTS))
    assert np.array_equal(again.encode(TEXTS), model.encode(TEXTS))
    # explicit arguments win over the saved settings
    assert SmartSentenceTransformer(str(folder), device="cpu", weights="1:1").smart_weights == ScoreWeights()


def test_from_model_shares_weights(tiny_model_dir):
    plain = SentenceTransformer(str(tiny_model_dir), device="cpu")
    smart = SmartSentenceTransformer.from_model(plain, weights={"pool": 0, "late": 1})
    assert smart[0] is plain[0]
    assert np.array_equal(smart.encode(TEXTS), plain.encode(TEXTS))
    assert isinstance(smart.smart_encoder, SmartEncoder)
    with pytest.raises(TypeError, match="SentenceTransformer"):
        SmartSentenceTransformer.from_model("not a model")  # type: ignore[arg-type]


def test_bad_saved_config_is_reported(tiny_model_dir, tmp_path):
    folder = tmp_path / "broken"
    SentenceTransformer(str(tiny_model_dir), device="cpu").save(str(folder))
    (folder / SMART_CONFIG_FILE).write_text("{not json")
    with pytest.raises(ValueError, match="not valid JSON"):
        SmartSentenceTransformer(str(folder), device="cpu")
    with pytest.raises(ValueError, match="POOL:LATE"):
        SmartSentenceTransformer(str(tiny_model_dir), device="cpu", weights="oops")


def test_index_built_with_the_wrapper_reopens_with_a_plain_encoder(smart_model, tiny_model_dir, tmp_path):
    from smart_plugins.index import SmartIndex

    with SmartIndex.create(tmp_path / "idx", smart_model.smart_encoder) as index:
        index.add(TEXTS, ids=["a", "b", "c"])
        expected = [h.id for h in index.search("red star label", k=3)]
    with SmartIndex.open(tmp_path / "idx") as reopened:  # encoder rebuilt from the recorded config
        assert [h.id for h in reopened.search("red star label", k=3)] == expected
    with SmartIndex.open(tmp_path / "idx", SmartEncoder(str(tiny_model_dir), device="cpu")) as again:
        assert len(again) == 3
