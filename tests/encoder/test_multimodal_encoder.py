"""SmartEncoder on tiny random CLIP, SigLIP and vision-language models, loaded like hub models."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image
from sentence_transformers import SentenceTransformer

from smart_plugins.encoder import SmartEncoder, TokenPolicy
from smart_plugins.encoder.multimodal import CLS_PATCH_TOKEN_ID, PATCH_TOKEN_ID
from smart_plugins.scoring import maxsim

FAMILIES = {
    "clip": ("tiny_clip_dir", "dual"),
    "siglip": ("tiny_siglip_dir", "dual"),
    "vlm": ("tiny_vlm_dir", "vlm"),
    "qwen2_vl": ("tiny_qwen2_vl_dir", "vlm"),
    "qwen3_vl": ("tiny_qwen3_vl_dir", "vlm"),
}
#: The vision-language models (message format): LLaVA-style, Qwen2-VL and Qwen3-VL.
VLM_FIXTURES = [fixture for fixture, family in FAMILIES.values() if family == "vlm"]


@pytest.fixture(scope="module", params=sorted(FAMILIES))
def loaded(request):
    fixture, family = FAMILIES[request.param]
    folder = request.getfixturevalue(fixture)
    return request.param, family, SmartEncoder(str(folder), device="cpu"), SentenceTransformer(str(folder), device="cpu")


def _inputs(name: str, images) -> list:
    pil = Image.open(images[0]).convert("RGB")
    array = np.asarray(Image.open(images[2]).convert("RGB"))
    inputs = ["a red square", pil, str(images[1]), "blue stripes on a page", array]
    if FAMILIES[name][1] == "vlm":
        inputs += [
            {"text": "green circle", "image": str(images[1])},
            [{"role": "user", "content": [{"type": "image", "image": pil}, {"type": "text", "text": "red"}]}],
        ]
    return inputs


def test_family_and_description(loaded):
    _, family, encoder, _ = loaded
    assert encoder.family == family
    described = encoder.describe()["multimodal"]
    assert described["family"] == family and "image" in described["modalities"]


def test_pooled_equals_sentence_transformers_encode_for_every_input_kind(loaded, tiny_images):
    name, _, encoder, st = loaded
    inputs = _inputs(name, tiny_images)
    encoded = encoder.encode(inputs)
    assert len(encoded) == len(inputs)
    # texts form one batch, as in SentenceTransformer.encode (SigLIP pools the last, possibly padded, position)
    texts = [i for i, item in enumerate(inputs) if isinstance(item, str) and not item.endswith(".png")]
    reference = torch.as_tensor(st.encode([inputs[i] for i in texts]))
    assert torch.allclose(encoded.pooled[texts], reference, atol=1e-5), name
    for i, item in enumerate(inputs):
        if i not in texts:
            reference = torch.as_tensor(st.encode([item]))[0]
            assert torch.allclose(encoded.pooled[i], reference, atol=1e-5), (name, i)
    # the query/document entry points give the model's own encode_query / encode_document
    q = encoder.encode_queries([inputs[1]])
    assert torch.allclose(q.pooled[0], torch.as_tensor(st.encode_query([inputs[1]]))[0], atol=1e-5)
    assert torch.all(encoded.lengths > 0)


def test_mixed_batch_comes_back_in_the_order_given(loaded, tiny_images):
    name, _, encoder, _ = loaded
    inputs = _inputs(name, tiny_images)
    together = encoder.encode(inputs)
    for i, item in enumerate(inputs):
        if isinstance(item, str) and not item.endswith(".png"):
            continue  # texts are batched together (padding matters for SigLIP); covered above
        alone = encoder.encode([item])
        assert torch.allclose(together.pooled[i], alone.pooled[0], atol=1e-5)
        assert together.lengths[i] == alone.lengths[0]
        assert torch.allclose(together.token_vectors(i), alone.token_vectors(0), atol=1e-4)


def test_dual_encoder_patches_are_the_vision_grid(tiny_clip_dir, tiny_siglip_dir, tiny_images):
    for folder in (tiny_clip_dir, tiny_siglip_dir):
        encoder = SmartEncoder(str(folder), device="cpu")
        encoded = encoder.encode([str(tiny_images[0])])
        assert encoded.lengths.tolist() == [16]  # 32 x 32 pixels in 8-pixel patches
        assert set(encoded.token_ids.tolist()) == {PATCH_TOKEN_ID}
        first = int(encoded.positions[0])  # CLIP's class token sits at position 0
        assert encoded.positions.tolist() == list(range(first, first + 16))
        assert encoded.token_dim == encoded.pooled_dim


def test_clip_tokens_share_the_pooled_space(tiny_clip_dir, tiny_images):
    """The EOS token / class patch go through the same norm + projection as the pooled vector."""
    encoder = SmartEncoder(str(tiny_clip_dir), device="cpu", token_policy=TokenPolicy(keep_special_tokens=True))
    text = encoder.encode(["a red square"])
    eos = text.token_vectors(0)[-1]  # [SEP] is CLIP's EOS here
    assert torch.allclose(eos, torch.nn.functional.normalize(text.pooled[0], dim=0), atol=1e-5)
    image = encoder.encode([str(tiny_images[0])])
    assert image.token_ids[0] == CLS_PATCH_TOKEN_ID and image.lengths.tolist() == [17]
    assert torch.allclose(image.token_vectors(0)[0], torch.nn.functional.normalize(image.pooled[0], dim=0), atol=1e-5)


def test_siglip_text_tokens_share_the_pooled_space(tiny_siglip_dir):
    encoder = SmartEncoder(str(tiny_siglip_dir), device="cpu", token_policy=TokenPolicy(keep_special_tokens=True))
    text = encoder.encode(["a red square"])
    last = text.token_vectors(0)[-1]  # SigLIP pools the last position
    assert torch.allclose(last, torch.nn.functional.normalize(text.pooled[0], dim=0), atol=1e-5)


def _processor_visual_tokens(st: SentenceTransformer, item, pad: int) -> int:
    """Visual tokens the model's own processor made of ``item`` (checked against its patch grid)."""
    features = st.preprocess([item])
    count = int((features["input_ids"] == pad).sum())
    if "image_grid_thw" in features:  # Qwen-VL: one token per merge_size x merge_size patches
        merge = st[0].processor.image_processor.merge_size
        assert count == int(features["image_grid_thw"].prod(dim=-1).sum()) // merge**2
    else:  # LLaVA: a 32 x 32 crop in 8-pixel patches
        assert count == 16
    return count


@pytest.mark.parametrize("fixture", VLM_FIXTURES)
def test_vlm_keeps_visual_tokens_and_drops_the_chat_template(request, fixture, tiny_images):
    folder = request.getfixturevalue(fixture)
    encoder = SmartEncoder(str(folder), device="cpu")
    st = SentenceTransformer(str(folder), device="cpu")
    tokenizer = encoder.tokenizer
    pad = tokenizer.convert_tokens_to_ids("<|image_pad|>")
    processor_count = _processor_visual_tokens(st, str(tiny_images[0]), pad)
    image = encoder.encode_documents([str(tiny_images[0])])
    assert image.token_ids.tolist() == [pad] * processor_count
    text = encoder.encode(["red star page"])
    expected = tokenizer("red star page", add_special_tokens=False)["input_ids"]
    assert text.token_ids.tolist() == expected  # no <|im_start|>, role, newline or <|im_end|>
    both = encoder.encode([{"text": "red star page", "image": str(tiny_images[0])}])
    ids = both.token_ids.tolist()
    assert ids.count(pad) == processor_count and [i for i in ids if i != pad] == expected
    specials = set(tokenizer.all_special_ids) - {pad}
    assert not specials & set(ids)


@pytest.mark.parametrize("fixture", VLM_FIXTURES)
def test_vlm_queries_can_be_text_only(request, fixture, tiny_images):
    folder = request.getfixturevalue(fixture)
    policy = TokenPolicy(query_visual_tokens=False)
    encoder = SmartEncoder(str(folder), device="cpu", token_policy=policy)
    pad = encoder.tokenizer.convert_tokens_to_ids("<|image_pad|>")
    item = {"text": "red star", "image": str(tiny_images[0])}
    query = encoder.encode_queries([item])
    document = encoder.encode_documents([item])
    assert pad not in query.token_ids.tolist() and query.lengths.tolist() == [len(encoder.tokenizer("red star", add_special_tokens=False)["input_ids"])]
    st = SentenceTransformer(str(folder), device="cpu")
    assert document.token_ids.tolist().count(pad) == _processor_visual_tokens(st, item, pad)
    # the pooled query is still the model's own, computed with the image
    assert torch.allclose(query.pooled[0], torch.as_tensor(st.encode_query([item]))[0], atol=1e-5)
    assert encoder.describe()["token_policy"]["query_visual_tokens"] is False
    assert TokenPolicy.from_description(encoder.describe()["token_policy"]) == policy


def test_text_to_image_maxsim_ranks_with_the_token_vectors(loaded, tiny_images):
    _, _, encoder, _ = loaded
    docs = encoder.encode_documents([str(p) for p in tiny_images])
    queries = encoder.encode_queries([str(tiny_images[2]), "blue stripes"])
    scores = maxsim(queries.tokens, queries.offsets, docs.tokens, docs.offsets)
    assert scores.shape == (2, 4)
    assert int(scores[0].argmax()) == 2  # an image finds itself: its patches match exactly


@pytest.mark.parametrize(
    ("family", "bad", "fragment"),
    [
        ("text", [Image.new("RGB", (8, 8))], r"texts\[0\] is Image .*modalities are \['text'\]"),
        ("text", ["ok", np.zeros((8, 8, 3), dtype=np.uint8)], r"texts\[1\] is ndarray"),
        ("text", {"a": 1}, r"texts\[0\] is a dict with keys \['a'\]"),
        ("text", b"x", "texts is bytes"),
        ("text", ["ok", b"x"], r"texts\[1\] is bytes"),
        ("text", ["ok", "bad \ud800 text"], r"texts\[1\] holds a lone surrogate"),
        ("clip", [{"text": "x", "image": Image.new("RGB", (8, 8))}], r"texts\[0\] is image\+text input.*modalities are: text, image"),
        ("clip", ["ok", {"a": 1}], r"texts\[1\] cannot be encoded.*unrecognized modality keys"),
        ("clip", [None], r"texts\[0\] is None"),
        ("vlm", ["fine", "   "], r"texts\[1\] is an empty"),
    ],
)
def test_bad_inputs_name_the_position_and_the_modalities(request, tiny_encoder, family, bad, fragment):
    encoder = tiny_encoder if family == "text" else SmartEncoder(str(request.getfixturevalue(FAMILIES[family][0])), device="cpu")
    with pytest.raises((TypeError, ValueError), match=fragment):
        encoder.encode(bad)


def test_empty_input_gives_an_empty_batch(tiny_encoder, tiny_clip_dir):
    for encoder in (tiny_encoder, SmartEncoder(str(tiny_clip_dir), device="cpu")):
        empty = encoder.encode([])
        assert len(empty) == 0 and empty.pooled.shape == (0, encoder.pooled_dim)
        assert empty.tokens.shape == (0, encoder.token_dim)
