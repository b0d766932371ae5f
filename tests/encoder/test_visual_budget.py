"""Visual-token estimates, caps and budget batches against transformers' own Qwen2-VL image processor."""

from __future__ import annotations

import pytest
import torch
from PIL import Image

from smart_plugins.encoder.multimodal import default_dtype
from smart_plugins.encoder.visual_budget import cap_visual_tokens, estimate_visual_tokens, plan_batches, visual_token_costs


def _qwen_processor():
    from transformers import Qwen2VLImageProcessorPil

    return Qwen2VLImageProcessorPil(patch_size=4, merge_size=2, temporal_patch_size=2, min_pixels=256, max_pixels=4096)


def _tokens(processor, image) -> int:
    grid = processor(images=[image], return_tensors="pt")["image_grid_thw"][0]
    return int(grid.prod()) // 4  # 2 x 2 patches merge into one visual token


@pytest.mark.parametrize("size", [(40, 30), (400, 300), (10, 10), (33, 97)])
def test_estimate_matches_the_processor(size):
    processor = _qwen_processor()
    image = Image.new("RGB", size)
    assert estimate_visual_tokens(size[1], size[0], processor) == _tokens(processor, image)
    assert visual_token_costs([image, {"text": "x", "image": image}], processor) == [_tokens(processor, image)] * 2


def test_cap_limits_tokens_per_page():
    processor = _qwen_processor()
    big = Image.new("RGB", (400, 300))
    assert _tokens(processor, big) > 20
    assert cap_visual_tokens(processor, 20)
    assert 0 < _tokens(processor, big) <= 20
    assert estimate_visual_tokens(300, 400, processor) == _tokens(processor, big)


def test_budget_batches_hold_the_budget_and_every_input_once():
    costs = [300, 1800, 500, 1200, 900, 2500, 100]
    batches = plan_batches(costs, max_items=3, budget=2000)
    assert sorted(i for b in batches for i in b) == list(range(len(costs)))
    for batch in batches:
        assert len(batch) <= 3
        assert len(batch) == 1 or sum(costs[i] for i in batch) <= 2000
    assert [5] in batches  # larger than the budget alone: its own batch


def test_bfloat16_is_the_default_for_vlms_on_cuda_only():
    assert default_dtype("vlm", "cuda") == torch.bfloat16
    assert default_dtype("vlm", "cpu") is None and default_dtype("dual", "cuda") is None


@pytest.mark.parametrize("fixture", ["tiny_vlm_dir", "tiny_qwen2_vl_dir", "tiny_qwen3_vl_dir"])
def test_encoder_batches_by_visual_token_budget(request, fixture, tiny_images):
    from smart_plugins.encoder import SmartEncoder

    folder = request.getfixturevalue(fixture)
    budgeted = SmartEncoder(str(folder), device="cpu", visual_token_budget=12)  # one page per batch
    plain = SmartEncoder(str(folder), device="cpu")
    paths = [str(p) for p in tiny_images]
    a, b = budgeted.encode(paths), plain.encode(paths)
    assert torch.allclose(a.pooled, b.pooled, atol=1e-5) and a.lengths.tolist() == b.lengths.tolist()
    with pytest.raises(ValueError, match="visual_token_budget must be a positive integer"):
        SmartEncoder(str(folder), device="cpu", visual_token_budget=0)


QWEN_FIXTURES = ["tiny_qwen2_vl_dir", "tiny_qwen3_vl_dir"]


@pytest.mark.parametrize("fixture", QWEN_FIXTURES)
def test_tiny_qwen_vl_keeps_exactly_the_processor_visual_tokens(request, fixture, tmp_path):
    """Pages of several sizes: kept tokens = the processor's visual tokens = the loaded processor's estimate."""
    from sentence_transformers import SentenceTransformer

    from smart_plugins.encoder import SmartEncoder
    from smart_plugins.encoder.tiny_models import write_test_images

    folder = request.getfixturevalue(fixture)
    encoder, st = SmartEncoder(str(folder), device="cpu"), SentenceTransformer(str(folder), device="cpu")
    pages = [str(p) for size in ((48, 36), (20, 64), (16, 16)) for p in write_test_images(tmp_path / f"{size}", size=size)[:1]]
    processor = st[0].processor
    expected = [int(st.preprocess([page])["image_grid_thw"][0].prod()) // processor.image_processor.merge_size**2 for page in pages]
    assert len(set(expected)) == 3  # the dynamic resolution gives each size its own count
    encoded = encoder.encode_documents(pages)
    pad = encoder.tokenizer.convert_tokens_to_ids("<|image_pad|>")
    assert encoded.lengths.tolist() == expected
    assert set(encoded.token_ids.tolist()) == {pad}
    assert visual_token_costs(pages, processor) == expected
    reference = torch.as_tensor(st.encode_document(pages))
    assert torch.allclose(encoded.pooled, reference, atol=1e-5)


@pytest.mark.parametrize("fixture", QWEN_FIXTURES)
def test_max_visual_tokens_caps_a_qwen_vl_page(request, fixture, tmp_path):
    from smart_plugins.encoder import SmartEncoder
    from smart_plugins.encoder.tiny_models import write_test_images

    folder = request.getfixturevalue(fixture)
    page = str(write_test_images(tmp_path, size=(64, 48))[0])
    assert SmartEncoder(str(folder), device="cpu").encode_documents([page]).lengths.tolist() == [12]  # resized to 24 x 32 (max_pixels 1024)
    capped = SmartEncoder(str(folder), device="cpu", max_visual_tokens=6)
    lengths = capped.encode_documents([page]).lengths.tolist()
    assert 0 < lengths[0] <= 6
    assert visual_token_costs([page], capped.model[0].processor, 6) == lengths
