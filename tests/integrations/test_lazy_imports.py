"""The core and the framework-free adapters never import LangChain or LlamaIndex."""

from __future__ import annotations

import subprocess
import sys

CHECK = """
import sys
import smart_plugins, smart_plugins.index, smart_plugins.integrations
import smart_plugins.integrations.sentence_transformers, smart_plugins.integrations.ragatouille
bad = sorted(m for m in sys.modules if m.split('.')[0] in {'langchain', 'langchain_core', 'llama_index'})
print(','.join(bad))
"""


def test_core_and_plain_adapters_do_not_import_frameworks():
    out = subprocess.run([sys.executable, "-c", CHECK], capture_output=True, text=True, check=True, timeout=300)
    assert out.stdout.strip() == "", f"frameworks imported: {out.stdout.strip()}"


def test_framework_adapters_import_their_framework_only():
    code = "import sys, smart_plugins.integrations.langchain as m; print(any(k.startswith('llama_index') for k in sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=300)
    assert out.stdout.strip() == "False"
