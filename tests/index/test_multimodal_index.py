"""Image and image+text documents in a SmartIndex (tiny random CLIP and vision-language model)."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from smart_plugins.encoder import SmartEncoder
from smart_plugins.index import SmartIndex
from smart_plugins.encoder.tiny_models import write_test_images
from smart_plugins.index.heatmap import explain_heatmap, explain_heatmaps


#: The vision-language models (message format): LLaVA-style, Qwen2-VL and Qwen3-VL.
VLM_FIXTURES = ["tiny_vlm_dir", "tiny_qwen2_vl_dir", "tiny_qwen3_vl_dir"]


@pytest.fixture(scope="module", params=["tiny_clip_dir", *VLM_FIXTURES])
def encoder(request):
    return SmartEncoder(str(request.getfixturevalue(request.param)), device="cpu")


def test_image_documents_round_trip_search_rerank_upsert_delete(tmp_path, encoder, tiny_images):
    paths = [str(p) for p in tiny_images]
    index = SmartIndex.create(tmp_path / "idx", encoder)
    docs = paths[:3] + ["a page about blue stripes"]
    ids = index.add(docs, ids=["red", "green", "blue", "note"], metadata=[{"n": i} for i in range(4)])
    assert ids == ["red", "green", "blue", "note"]
    stored = index.get("green")
    assert stored.text == "" and stored.metadata == {"n": 1, "image": paths[1]}  # the reference, not pixels
    assert index.get("note").metadata == {"n": 3}
    # image -> image: a page finds itself first
    hits = index.search(paths[2], k=2, exhaustive=True)
    assert hits[0].id == "blue"
    # text -> image and a batch of mixed queries
    batch = index.search(["red square", Image.open(paths[0]).convert("RGB")], k=4)
    assert len(batch) == 2 and {h.id for h in batch[0]} == {"red", "green", "blue", "note"}
    assert batch[1][0].id == "red"
    assert [h.id for h in index.rerank(paths[1], ["red", "green", "blue"])][0] == "green"
    index.upsert([paths[3]], ids=["red"])
    assert index.get("red").metadata == {"image": paths[3]}
    assert index.search(paths[3], k=1, exhaustive=True)[0].id == "red"
    index.delete(["green"])
    assert "green" not in index and len(index) == 3
    reopened = SmartIndex.open(tmp_path / "idx", encoder=encoder)
    assert reopened.search(paths[2], k=1, exhaustive=True)[0].id == "blue"


@pytest.mark.parametrize("fixture", VLM_FIXTURES)
def test_image_plus_text_documents(request, fixture, tmp_path, tiny_images):
    encoder = SmartEncoder(str(request.getfixturevalue(fixture)), device="cpu")
    index = SmartIndex.create(tmp_path / "idx", encoder)
    index.add([{"text": "quarterly chart", "image": str(tiny_images[0])}, {"text": "a table", "image": str(tiny_images[2])}], ids=["a", "b"])
    assert index.get("a").text == "quarterly chart" and index.get("a").metadata["image"] == str(tiny_images[0])
    hits = index.search({"text": "quarterly chart", "image": str(tiny_images[0])}, k=2, exhaustive=True)
    assert hits[0].id == "a"
    assert len(index.search("quarterly chart", k=2)) == 2


def test_pixels_are_refused_as_documents_and_nothing_is_written(tmp_path, tiny_clip_dir, tiny_images):
    encoder = SmartEncoder(str(tiny_clip_dir), device="cpu")
    index = SmartIndex.create(tmp_path / "idx", encoder)
    index.add([str(tiny_images[0])], ids=["keep"])
    with pytest.raises(TypeError, match=r"texts\[1\] holds a \w+ image: the index stores a reference"):
        index.add([str(tiny_images[1]), Image.open(tiny_images[1])], ids=["x", "y"])
    with pytest.raises(ValueError, match=r"texts\[0\] is image\+text input"):  # CLIP cannot fuse them
        index.add([{"text": "x", "image": str(tiny_images[1])}])
    assert index.ids() == ["keep"]


def test_heatmap_png_has_the_image_size(tmp_path, encoder, tiny_images):
    index = SmartIndex.create(tmp_path / "idx", encoder)
    index.add([str(p) for p in tiny_images[:2]] + ["plain text"], ids=["a", "b", "t"])
    out = explain_heatmap(index, "red square", "a", tmp_path / "maps" / "a.png")
    with Image.open(out) as png:
        assert png.format == "PNG" and png.size == Image.open(tiny_images[0]).size
    evidence = index.explain("red square", "a")
    assert evidence.matches and all(m.doc_token in ("<patch>", "<|image_pad|>") for m in evidence.matches)
    with pytest.raises(ValueError, match="no image reference"):
        explain_heatmap(index, "red", "t", tmp_path / "t.png")


@pytest.mark.parametrize("fixture", VLM_FIXTURES)
def test_a_heatmap_for_each_image_of_a_document(request, fixture, tmp_path, tiny_images):
    encoder = SmartEncoder(str(request.getfixturevalue(fixture)), device="cpu")
    index = SmartIndex.create(tmp_path / "idx", encoder, compression="fp16")
    tall = write_test_images(tmp_path / "tall", size=(20, 64))[2]
    pages = [str(tiny_images[0]), str(tall)]
    index.add([{"text": "two pages", "image": pages}, str(tiny_images[1])], ids=["two", "one"])
    written = explain_heatmaps(index, "red square", "two", tmp_path / "maps" / "two.png")
    assert written == [tmp_path / "maps" / "two-1.png", tmp_path / "maps" / "two-2.png"]
    drawn = []
    for png, page in zip(written, pages):
        with Image.open(png) as heat, Image.open(page) as original:
            assert heat.format == "PNG" and heat.size == original.size
            drawn.append(np.asarray(heat.convert("RGB")))
    second = explain_heatmap(index, "red square", "two", tmp_path / "second.png", image=1)
    with Image.open(second) as heat:
        assert np.array_equal(np.asarray(heat.convert("RGB")), drawn[1])
    with pytest.raises(ValueError, match=r"image must be an image number of document 'two' \(it has 2\), got 2"):
        explain_heatmap(index, "red", "two", tmp_path / "x.png", image=2)
    assert explain_heatmaps(index, "red", "one", tmp_path / "one.png") == [tmp_path / "one.png"]


def test_chat_message_documents_are_refused_with_what_to_pass(tmp_path, tiny_qwen3_vl_dir, tiny_images):
    index = SmartIndex.create(tmp_path / "idx", SmartEncoder(str(tiny_qwen3_vl_dir), device="cpu"), compression="fp16")
    index.add([str(tiny_images[0])], ids=["keep"])
    message = [{"role": "user", "content": [{"type": "image", "image": str(tiny_images[1])}, {"type": "text", "text": "red"}]}]
    with pytest.raises(TypeError, match=r"texts\[1\] is a chat message: .* pass the image's path, or a \{'text': \.\.\., 'image': path\} dict"):
        index.add([str(tiny_images[2]), message], ids=["a", "b"])
    assert index.ids() == ["keep"]
    assert index.search(message, k=1, exhaustive=True)[0].id == "keep"  # as a query, a message is fine


def test_vlm_text_evidence_has_character_spans(tmp_path, tiny_vlm_dir):
    """A VLM's token positions include the chat template; spans are still recovered from the text."""
    from smart_plugins.index.evidence_html import highlighted_text

    encoder = SmartEncoder(str(tiny_vlm_dir), device="cpu")
    index = SmartIndex.create(tmp_path / "idx", encoder, compression="fp16")
    text = "red star on a blue page"
    index.add([text, "green moon"], ids=["a", "b"])
    evidence = index.explain("blue star", "a")
    spans = [m.doc_span for m in evidence.matches]
    assert spans and all(s is not None for s in spans)
    for match in evidence.matches:
        start, end = match.doc_span
        assert match.doc_token.replace("\u0120", " ").strip() == text[start:end].strip()
    assert "<mark" in highlighted_text(text, evidence)
