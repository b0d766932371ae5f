"""Load a saved sentence-transformers model that may carry a smart-plugins :class:`TokenAdapter`.

sentence-transformers 6 refuses to import a module class outside its own namespace unless the
caller passes ``trust_remote_code=True``. A saved adapter model names
``smart_plugins.encoder.token_adapter.TokenAdapter`` in its ``modules.json``: code that is already
installed and imported here, not code selected by the model folder. :func:`load_sentence_transformer`
maps exactly the smart-plugins classes listed in :data:`KNOWN_MODULE_CLASSES` to the imported
classes and leaves every other type to the library's normal rules, so ``trust_remote_code`` keeps
its meaning for anything else.
"""

from __future__ import annotations

import json
import os
from typing import Any

from sentence_transformers import SentenceTransformer

from smart_plugins.encoder.token_adapter import TokenAdapter

#: ``modules.json`` types smart-plugins resolves itself (its own, already imported, classes).
KNOWN_MODULE_CLASSES: dict[str, type] = {
    f"{TokenAdapter.__module__}.{TokenAdapter.__name__}": TokenAdapter,
    # where the class lived before it moved next to the encoder; folders saved then still load
    "smart_plugins.training.adapter.TokenAdapter": TokenAdapter,
}


def smart_module_types(path: str) -> list[str]:
    """The smart-plugins module types a saved model folder lists in its ``modules.json``.

    Examples
    --------
    >>> smart_module_types("/nonexistent/folder")
    []
    """
    modules_json = os.path.join(path, "modules.json")
    if not os.path.isfile(modules_json):
        return []
    with open(modules_json, encoding="utf8") as handle:
        entries = json.load(handle)
    return [str(e.get("type")) for e in entries if str(e.get("type")) in KNOWN_MODULE_CLASSES]


def load_sentence_transformer(path: str, **kwargs: Any) -> SentenceTransformer:
    """``SentenceTransformer(path, **kwargs)``, resolving smart-plugins adapter modules itself.

    Folders without a smart-plugins module (and hub names) load exactly as with
    ``SentenceTransformer``.

    Examples
    --------
    >>> model = load_sentence_transformer("out/minilm-adapter-128")  # doctest: +SKIP
    >>> type(model[-1]).__name__  # doctest: +SKIP
    'TokenAdapter'
    """
    ours = smart_module_types(path)
    if not ours:
        return SentenceTransformer(path, **kwargs)
    mapping = {name: KNOWN_MODULE_CLASSES[name] for name in ours}
    loader = getattr(SentenceTransformer, "_load_with_module_classes", None)
    if loader is None:  # sentence-transformers < 6 imports installed local classes itself
        return SentenceTransformer(path, **kwargs)
    return loader(path, mapping, **kwargs)
