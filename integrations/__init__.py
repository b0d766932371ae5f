"""Framework adapters, installed as ``smart_plugins.integrations``.

Each submodule is a thin layer over the core's public API and imports its framework only
when it is itself imported, so the core never pulls in a framework:

- ``smart_plugins.integrations.sentence_transformers``
- ``smart_plugins.integrations.llama_index`` (extra ``llama-index``)
- ``smart_plugins.integrations.langchain`` (extra ``langchain``)
- ``smart_plugins.integrations.ragatouille`` (RAGatouille-shaped facade; no RAGatouille needed)
"""
