"""Modules imported on first use, so that commands which never touch them start without them;
and third-party imports whose loading chatter is kept out of INFO logs (:func:`import_faiss`).

``index info``, ``index delete`` and ``index compact`` read and rewrite numpy arrays only; torch
(about 2 s to import) is loaded by the first module-level name that really needs it. A module
writes::

    from smart_plugins.lazy import lazy_module

    torch = lazy_module("torch", globals())

The first attribute read (``torch.float32``, ``torch.from_numpy(...)``) imports the module and
replaces the placeholder in the caller's globals by the real module, so later reads cost nothing
extra. Names only used in annotations go under ``typing.TYPE_CHECKING`` instead.

Examples
--------
>>> namespace = {}
>>> namespace["json"] = lazy_module("json", namespace)
>>> namespace["json"]
<lazy module 'json'>
>>> namespace["json"].dumps([1])
'[1]'
>>> type(namespace["json"]).__name__
'module'
"""

from __future__ import annotations

import importlib
import logging
import sys
from collections.abc import Callable
from types import ModuleType
from typing import Any

__all__ = ["import_faiss", "import_quietly", "lazy_exports", "lazy_module"]


class _LazyModule:
    """Stands in for a module until an attribute is read."""

    __slots__ = ("_name", "_namespace", "_alias")

    def __init__(self, name: str, namespace: dict[str, Any], alias: str) -> None:
        object.__setattr__(self, "_name", name)
        object.__setattr__(self, "_namespace", namespace)
        object.__setattr__(self, "_alias", alias)

    def _load(self) -> ModuleType:
        module = importlib.import_module(self._name)
        if self._namespace.get(self._alias) is self:
            self._namespace[self._alias] = module
        return module

    def __getattr__(self, attribute: str) -> Any:
        return getattr(self._load(), attribute)

    def __dir__(self) -> list[str]:
        return dir(self._load())

    def __repr__(self) -> str:
        return f"<lazy module {self._name!r}>"


def lazy_module(name: str, namespace: dict[str, Any], alias: str | None = None) -> Any:
    """A placeholder for module ``name``, bound as ``alias`` (default: the last part of ``name``) in
    ``namespace`` (the caller's ``globals()``), which imports it on first use.

    Parameters
    ----------
    name:
        The module's dotted name (``"torch"``, ``"torch.nn.functional"``).
    namespace:
        The globals of the module that uses it; the real module replaces the placeholder there.
    alias:
        The name it is bound to in ``namespace`` (``"F"`` for ``torch.nn.functional``).
    """
    alias = alias or name.rpartition(".")[2]
    placeholder = _LazyModule(name, namespace, alias)
    return placeholder


def lazy_exports(package: str, names: dict[str, str]) -> tuple[Callable[[str], Any], Callable[[], list[str]]]:
    """A package's ``__getattr__`` and ``__dir__`` (PEP 562) that import each of ``names`` from the
    module it maps to on first use and keep it in the package's globals.

    A package writes ``__getattr__, __dir__ = lazy_exports(__name__, {"Name": "pkg.module"})``.

    Examples
    --------
    >>> import sys, types
    >>> sys.modules["demo_package"] = demo = types.ModuleType("demo_package")
    >>> demo.__getattr__, demo.__dir__ = lazy_exports("demo_package", {"dumps": "json"})
    >>> demo.dumps([1]), "dumps" in vars(demo), "dumps" in dir(demo)
    ('[1]', True, True)
    >>> del sys.modules["demo_package"]
    """
    namespace = sys.modules[package].__dict__

    def __getattr__(name: str) -> Any:
        if name in names:
            value = getattr(importlib.import_module(names[name]), name)
            namespace[name] = value
            return value
        raise AttributeError(f"module {package!r} has no attribute {name!r}")

    def __dir__() -> list[str]:
        return sorted(set(namespace) | set(names))

    return __getattr__, __dir__


class _LoaderChatter(logging.Filter):
    """Demote a logger's INFO records to DEBUG: dropped unless that logger is enabled for DEBUG."""

    def filter(self, record: logging.LogRecord) -> bool:
        if record.levelno > logging.INFO:
            return True
        if not logging.getLogger(record.name).isEnabledFor(logging.DEBUG):
            return False
        record.levelno, record.levelname = logging.DEBUG, logging.getLevelName(logging.DEBUG)
        return True


def import_quietly(name: str, *loggers: str) -> ModuleType:
    """Import ``name`` with the INFO messages that ``loggers`` write while it loads shown as DEBUG.

    A loader that reports each build it tries (faiss: "Loading faiss with AVX512 support." then
    "Could not load library with AVX512 support due to: ...") is noise at INFO, where a user watches
    progress; with DEBUG logging the messages still show. Warnings and errors pass unchanged.

    Examples
    --------
    >>> import_quietly("json", "json.loader").dumps({})
    '{}'
    """
    if name in sys.modules:
        return sys.modules[name]
    chatter = _LoaderChatter()
    targets = [logging.getLogger(logger) for logger in loggers]
    for target in targets:
        target.addFilter(chatter)
    try:
        return importlib.import_module(name)
    finally:
        for target in targets:
            target.removeFilter(chatter)


def import_faiss() -> ModuleType:
    """``import faiss``, its instruction-set loader messages (``faiss.loader``) demoted to DEBUG."""
    return import_quietly("faiss", "faiss.loader")
