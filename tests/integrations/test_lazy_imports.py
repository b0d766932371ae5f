"""The core and the framework-free adapters never import LangChain or LlamaIndex; each framework
adapter imports only its own framework (checked in a fresh interpreter)."""

from __future__ import annotations

import subprocess
import sys

CHECK = """
import sys
def frameworks():
    return sorted({m.split('.')[0] for m in sys.modules} & {'langchain', 'langchain_core', 'llama_index'})
import smart_plugins, smart_plugins.index, smart_plugins.integrations
import smart_plugins.integrations.sentence_transformers, smart_plugins.integrations.ragatouille
print('core:' + ','.join(frameworks()))
import smart_plugins.integrations.langchain
print('langchain:' + ','.join(frameworks()))
"""


def test_frameworks_are_imported_only_by_their_adapter():
    out = subprocess.run([sys.executable, "-c", CHECK], capture_output=True, text=True, check=True, timeout=300)
    lines = out.stdout.split()
    assert "core:" in lines, out.stdout  # nothing after the colon: no framework imported
    assert "langchain:langchain_core" in lines, out.stdout  # LangChain only, no LlamaIndex
