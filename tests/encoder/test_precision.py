"""Mixed-precision encoding (``SmartEncoder(autocast=...)``): float32 outputs, recorded with the vectors."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from smart_plugins.encoder import SmartEncoder
from smart_plugins.encoder.precision import AUTOCAST_DTYPES

TEXTS = ["Extremely Naive Charset Analyser - debug files", "Tcl/Tk image format support: development files"]


def test_autocast_runs_the_forward_pass_in_bfloat16_and_returns_float32(tiny_model_dir: Path) -> None:
    full = SmartEncoder(str(tiny_model_dir), device="cpu").encode(TEXTS)
    mixed = SmartEncoder(str(tiny_model_dir), device="cpu", autocast="bfloat16").encode(TEXTS)
    assert mixed.pooled.dtype == torch.float32 and mixed.tokens.dtype == torch.float32
    assert mixed.lengths.tolist() == full.lengths.tolist()
    assert not torch.equal(mixed.tokens, full.tokens)  # the products really ran in bfloat16
    cosine = (mixed.pooled * full.pooled).sum(1) / (mixed.pooled.norm(dim=1) * full.pooled.norm(dim=1))
    assert cosine.min() > 0.99
    assert torch.allclose(mixed.tokens.norm(dim=1), torch.ones(len(mixed.tokens)), atol=1e-5)


def test_autocast_is_part_of_the_encoder_identity(tiny_model_dir: Path) -> None:
    assert "autocast" not in SmartEncoder(str(tiny_model_dir), device="cpu").describe()
    assert SmartEncoder(str(tiny_model_dir), device="cpu", autocast="bfloat16").describe()["autocast"] == "bfloat16"


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"autocast": "int8"}, "autocast must be None or one of 'bfloat16', 'float16', got 'int8'"),
        ({"autocast": torch.bfloat16}, "autocast must be None or one of"),
        ({"autocast": "bfloat16", "dtype": "float16"}, "cannot be combined with dtype='float16'"),
        ({"autocast": "bfloat16", "backend": "onnx"}, "backend='onnx' sets its own precision"),
    ],
)
def test_bad_autocast_is_refused_by_name(tiny_model_dir: Path, kwargs: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message.replace("(", r"\(").replace(")", r"\)")):
        SmartEncoder(str(tiny_model_dir), device="cpu", **kwargs)


def test_an_index_built_with_autocast_reopens_with_it_and_refuses_a_full_precision_encoder(tiny_model_dir: Path, tmp_path: Path) -> None:
    from smart_plugins.index import SmartIndex

    mixed = SmartEncoder(str(tiny_model_dir), device="cpu", autocast="bfloat16")
    with SmartIndex.create(tmp_path / "idx", mixed, compression="fp16") as index:
        index.add(TEXTS, ids=["a", "b"])
        expected = [(h.id, h.score) for h in index.search(TEXTS[0], k=2)]
    with SmartIndex.open(tmp_path / "idx") as index:  # the recorded encoder, rebuilt
        assert index.encoder.autocast == "bfloat16"
        assert [(h.id, h.score) for h in index.search(TEXTS[0], k=2)] == expected  # the same query vectors
    with pytest.raises(ValueError, match="autocast: index has 'bfloat16', encoder has None"):
        SmartIndex.open(tmp_path / "idx", SmartEncoder(str(tiny_model_dir), device="cpu"))


def test_cli_autocast_choices_are_the_encoders_and_build_records_it(cli_build) -> None:
    from smart_plugins.cli.index_command import AUTOCAST_CHOICES
    from smart_plugins.cli.main import main
    from smart_plugins.index.smart_index import recorded_encoder

    assert AUTOCAST_CHOICES == tuple(AUTOCAST_DTYPES)
    folder = cli_build(TEXTS, "--autocast", "bfloat16")
    assert recorded_encoder(folder)["autocast"] == "bfloat16"
    assert main(["search", str(folder), "Charset", "--device", "cpu", "--json"]) == 0  # rebuilt with autocast
