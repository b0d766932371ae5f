"""Index-free adapters: LangChain SmartReranker / SmartEmbeddings, LlamaIndex SmartRerank."""

from __future__ import annotations

import json

import pytest
import torch

from smart_plugins.rerank import rerank_texts
from smart_plugins.scoring import ScoreWeights

TEXTS = [
    "python package with debug files",
    "the red star binds the label",
    "a banana and an apple",
    "shared runtime library for the server",
]
QUERY = "debug files for the python package"


def expected_order(encoder, k=None, weights=None):
    return [(r.index, r.score) for r in rerank_texts(encoder, QUERY, TEXTS, k=k, weights=weights)]


# ----------------------------------------------------------------------------- LangChain
def test_langchain_reranker_orders_and_scores_like_the_core(tiny_encoder):
    from langchain_core.documents import Document

    from smart_plugins.integrations.langchain import SmartReranker

    docs = [Document(page_content=t, metadata={"n": i}, id=f"d{i}") for i, t in enumerate(TEXTS)]
    reranker = SmartReranker(encoder=tiny_encoder, top_n=3)
    out = reranker.compress_documents(docs, QUERY)
    expected = expected_order(tiny_encoder, k=3)
    assert [d.metadata["n"] for d in out] == [i for i, _ in expected]
    assert [d.metadata["relevance_score"] for d in out] == pytest.approx([s for _, s in expected], abs=1e-5)
    assert all(d.id == f"d{d.metadata['n']}" for d in out)
    for d in out:  # hybrid = pooled + late under default weights
        assert d.metadata["relevance_score"] == pytest.approx(d.metadata["smart_pooled"] + d.metadata["smart_late"], abs=1e-5)
    assert "relevance_score" not in docs[0].metadata  # inputs untouched
    assert reranker.compress_documents([], QUERY) == []


def test_langchain_reranker_weights_and_errors(tiny_encoder):
    from langchain_core.documents import Document

    from smart_plugins.integrations.langchain import SmartReranker

    pooled_only = SmartReranker(encoder=tiny_encoder, top_n=None, weights="1:0")
    out = pooled_only.compress_documents([Document(page_content=t) for t in TEXTS], QUERY)
    assert len(out) == len(TEXTS)
    assert all(d.metadata["smart_late"] is None for d in out)
    assert [d.metadata["relevance_score"] for d in out] == pytest.approx(
        [s for _, s in expected_order(tiny_encoder, weights=ScoreWeights(1, 0))], abs=1e-5
    )
    with pytest.raises(ValueError, match="top_n"):
        SmartReranker(encoder=tiny_encoder, top_n=0)
    with pytest.raises(ValueError, match="POOL:LATE"):
        SmartReranker(encoder=tiny_encoder, weights="bad")


def test_langchain_reranker_in_contextual_compression_retriever(tiny_encoder):
    from langchain_classic.retrievers import ContextualCompressionRetriever
    from langchain_core.documents import Document
    from langchain_core.retrievers import BaseRetriever

    from smart_plugins.integrations.langchain import SmartReranker

    class FirstStage(BaseRetriever):
        def _get_relevant_documents(self, query, *, run_manager):
            return [Document(page_content=t) for t in TEXTS]

    reranker = SmartReranker(encoder=tiny_encoder, top_n=2)
    out = ContextualCompressionRetriever(base_compressor=reranker, base_retriever=FirstStage()).invoke(QUERY)
    assert [d.page_content for d in out] == [TEXTS[i] for i, _ in expected_order(tiny_encoder, k=2)]
    assert all("relevance_score" in d.metadata for d in out)


async def test_langchain_embeddings_are_the_pooled_vectors(tiny_encoder):
    from smart_plugins.integrations.langchain import SmartEmbeddings

    emb = SmartEmbeddings(encoder=tiny_encoder)
    docs = emb.embed_documents(TEXTS)
    assert torch.allclose(torch.tensor(docs), tiny_encoder.encode_documents(TEXTS).pooled, atol=1e-6)
    query = emb.embed_query(QUERY)
    assert torch.allclose(torch.tensor(query), tiny_encoder.encode_queries([QUERY]).pooled[0], atol=1e-6)
    assert await emb.aembed_query(QUERY) == pytest.approx(query, abs=1e-6)
    assert emb.embed_documents([]) == []
    with pytest.raises(ValueError, match="empty"):
        emb.embed_documents(["ok", " "])


# ----------------------------------------------------------------------------- LlamaIndex
def _nodes():
    from llama_index.core.schema import NodeWithScore, TextNode

    return [NodeWithScore(node=TextNode(text=t, id_=f"n{i}", metadata={"n": i}), score=float(i)) for i, t in enumerate(TEXTS)]


def test_llama_rerank_orders_scores_and_keeps_retrieval_score(tiny_encoder):
    from llama_index.core.schema import MetadataMode

    from smart_plugins.integrations.llama_index import SmartRerank

    rerank = SmartRerank(encoder=tiny_encoder, top_n=3, keep_retrieval_score=True)
    out = rerank.postprocess_nodes(_nodes(), query_str=QUERY)
    expected = expected_order(tiny_encoder, k=3)
    assert [n.node.metadata["n"] for n in out] == [i for i, _ in expected]
    assert [n.score for n in out] == pytest.approx([s for _, s in expected], abs=1e-5)
    for n in out:
        assert n.node.metadata["retrieval_score"] == float(n.node.metadata["n"])
        assert n.score == pytest.approx(n.node.metadata["smart_pooled"] + n.node.metadata["smart_late"], abs=1e-5)
        shown = n.node.get_content(metadata_mode=MetadataMode.LLM)
        assert "smart_pooled" not in shown and "retrieval_score" not in shown
        assert "n: " in shown  # the node's own metadata is still shown to the LLM


def test_llama_rerank_batches_candidates(tiny_encoder, monkeypatch):
    from smart_plugins.integrations.llama_index import SmartRerank

    calls = []
    original = type(tiny_encoder).encode_documents

    def spy(self, texts, **kwargs):
        calls.append(len(texts))
        return original(self, texts, **kwargs)

    monkeypatch.setattr(type(tiny_encoder), "encode_documents", spy)
    SmartRerank(encoder=tiny_encoder, top_n=None).postprocess_nodes(_nodes(), query_str=QUERY)
    assert calls == [len(TEXTS)]  # one batched call, not one per node


def test_llama_rerank_config_round_trip_and_errors(tiny_encoder, tiny_model_dir):
    from smart_plugins.integrations.llama_index import SmartRerank

    rerank = SmartRerank(model=str(tiny_model_dir), top_n=2, weights="0:1", device="cpu")
    config = json.loads(json.dumps(rerank.to_dict()))
    again = SmartRerank.from_dict(config)
    assert (again.top_n, again.weights, again.model) == (2, {"pool": 0.0, "late": 1.0}, str(tiny_model_dir))
    a = [n.node.node_id for n in rerank.postprocess_nodes(_nodes(), query_str=QUERY)]
    b = [n.node.node_id for n in again.postprocess_nodes(_nodes(), query_str=QUERY)]
    assert a == b
    with pytest.raises(ValueError, match="query"):
        rerank.postprocess_nodes(_nodes())
    with pytest.raises(ValueError, match="top_n"):
        SmartRerank(encoder=tiny_encoder, top_n=-1)
    assert rerank.postprocess_nodes([], query_str=QUERY) == []
