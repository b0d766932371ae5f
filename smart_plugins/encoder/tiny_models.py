"""Tiny randomly initialised multimodal models, built offline from transformers' own configs.

For tests, examples and benchmarks: each builder saves a transformers model plus its processor
to a folder and wraps it as a sentence-transformers model folder, which then loads exactly like
a hub model (``SentenceTransformer(folder)`` / ``SmartEncoder(folder)``). The weights are random:
these models exercise the code path (shapes, masks, parity, storage), not retrieval quality.

* :func:`build_tiny_clip` -- CLIP (text + image towers, projections), BERT tokenizer;
* :func:`build_tiny_siglip` -- SigLIP (attention-pooling image head), BERT tokenizer;
* :func:`build_tiny_vlm` -- a LLaVA-architecture vision-language model with a Qwen2 text
  backbone and a Qwen-style chat template (``<|im_start|>``, ``<|vision_start|>``,
  ``<|image_pad|>``...), run by sentence-transformers through the message format with
  last-token pooling, like Qwen3-VL-Embedding;
* :func:`build_tiny_qwen2_vl` -- a real ``Qwen2VLModel`` with its ``Qwen2VLProcessor``
  (the architecture of GME-Qwen2-VL);
* :func:`build_tiny_qwen3_vl` -- a real ``Qwen3VLModel`` with its ``Qwen3VLProcessor`` (the
  architecture of Qwen3-VL-Embedding, the method's reference model).

transformers' Qwen-VL processors build a video processor, which needs ``torchvision``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

#: Chat-template and vision tokens of the Qwen-VL family.
QWEN_SPECIAL_TOKENS = (
    "<|endoftext|>", "<|im_start|>", "<|im_end|>", "<|vision_start|>", "<|vision_end|>", "<|image_pad|>", "<|video_pad|>",
)
_WORDS = (
    "the a of and to in is for with on red green blue star moon code query document page chart table "
    "apple banana picture image photo square circle stripe dark light user assistant system"
).split()
# A minimal Qwen-style chat template: one <|im_start|>role\n ... <|im_end|>\n block per message,
# images as <|vision_start|><|image_pad|><|vision_end|> (the processor expands the pad).
QWEN_STYLE_CHAT_TEMPLATE = (
    "{% for message in messages %}<|im_start|>{{ message['role'] }}\n"
    "{% if message['content'] is string %}{{ message['content'] }}{% else %}{% for part in message['content'] %}"
    "{% if part['type'] == 'image' %}<|vision_start|><|image_pad|><|vision_end|>"
    "{% elif part['type'] == 'video' %}<|vision_start|><|video_pad|><|vision_end|>"
    "{% elif part['type'] == 'text' %}{{ part['text'] }}{% endif %}{% endfor %}{% endif %}<|im_end|>\n{% endfor %}"
    "{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)


def _bert_tokenizer() -> Any:
    from transformers import BertTokenizerFast

    vocab = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", ".", ",", "!", "?", "-", ":"]
    vocab += list("abcdefghijklmnopqrstuvwxyz0123456789") + [f"##{c}" for c in "abcdefghijklmnopqrstuvwxyz0123456789"]
    vocab += [w for w in _WORDS if w not in vocab]
    return BertTokenizerFast(vocab={t: i for i, t in enumerate(vocab)}, model_max_length=64)


def qwen_style_tokenizer() -> Any:
    """A byte-level BPE tokenizer (trained in-process on a few words) with Qwen's special tokens."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    backend = Tokenizer(models.BPE())
    backend.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    backend.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=320, special_tokens=list(QWEN_SPECIAL_TOKENS),
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(), show_progress=False,
    )
    backend.train_from_iterator([" ".join(_WORDS)] * 4 + ["\n"], trainer=trainer)
    tokenizer = PreTrainedTokenizerFast(
        tokenizer_object=backend, eos_token="<|im_end|>", pad_token="<|endoftext|>",
        additional_special_tokens=list(QWEN_SPECIAL_TOKENS[1:]), model_max_length=512,
    )
    tokenizer.padding_side = "left"
    tokenizer.chat_template = QWEN_STYLE_CHAT_TEMPLATE
    return tokenizer


def _qwen_tokenizer() -> tuple[Any, dict[str, int]]:
    """The Qwen-style tokenizer and the ids of its special tokens."""
    tokenizer = qwen_style_tokenizer()
    return tokenizer, {t: tokenizer.convert_tokens_to_ids(t) for t in QWEN_SPECIAL_TOKENS}


def _wrap(raw: Path, out: Path, pooling: str | None) -> Path:
    from sentence_transformers import SentenceTransformer
    from sentence_transformers.sentence_transformer.modules import Normalize, Pooling, Transformer

    transformer = Transformer(str(raw))
    modules: list[torch.nn.Module] = [transformer]
    if pooling is not None:
        modules += [Pooling(transformer.get_embedding_dimension(), pooling_mode=pooling), Normalize()]
    SentenceTransformer(modules=modules, device="cpu").save(str(out))
    return out


def _save_and_wrap(model: Any, processor: Any, path: Path, pooling: str | None) -> Path:
    """Save ``model`` and ``processor`` to ``path/raw`` and wrap them as a sentence-transformers folder ``path/st``."""
    raw = path / "raw"
    model.save_pretrained(raw)
    processor.save_pretrained(raw)
    return _wrap(raw, path / "st", pooling=pooling)


def build_tiny_clip(path: str | Path, *, seed: int = 0) -> Path:
    """A tiny random CLIP (32x32 images, 8-pixel patches: 16 patches) saved as a sentence-transformers folder.

    Examples
    --------
    >>> import tempfile
    >>> from smart_plugins.encoder import SmartEncoder
    >>> folder = build_tiny_clip(tempfile.mkdtemp())
    >>> SmartEncoder(str(folder), device="cpu").family
    'dual'
    """
    from transformers import CLIPConfig, CLIPImageProcessorPil, CLIPModel, CLIPProcessor

    path = Path(path)
    torch.manual_seed(seed)
    tokenizer = _bert_tokenizer()
    text = dict(
        vocab_size=len(tokenizer), hidden_size=32, intermediate_size=64, num_hidden_layers=2, num_attention_heads=2,
        max_position_embeddings=64, eos_token_id=tokenizer.sep_token_id, bos_token_id=tokenizer.cls_token_id,
        pad_token_id=tokenizer.pad_token_id,
    )
    vision = dict(hidden_size=32, intermediate_size=64, num_hidden_layers=2, num_attention_heads=2, image_size=32, patch_size=8)
    model = CLIPModel(CLIPConfig(text_config=text, vision_config=vision, projection_dim=16))
    images = CLIPImageProcessorPil(size={"shortest_edge": 32}, crop_size={"height": 32, "width": 32})
    return _save_and_wrap(model, CLIPProcessor(image_processor=images, tokenizer=tokenizer), path, pooling=None)


def build_tiny_siglip(path: str | Path, *, seed: int = 0) -> Path:
    """A tiny random SigLIP (32x32 images, 8-pixel patches: 16 patches) saved as a sentence-transformers folder."""
    from transformers import SiglipConfig, SiglipImageProcessorPil, SiglipModel, SiglipProcessor

    path = Path(path)
    torch.manual_seed(seed)
    tokenizer = _bert_tokenizer()
    text = dict(
        vocab_size=len(tokenizer), hidden_size=32, intermediate_size=64, num_hidden_layers=2, num_attention_heads=2,
        max_position_embeddings=64, pad_token_id=tokenizer.pad_token_id, bos_token_id=tokenizer.cls_token_id,
        eos_token_id=tokenizer.sep_token_id,
    )
    vision = dict(hidden_size=32, intermediate_size=64, num_hidden_layers=2, num_attention_heads=2, image_size=32, patch_size=8)
    model = SiglipModel(SiglipConfig(text_config=text, vision_config=vision))
    images = SiglipImageProcessorPil(size={"height": 32, "width": 32})
    return _save_and_wrap(model, SiglipProcessor(image_processor=images, tokenizer=tokenizer), path, pooling=None)


def build_tiny_vlm(path: str | Path, *, seed: int = 0) -> Path:
    """A tiny random LLaVA-architecture VLM with a Qwen2 text backbone and Qwen-style chat tokens.

    32x32 images in 8-pixel patches: 16 ``<|image_pad|>`` tokens per image. Last-token pooling,
    normalised, as Qwen3-VL-Embedding / GME declare.
    """
    from transformers import CLIPImageProcessorPil, LlavaConfig, LlavaModel, LlavaProcessor

    path = Path(path)
    torch.manual_seed(seed)
    tokenizer, ids = _qwen_tokenizer()
    vision = dict(
        model_type="clip_vision_model", hidden_size=32, intermediate_size=64, num_hidden_layers=2, num_attention_heads=2,
        image_size=32, patch_size=8,
    )
    text = dict(
        model_type="qwen2", vocab_size=len(tokenizer), hidden_size=32, intermediate_size=64, num_hidden_layers=2,
        num_attention_heads=2, num_key_value_heads=1, max_position_embeddings=512,
    )
    config = LlavaConfig(
        vision_config=vision, text_config=text, image_token_id=ids["<|image_pad|>"],
        vision_feature_select_strategy="default", vision_feature_layer=-1,
    )
    images = CLIPImageProcessorPil(size={"shortest_edge": 32}, crop_size={"height": 32, "width": 32})
    processor = LlavaProcessor(
        image_processor=images, tokenizer=tokenizer, patch_size=8, vision_feature_select_strategy="default",
        chat_template=QWEN_STYLE_CHAT_TEMPLATE, image_token="<|image_pad|>", num_additional_image_tokens=1,
    )
    return _save_and_wrap(LlavaModel(config), processor, path, pooling="lasttoken")


def _qwen_vl_processor(processor_class: Any, video_processor_class: Any, tokenizer: Any) -> Any:
    """A Qwen-VL processor: 4-pixel patches merged 2x2, 256-1024 pixels per image, the Qwen-style template."""
    from transformers import Qwen2VLImageProcessorPil

    images = Qwen2VLImageProcessorPil(patch_size=4, merge_size=2, temporal_patch_size=2, min_pixels=256, max_pixels=1024)
    videos = video_processor_class(patch_size=4, merge_size=2, temporal_patch_size=2)
    return processor_class(image_processor=images, tokenizer=tokenizer, video_processor=videos, chat_template=QWEN_STYLE_CHAT_TEMPLATE)


def _qwen_vl_token_ids(ids: dict[str, int]) -> dict[str, int]:
    """The image, video and vision-span token ids a Qwen-VL config takes."""
    return dict(
        image_token_id=ids["<|image_pad|>"], video_token_id=ids["<|video_pad|>"],
        vision_start_token_id=ids["<|vision_start|>"], vision_end_token_id=ids["<|vision_end|>"],
    )


def build_tiny_qwen2_vl(path: str | Path, *, seed: int = 0) -> Path:
    """A tiny random ``Qwen2VLModel`` + ``Qwen2VLProcessor`` (4-pixel patches merged 2x2; needs torchvision)."""
    from transformers import Qwen2VLConfig, Qwen2VLModel, Qwen2VLProcessor, Qwen2VLVideoProcessor

    torch.manual_seed(seed)
    tokenizer, ids = _qwen_tokenizer()
    processor = _qwen_vl_processor(Qwen2VLProcessor, Qwen2VLVideoProcessor, tokenizer)
    text = dict(
        vocab_size=len(tokenizer), hidden_size=32, intermediate_size=64, num_hidden_layers=2, num_attention_heads=2,
        num_key_value_heads=1, max_position_embeddings=512, bos_token_id=ids["<|endoftext|>"], eos_token_id=ids["<|im_end|>"],
        rope_parameters={"rope_type": "default", "rope_theta": 10000.0, "mrope_section": [2, 3, 3]},
    )
    vision = dict(depth=1, embed_dim=16, hidden_size=32, num_heads=2, mlp_ratio=2, patch_size=4, spatial_merge_size=2, temporal_patch_size=2)
    config = Qwen2VLConfig(text_config=text, vision_config=vision, **_qwen_vl_token_ids(ids))
    return _save_and_wrap(Qwen2VLModel(config), processor, Path(path), pooling="lasttoken")


def build_tiny_qwen3_vl(path: str | Path, *, seed: int = 0) -> Path:
    """A tiny random ``Qwen3VLModel`` + ``Qwen3VLProcessor`` (4-pixel patches merged 2x2; needs torchvision).

    The vision tower has two blocks with a DeepStack merger after the first, as Qwen3-VL has
    after several; last-token pooling, normalised, as Qwen3-VL-Embedding declares.
    """
    from transformers import Qwen3VLConfig, Qwen3VLModel, Qwen3VLProcessor, Qwen3VLVideoProcessor

    torch.manual_seed(seed)
    tokenizer, ids = _qwen_tokenizer()
    processor = _qwen_vl_processor(Qwen3VLProcessor, Qwen3VLVideoProcessor, tokenizer)
    text = dict(
        vocab_size=len(tokenizer), hidden_size=32, intermediate_size=64, num_hidden_layers=2, num_attention_heads=2,
        num_key_value_heads=1, head_dim=16, max_position_embeddings=512, pad_token_id=ids["<|endoftext|>"],
        rope_parameters={"rope_type": "default", "rope_theta": 10000.0, "mrope_section": [2, 3, 3], "mrope_interleaved": True},
    )
    vision = dict(
        depth=2, hidden_size=16, intermediate_size=32, num_heads=2, patch_size=4, spatial_merge_size=2, temporal_patch_size=2,
        out_hidden_size=32, num_position_embeddings=64, deepstack_visual_indexes=[0],
    )
    config = Qwen3VLConfig(text_config=text, vision_config=vision, **_qwen_vl_token_ids(ids))
    return _save_and_wrap(Qwen3VLModel(config), processor, Path(path), pooling="lasttoken")


def torchvision_works() -> bool:
    """Whether ``torchvision`` imports (transformers' Qwen-VL processors need it for videos)."""
    try:
        import torchvision  # noqa: F401
    except Exception:  # noqa: BLE001 - a CUDA-only build fails with OSError/RuntimeError, not ImportError
        return False
    return True


def write_test_images(folder: str | Path, *, size: tuple[int, int] = (48, 36)) -> list[Path]:
    """Write four small PNGs (red square, green circle, blue stripes, dark noise) and return their paths."""
    import numpy as np
    from PIL import Image, ImageDraw

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    width, height = size
    paths = []
    red = Image.new("RGB", size, "white")
    ImageDraw.Draw(red).rectangle([8, 6, width - 8, height - 6], fill=(220, 20, 20))
    green = Image.new("RGB", size, "white")
    ImageDraw.Draw(green).ellipse([6, 4, width - 6, height - 4], fill=(20, 200, 40))
    blue = Image.new("RGB", size, "white")
    for x in range(0, width, 8):
        ImageDraw.Draw(blue).rectangle([x, 0, x + 3, height], fill=(30, 40, 220))
    noise = Image.fromarray((np.random.RandomState(0).rand(height, width, 3) * 90).astype("uint8"))
    for name, image in (("red_square", red), ("green_circle", green), ("blue_stripes", blue), ("dark_noise", noise)):
        path = folder / f"{name}.png"
        image.save(path)
        paths.append(path)
    return paths
