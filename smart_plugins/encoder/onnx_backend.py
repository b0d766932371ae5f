"""Run a text model's transformer backbone through ONNX Runtime or OpenVINO on the CPU.

sentence-transformers 6 offers ``backend="onnx"`` / ``"openvino"`` through Optimum, but no
Optimum ONNX release installs beside transformers 5.2x (``optimum-onnx`` 0.1.0 needs
transformers < 4.58 and fails to import with 5.23; ``optimum-intel`` 2.2 needs < 5.6). This module
is the minimal path that works on the project's stack:

1. the backbone (the ``transformers`` model inside the sentence-transformers ``Transformer``
   module) is exported from the loaded weights with ``torch.onnx.export`` (the dynamo exporter),
   offline, to a graph that returns ``last_hidden_state``;
2. the graph is run once on a check batch and compared with torch (an export that does not
   reproduce the model is refused, not cached);
3. it is cached, keyed by a hash of the weights and config, under ``$SMART_PLUGINS_CACHE/onnx``
   (default ``~/.cache/smart-plugins/onnx``), written atomically; the int8 variant is made from
   it with ONNX Runtime's dynamic quantisation;
4. :class:`OnnxBackbone` takes the backbone's place inside the loaded ``SentenceTransformer``, so
   the model's own pooling, normalisation and any token adapter run on its output exactly as on
   torch's: pooled vectors and token states still come from one pass.

Backends (``SmartEncoder(..., backend=...)``, CLI ``--backend``):

``"torch"``
    the model as loaded (default).
``"onnx"``
    ONNX Runtime, fp32 (graph optimisations on).
``"onnx-int8"``
    ONNX Runtime, weights quantised to int8 per channel (activations quantised on the fly).
``"openvino"``
    OpenVINO on the same fp32 ONNX file, fp32 inference precision.
"""

from __future__ import annotations

import copy
import hashlib
import inspect
import json
import logging
import os
import re
import shutil
import tempfile
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch
from torch import Tensor

from smart_plugins.atomic import atomic_output, atomic_write_text, fsync_dir

if TYPE_CHECKING:
    from sentence_transformers import SentenceTransformer

logger = logging.getLogger(__name__)

#: Bumped when the export recipe changes, so older cached graphs are not reused.
EXPORT_FORMAT = 1


@dataclass(frozen=True)
class BackendSpec:
    """How one backend name runs: its runtime and the weights' precision."""

    runtime: str  # "onnxruntime" or "openvino"
    precision: str  # "fp32" or "int8"
    package: str  # what to pip install


#: Backend names :class:`~smart_plugins.encoder.SmartEncoder` accepts besides ``"torch"``.
BACKENDS: dict[str, BackendSpec] = {
    "onnx": BackendSpec("onnxruntime", "fp32", "onnxruntime onnx onnxscript"),
    "onnx-int8": BackendSpec("onnxruntime", "int8", "onnxruntime onnx onnxscript"),
    "openvino": BackendSpec("openvino", "fp32", "openvino onnx onnxscript"),
}
#: Backends whose vectors equal torch's (fp32; checked to 1e-3 at export, ~1e-6 in practice): an index
#: or an encoded cache made with one is valid for the others, so ``describe()`` does not name them.
#: The int8 backend's vectors differ (pooled cosine ~0.99 to torch's) and are recorded as its own.
SAME_VECTORS: frozenset[str] = frozenset({"torch", "onnx", "openvino"})
#: Every accepted backend name, ``"torch"`` first.
BACKEND_NAMES: tuple[str, ...] = ("torch", *BACKENDS)

#: Largest absolute difference of ``last_hidden_state`` (fp32 export vs torch) accepted on the check batch.
EXPORT_TOLERANCE = 1e-3
_CHECK_TEXTS = (
    "Late interaction keeps one vector per token of the text.",
    "Short one.",
    "A third, somewhat longer text, so that the check batch has a sequence length and a batch size "
    "that the export sample did not have, and padding in two of its rows.",
)
_SAMPLE_TEXTS = ("SMART keeps every token state of the text.", "Pooling throws them away, sadly.")


#: The tokenizer outputs an exported graph takes (those the tokenizer gives and the backbone accepts).
_GRAPH_INPUTS = ("input_ids", "attention_mask", "token_type_ids")


class BackendError(ValueError):
    """A backend cannot run this model (wrong kind of model, export failure, missing package)."""


def check_backend(backend: Any) -> str:
    """Return ``backend`` if it is a known backend name, else raise ValueError listing them.

    Examples
    --------
    >>> check_backend("onnx-int8")
    'onnx-int8'
    >>> check_backend("tensorrt")  # doctest: +IGNORE_EXCEPTION_DETAIL
    Traceback (most recent call last):
    ValueError: backend must be one of 'torch', 'onnx', 'onnx-int8', 'openvino', got 'tensorrt'
    """
    if not isinstance(backend, str) or backend not in BACKEND_NAMES:
        names = ", ".join(repr(b) for b in BACKEND_NAMES)
        raise ValueError(f"backend must be one of {names}, got {backend!r}")
    return backend


def default_cache_dir() -> Path:
    """``$SMART_PLUGINS_CACHE/onnx``, default ``~/.cache/smart-plugins/onnx``."""
    root = os.environ.get("SMART_PLUGINS_CACHE", str(Path.home() / ".cache" / "smart-plugins"))
    return Path(root) / "onnx"


def use_backend(
    model: SentenceTransformer,
    backend: str,
    *,
    cache_dir: str | Path | None = None,
    threads: int | None = None,
) -> dict[str, Any]:
    """Swap the backbone of a loaded text ``model`` for an exported graph run by ``backend``, in place.

    Returns a JSON-able description (backend, runtime, precision, cache file). Raises
    :class:`BackendError` for a model the exporter cannot handle, with the reason.

    Examples
    --------
    >>> from sentence_transformers import SentenceTransformer
    >>> from smart_plugins.models import resolve_model_name
    >>> model = SentenceTransformer(resolve_model_name("minilm"), device="cpu")
    >>> info = use_backend(model, "onnx")  # doctest: +SKIP
    >>> type(model[0].model).__name__, info["precision"]  # doctest: +SKIP
    ('OnnxBackbone', 'fp32')
    """
    spec = BACKENDS.get(check_backend(backend))
    if spec is None:
        raise ValueError("backend 'torch' needs no swap")
    _require(spec)
    transformer, backbone = _text_backbone(model)
    folder = export_backbone(model, cache_dir=cache_dir)
    path = folder / "model.onnx"
    if spec.precision == "int8":
        path = quantize_int8(folder)
    names = json.loads((folder / "export.json").read_text(encoding="utf-8"))["input_names"]
    transformer.model = OnnxBackbone(path, backbone.config, names, runtime=spec.runtime, threads=threads)
    return {"backend": backend, "runtime": spec.runtime, "precision": spec.precision, "file": str(path)}


def copy_for_swap(model: SentenceTransformer) -> SentenceTransformer:
    """A shallow copy of ``model`` whose first module is a shallow copy too, for :func:`use_backend`.

    Swapping the copy's backbone leaves ``model`` as it was: a caller's own ``SentenceTransformer``
    keeps its torch backbone. Nothing is duplicated in memory (weights, tokenizer and the other
    modules are shared); only the containers that hold the modules are new.

    Examples
    --------
    >>> from sentence_transformers import SentenceTransformer
    >>> from smart_plugins.models import resolve_model_name
    >>> model = SentenceTransformer(resolve_model_name("minilm"), device="cpu")
    >>> copy = copy_for_swap(model)
    >>> copy[0].model = torch.nn.Identity()
    >>> type(model[0].model).__name__, copy[1] is model[1]
    ('BertModel', True)
    """
    clone = _shallow_module_copy(model)
    first = next(iter(clone._modules))
    clone._modules[first] = _shallow_module_copy(clone._modules[first])
    return clone


def _shallow_module_copy(module: torch.nn.Module) -> torch.nn.Module:
    """``copy.copy`` with its own registries of submodules, parameters and buffers (copy.copy shares them)."""
    clone = copy.copy(module)
    for registry in ("_modules", "_parameters", "_buffers"):
        clone.__dict__[registry] = type(module.__dict__[registry])(module.__dict__[registry])
    return clone


def export_backbone(model: SentenceTransformer, *, cache_dir: str | Path | None = None) -> Path:
    """Export ``model``'s backbone to ONNX (fp32) once; returns the cache folder holding ``model.onnx``.

    The folder is named by a hash of the backbone's class, config and weights, and appears
    atomically (written in a temporary folder, checked, then renamed), so an interrupted export
    leaves nothing that a later call would load.
    """
    from filelock import FileLock

    _require(BACKENDS["onnx"])
    transformer, backbone = _text_backbone(model)
    root = Path(cache_dir) if cache_dir is not None else default_cache_dir()
    folder = root / _weights_key(backbone)
    if (folder / "export.json").is_file():
        return folder
    root.mkdir(parents=True, exist_ok=True)
    with FileLock(str(folder) + ".lock"):
        if (folder / "export.json").is_file():  # another process finished it meanwhile
            return folder
        tmp = Path(tempfile.mkdtemp(prefix=f".{folder.name}.", dir=root))
        try:
            names = _export(model, backbone, tmp / "model.onnx")
            diff = _check_export(model, backbone, tmp / "model.onnx", names)
            atomic_write_text(
                tmp / "export.json",
                json.dumps({"format": EXPORT_FORMAT, "backbone": type(backbone).__name__, "input_names": names,
                            "output": "last_hidden_state", "check_max_abs_diff": diff, "torch": torch.__version__}, indent=1),
            )
            os.replace(tmp, folder)
            fsync_dir(root)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
    logger.info("exported %s to %s", type(backbone).__name__, folder)
    return folder


def quantize_int8(folder: str | Path) -> Path:
    """``folder/model-int8.onnx``: ONNX Runtime dynamic int8 quantisation of ``folder/model.onnx`` (made once).

    Weights are int8 with one scale per output channel; activations are quantised on the fly.
    """
    folder = Path(folder)
    target = folder / "model-int8.onnx"
    if target.is_file():
        return target
    source = folder / "model.onnx"
    if any(p.name.startswith("model.onnx.") for p in folder.iterdir()):
        raise BackendError("backend 'onnx-int8': the fp32 graph keeps its weights in external data (over 2 GB); "
                           "int8 quantisation is only supported for smaller models here")
    from onnxruntime.quantization import QuantType, quantize_dynamic

    with atomic_output(target) as tmp, _quiet():
        # per-channel weight scales: per-tensor int8 took MiniLM's pooled cosine to torch down to 0.90
        # on real passages, per-channel keeps it at 0.99 (64 debian-synopsis passages)
        quantize_dynamic(source, tmp, weight_type=QuantType.QInt8, per_channel=True)
    return target


class OnnxBackbone(torch.nn.Module):
    """Stands in for a ``transformers`` backbone: runs its exported graph, returns ``last_hidden_state``.

    Sits where sentence-transformers' ``Transformer`` module keeps its model, so the modules
    after it (pooling, normalisation, a token adapter) see the same features as with torch.

    Parameters
    ----------
    path:
        The ``.onnx`` file.
    config:
        The original model's ``transformers`` config (sentence-transformers reads sizes from it).
    input_names:
        The graph's inputs, in order (``input_ids``, ``attention_mask``, ...).
    runtime:
        ``"onnxruntime"`` or ``"openvino"``.
    threads:
        Intra-op threads; default ``torch.get_num_threads()``, so both backends use the same.

    Examples
    --------
    >>> OnnxBackbone("model.onnx", None, ["input_ids"], runtime="tvm")  # doctest: +IGNORE_EXCEPTION_DETAIL
    Traceback (most recent call last):
    ValueError: runtime must be 'onnxruntime' or 'openvino', got 'tvm'
    """

    def __init__(self, path: str | Path, config: Any, input_names: list[str], *, runtime: str = "onnxruntime",
                 threads: int | None = None) -> None:
        super().__init__()
        if runtime not in ("onnxruntime", "openvino"):
            raise ValueError(f"runtime must be 'onnxruntime' or 'openvino', got {runtime!r}")
        self.config = config
        self.input_names = list(input_names)
        self.runtime = runtime
        self.path = str(path)
        threads = threads or torch.get_num_threads()
        if runtime == "onnxruntime":
            import onnxruntime as ort

            options = ort.SessionOptions()
            options.intra_op_num_threads = threads
            options.inter_op_num_threads = 1
            self._session = ort.InferenceSession(self.path, options, providers=["CPUExecutionProvider"])
            graph_inputs = {i.name for i in self._session.get_inputs()}
        else:
            import openvino as ov

            core = ov.Core()
            compiled = core.compile_model(self.path, "CPU", {"INFERENCE_PRECISION_HINT": "f32", "INFERENCE_NUM_THREADS": threads})
            self._request = compiled.create_infer_request()
            self._output = compiled.output("last_hidden_state")
            graph_inputs = {name for port in compiled.inputs for name in port.get_names()}
        self._feed_names = [n for n in self.input_names if n in graph_inputs]

    @property
    def device(self) -> torch.device:
        return torch.device("cpu")

    def forward(self, input_ids: Tensor | None = None, attention_mask: Tensor | None = None, **features: Any) -> dict[str, Tensor]:
        given = {"input_ids": input_ids, "attention_mask": attention_mask, **features}
        feeds = {}
        for name in self._feed_names:
            value = given.get(name)
            if value is None:
                raise ValueError(f"the exported graph needs input {name!r}, which the tokenizer did not produce")
            feeds[name] = value.detach().cpu().to(torch.int64).numpy()
        if self.runtime == "onnxruntime":
            hidden = self._session.run(["last_hidden_state"], feeds)[0]
        else:
            hidden = self._request.infer(feeds)[self._output].copy()
        return {"last_hidden_state": torch.from_numpy(hidden)}


# ---------------------------------------------------------------------- helpers
def _require(spec: BackendSpec) -> None:
    modules = ["onnx", "onnxscript", "onnxruntime" if spec.runtime == "onnxruntime" else "openvino"]
    missing = [m for m in modules if not _importable(m)]
    if missing:
        raise ModuleNotFoundError(
            f"this backend needs {', '.join(missing)}: pip install 'smart-plugins[onnx]' (or pip install {spec.package})"
        )


def _importable(module: str) -> bool:
    import importlib.util

    return importlib.util.find_spec(module) is not None


def _text_backbone(model: Any) -> tuple[Any, torch.nn.Module]:
    """The ``Transformer`` module and its ``transformers`` model, if this is a text model we can export."""
    from sentence_transformers.base.modules.transformer import Transformer

    first = model[0] if len(model) else None
    if not isinstance(first, Transformer):
        raise BackendError(f"the ONNX/OpenVINO backends need a sentence-transformers Transformer as the first module, "
                           f"this model starts with {type(first).__name__}; use backend='torch'")
    backbone = first.model
    if isinstance(backbone, OnnxBackbone):
        raise BackendError("this model already runs an exported graph (backend swapped once already)")
    text = getattr(first, "modality_config", {}).get("text", {})
    modalities = [str(m) for m in getattr(model, "modalities", ["text"])]
    if modalities != ["text"] or text.get("method") != "forward" or text.get("method_output_name") != "last_hidden_state":
        raise BackendError(f"the ONNX/OpenVINO backends support text-only encoders whose backbone returns last_hidden_state; "
                           f"this {type(backbone).__name__} handles {modalities}; use backend='torch'")
    if getattr(backbone.config, "output_hidden_states", False):
        raise BackendError("the ONNX/OpenVINO backends return only the last layer; this model asks for every layer's "
                           "hidden states (hidden_layers > 1 or a layer-mixing adapter); use backend='torch'")
    return first, backbone


def _weights_key(backbone: torch.nn.Module) -> str:
    """Hash of what decides the exported graph: class, config, weights, exporter version."""
    digest = hashlib.sha256()
    digest.update(f"{EXPORT_FORMAT}|{type(backbone).__module__}.{type(backbone).__name__}|{torch.__version__}|".encode())
    digest.update(backbone.config.to_json_string(use_diff=False).encode())
    for name, tensor in sorted(backbone.state_dict().items()):
        digest.update(f"{name}|{tuple(tensor.shape)}|{tensor.dtype}|".encode())
        digest.update(tensor.detach().cpu().contiguous().reshape(-1).view(torch.uint8).numpy().tobytes())
    return f"{type(backbone).__name__.lower()}-{digest.hexdigest()[:20]}"


def _sample_features(model: Any, texts: tuple[str, ...], backbone: torch.nn.Module) -> tuple[list[str], dict[str, Tensor]]:
    features = model.preprocess(list(texts))
    accepted = set(inspect.signature(backbone.forward).parameters)
    names = [k for k in _GRAPH_INPUTS if isinstance(features.get(k), Tensor) and (k in accepted or k == "input_ids")]
    if "input_ids" not in names:
        raise BackendError(f"the tokenizer gives no input_ids for {type(backbone).__name__}; use backend='torch'")
    return names, {k: features[k].cpu() for k in names}


class _LastHiddenState(torch.nn.Module):
    """The backbone with the tokenizer's inputs as named arguments and ``last_hidden_state`` as the one output."""

    def __init__(self, backbone: torch.nn.Module) -> None:
        super().__init__()
        self.backbone = backbone

    def forward(self, input_ids: Tensor, attention_mask: Tensor | None = None, token_type_ids: Tensor | None = None) -> Tensor:
        extra = {} if token_type_ids is None else {"token_type_ids": token_type_ids}
        return self.backbone(input_ids=input_ids, attention_mask=attention_mask, **extra, return_dict=True).last_hidden_state


def _export(model: Any, backbone: torch.nn.Module, path: Path) -> list[str]:
    names, sample = _sample_features(model, _SAMPLE_TEXTS, backbone)
    positions = getattr(backbone.config, "max_position_embeddings", None)
    batch = torch.export.Dim("batch")
    # bounded by the position table, as the model's own guard is (an unbounded Dim fails that guard)
    sequence = torch.export.Dim("sequence", max=int(positions)) if isinstance(positions, int) and positions > 2 else torch.export.Dim("sequence")
    was_training = backbone.training
    backbone.eval()
    try:
        with _quiet(), torch.no_grad():
            program = torch.onnx.export(
                _LastHiddenState(backbone).eval(),
                (),
                kwargs=sample,
                input_names=names,
                output_names=["last_hidden_state"],
                dynamic_shapes={n: {0: batch, 1: sequence} for n in names},
                dynamo=True,
                verbose=False,
            )
            program.save(str(path))
    except BackendError:
        raise
    except Exception as exc:  # the exporter's own failure, reported with its reason
        raise BackendError(f"torch.onnx.export could not export {type(backbone).__name__} ({_reason(exc)}); "
                           "use backend='torch'") from exc
    finally:
        backbone.train(was_training)
    return names


def _reason(exc: BaseException) -> str:
    """The innermost cause's type and first line (the exporter wraps the real reason in generic advice)."""
    while exc.__cause__ is not None:
        exc = exc.__cause__
    lines = [line.strip() for line in re.sub(r"\x1b\[[0-9;]*m", "", str(exc)).splitlines() if line.strip()]
    return f"{type(exc).__name__}: {lines[0][:300]}" if lines else type(exc).__name__


def _check_export(model: Any, backbone: torch.nn.Module, path: Path, names: list[str]) -> float:
    """Largest |difference| of ``last_hidden_state`` on real tokens between the graph and torch."""
    import onnxruntime as ort

    _, check = _sample_features(model, _CHECK_TEXTS, backbone)
    with torch.no_grad():
        expected = backbone(**check, return_dict=True).last_hidden_state.float()
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    graph_inputs = {i.name for i in session.get_inputs()}
    got = session.run(["last_hidden_state"], {n: check[n].numpy() for n in names if n in graph_inputs})[0]
    real = check["attention_mask"].bool() if "attention_mask" in check else torch.ones(check["input_ids"].shape, dtype=torch.bool)
    diff = float((torch.from_numpy(got) - expected)[real].abs().max())
    if not diff <= EXPORT_TOLERANCE:
        raise BackendError(f"the ONNX export of {type(backbone).__name__} does not reproduce the torch model "
                           f"(max |diff| {diff:.2e} > {EXPORT_TOLERANCE:g} on a check batch); use backend='torch'")
    return diff


class _quiet:
    """Silence the exporter's and quantiser's progress prints and warnings."""

    def __enter__(self) -> None:
        self._warnings = warnings.catch_warnings()
        self._warnings.__enter__()
        warnings.simplefilter("ignore")
        self._levels = {}
        for name in ("torch.onnx", "torch.export", "onnxscript", "root", "torch._dynamo"):
            log = logging.getLogger(None if name == "root" else name)
            self._levels[name] = log.level
            log.setLevel(logging.ERROR)

    def __exit__(self, *exc: object) -> None:
        for name, level in self._levels.items():
            logging.getLogger(None if name == "root" else name).setLevel(level)
        self._warnings.__exit__(*exc)
