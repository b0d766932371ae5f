"""ONNX Runtime / OpenVINO backends: same pooled and token vectors as torch, clear errors otherwise.

The export runs once per session on the tiny in-process BERT (tens of seconds on a busy machine),
into a temporary cache folder.
"""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import pytest
import torch

from smart_plugins.encoder import SmartEncoder
from smart_plugins.encoder.onnx_backend import BackendError, OnnxBackbone, check_backend

pytestmark = pytest.mark.skipif(
    importlib.util.find_spec("onnxruntime") is None or importlib.util.find_spec("onnxscript") is None,
    reason="needs smart-plugins[onnx]",
)

TEXTS = [
    "the red star binds the code marker",
    "apple banana",
    "python package library files for development and debug documentation " * 3,
    "query token vectors, fast search!",
]


@pytest.fixture(scope="module")
def onnx_cache(tmp_path_factory: pytest.TempPathFactory, monkeypatch_module: pytest.MonkeyPatch) -> Path:
    folder = tmp_path_factory.mktemp("smart-cache")
    monkeypatch_module.setenv("SMART_PLUGINS_CACHE", str(folder))
    return folder / "onnx"


@pytest.fixture(scope="module")
def monkeypatch_module():
    with pytest.MonkeyPatch.context() as patch:
        yield patch


@pytest.fixture(scope="module")
def torch_reference(tiny_model_dir: Path):
    return SmartEncoder(str(tiny_model_dir), device="cpu").encode(TEXTS)


@pytest.fixture(scope="module")
def onnx_encoder(tiny_model_dir: Path, onnx_cache: Path) -> SmartEncoder:
    return SmartEncoder(str(tiny_model_dir), device="cpu", backend="onnx")


@pytest.mark.slow
def test_onnx_matches_torch_pooled_and_tokens(onnx_encoder: SmartEncoder, torch_reference) -> None:
    assert isinstance(onnx_encoder.model[0].model, OnnxBackbone)
    got = onnx_encoder.encode(TEXTS)
    assert got.lengths.tolist() == torch_reference.lengths.tolist()
    assert got.token_ids.tolist() == torch_reference.token_ids.tolist()
    torch.testing.assert_close(got.pooled, torch_reference.pooled, atol=1e-4, rtol=0)
    torch.testing.assert_close(got.tokens, torch_reference.tokens, atol=1e-4, rtol=0)
    # same vectors as torch: an index or cache made with either serves the other
    assert onnx_encoder.describe() == SmartEncoder(onnx_encoder.model_name, device="cpu").describe()


@pytest.mark.slow
def test_export_is_cached_once_and_checked(onnx_encoder: SmartEncoder, onnx_cache: Path, tiny_model_dir: Path) -> None:
    folders = [p for p in onnx_cache.iterdir() if p.is_dir()]
    assert len(folders) == 1 and not folders[0].name.startswith(".")  # no temporary folder left behind
    record = json.loads((folders[0] / "export.json").read_text())
    assert record["output"] == "last_hidden_state" and record["check_max_abs_diff"] <= 1e-3
    stamp = (folders[0] / "model.onnx").stat().st_mtime_ns
    again = SmartEncoder(str(tiny_model_dir), device="cpu", backend="onnx")  # reuses the cached graph
    assert (folders[0] / "model.onnx").stat().st_mtime_ns == stamp
    assert again.backend_info["file"] == onnx_encoder.backend_info["file"]


@pytest.mark.slow
def test_int8_is_a_smaller_graph_close_to_torch(onnx_encoder: SmartEncoder, tiny_model_dir: Path, torch_reference) -> None:
    int8 = SmartEncoder(str(tiny_model_dir), device="cpu", backend="onnx-int8")
    fp32_file, int8_file = Path(onnx_encoder.backend_info["file"]), Path(int8.backend_info["file"])
    assert int8_file.name == "model-int8.onnx" and int8_file.stat().st_size < fp32_file.stat().st_size
    got = int8.encode(TEXTS)
    cosine = (got.pooled * torch_reference.pooled).sum(dim=1)
    assert float(cosine.min()) > 0.99
    assert not torch.equal(got.pooled, torch_reference.pooled)  # really the quantised graph
    assert int8.describe()["backend"] == "onnx-int8"  # its vectors differ: recorded as its own identity


@pytest.mark.slow
@pytest.mark.skipif(importlib.util.find_spec("openvino") is None, reason="openvino not installed")
def test_openvino_matches_torch(onnx_encoder: SmartEncoder, tiny_model_dir: Path, torch_reference) -> None:
    encoder = SmartEncoder(str(tiny_model_dir), device="cpu", backend="openvino")
    assert encoder.model[0].model.runtime == "openvino"
    got = encoder.encode(TEXTS)
    torch.testing.assert_close(got.pooled, torch_reference.pooled, atol=1e-4, rtol=0)
    torch.testing.assert_close(got.tokens, torch_reference.tokens, atol=1e-4, rtol=0)


def test_unknown_backend_is_refused_before_loading() -> None:
    with pytest.raises(ValueError, match=r"backend must be one of 'torch', 'onnx', 'onnx-int8', 'openvino', got 'tensorrt'"):
        SmartEncoder("/nonexistent/model", backend="tensorrt")
    assert check_backend("openvino") == "openvino"


def test_all_layer_states_are_refused(tiny_model_dir: Path, onnx_cache: Path) -> None:
    with pytest.raises(BackendError, match="only the last layer"):
        SmartEncoder(str(tiny_model_dir), device="cpu", hidden_layers=2, backend="onnx")


def test_dtype_is_refused(tiny_model_dir: Path, onnx_cache: Path) -> None:
    with pytest.raises(ValueError, match="dtype must be None"):
        SmartEncoder(str(tiny_model_dir), device="cpu", dtype="bfloat16", backend="onnx")


def test_image_model_is_refused(tiny_clip_dir: Path, onnx_cache: Path) -> None:
    with pytest.raises(BackendError, match="text-only encoders"):
        SmartEncoder(str(tiny_clip_dir), device="cpu", backend="onnx")


def test_a_backbone_the_exporter_cannot_trace_gives_a_clear_error(tiny_model_dir: Path, onnx_cache: Path) -> None:
    """A backbone whose Python control flow depends on tensor values cannot be exported."""
    from sentence_transformers import SentenceTransformer
    from transformers import BertModel

    class BranchingBert(BertModel):
        def forward(self, input_ids=None, **kwargs):  # type: ignore[override]
            if int(input_ids.max()) > 10:  # data-dependent branch: torch.export cannot trace this
                kwargs["attention_mask"] = kwargs.get("attention_mask")
            return super().forward(input_ids=input_ids, **kwargs)

    model = SentenceTransformer(str(tiny_model_dir), device="cpu")
    original = model[0].model
    branching = BranchingBert(original.config)
    branching.load_state_dict(original.state_dict())
    model[0].model = branching.eval()
    with pytest.raises(BackendError, match=r"torch.onnx.export could not export BranchingBert \(.+\); use backend='torch'"):
        SmartEncoder(model, device="cpu", backend="onnx")
    assert not list(onnx_cache.glob(".*")) if onnx_cache.exists() else True  # nothing half-written left


def test_cli_backend_choices_are_the_encoders() -> None:
    from smart_plugins.cli.index_command import BACKEND_CHOICES
    from smart_plugins.encoder.onnx_backend import BACKEND_NAMES

    assert BACKEND_CHOICES == BACKEND_NAMES


@pytest.mark.slow
def test_cli_builds_and_searches_an_int8_index(cli_build, onnx_encoder: SmartEncoder, capsys) -> None:
    from smart_plugins.cli.main import main
    from smart_plugins.index.smart_index import recorded_encoder

    folder = cli_build(TEXTS, "--backend", "onnx-int8")
    assert recorded_encoder(folder)["backend"] == "onnx-int8"
    capsys.readouterr()
    # no --backend: the index's recorded int8 backend is used for the query, so the encoders match
    assert main(["search", str(folder), TEXTS[1], "-k", "1", "--json", "--device", "cpu"]) == 0
    assert json.loads(capsys.readouterr().out)["hits"][0]["id"] == "d1"
    # asking for torch explicitly is refused with the differing field named
    assert main(["search", str(folder), TEXTS[1], "--device", "cpu", "--backend", "torch"]) != 0
    assert "backend: index has 'onnx-int8'" in capsys.readouterr().err


@pytest.mark.slow
def test_a_callers_model_object_keeps_its_torch_backbone(onnx_encoder: SmartEncoder, tiny_model_dir: Path) -> None:
    """SmartEncoder(model_obj, backend="onnx") swaps the backbone in a copy, never in the caller's object."""
    from sentence_transformers import SentenceTransformer

    model = SentenceTransformer(str(tiny_model_dir), device="cpu")
    backbone = model[0].model
    before = model.encode(TEXTS, convert_to_tensor=True)
    encoder = SmartEncoder(model, device="cpu", backend="onnx")  # the graph is cached by onnx_encoder
    assert model[0].model is backbone and not isinstance(backbone, OnnxBackbone)
    assert isinstance(encoder.model[0].model, OnnxBackbone)
    assert torch.equal(model.encode(TEXTS, convert_to_tensor=True), before)
    torch.testing.assert_close(encoder.encode(TEXTS).pooled, before, atol=1e-4, rtol=0)
