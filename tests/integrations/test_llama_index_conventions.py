"""LlamaIndex adapters: filters, insert/delete, serialisation advice, RERANKING event, repr, no silent arguments."""

from __future__ import annotations

import gc

import pytest
from llama_index.core.callbacks import CallbackManager, CBEventType
from llama_index.core.callbacks.base_handler import BaseCallbackHandler
from llama_index.core.schema import NodeRelationship, NodeWithScore, RelatedNodeInfo, TextNode
from llama_index.core.vector_stores.types import MetadataFilter, MetadataFilters

from smart_plugins.integrations.llama_index import SmartRerank, SmartRetriever

TEXTS = ["python package with debug files", "the red star binds the label", "a banana and an apple",
         "shared runtime library for the server"]


def _nodes():
    nodes = []
    for i, text in enumerate(TEXTS):
        node = TextNode(text=text, id_=f"n{i}", metadata={"n": i, "kind": "food" if "banana" in text else "code"})
        node.relationships[NodeRelationship.SOURCE] = RelatedNodeInfo(node_id=f"doc{i % 2}")
        nodes.append(node)
    return nodes


def test_filters_insert_and_delete(tiny_encoder):
    flt = MetadataFilters(filters=[MetadataFilter(key="n", value=1, operator=">=")])
    retriever = SmartRetriever(nodes=_nodes(), model=tiny_encoder, similarity_top_k=4, filters=flt)
    assert {n.node.node_id for n in retriever.retrieve("debug files")} == {"n1", "n2", "n3"}
    both = SmartRetriever(nodes=_nodes(), model=tiny_encoder, similarity_top_k=4, filters=flt, where={"kind": "code"})
    assert {n.node.node_id for n in both.retrieve("debug files")} == {"n1", "n3"}
    retriever.insert_nodes([TextNode(text="green moon code module", id_="moon", metadata={"n": 9})])
    assert retriever.retrieve("green moon code module")[0].node.node_id == "moon"
    assert retriever.delete(["moon"]) == 1
    assert retriever.delete_ref_doc("doc0") == 2  # n0 and n2
    assert {n.node.node_id for n in retriever.retrieve("debug files")} == {"n1", "n3"}
    with pytest.raises(ValueError, match="unsupported MetadataFilter operator CONTAINS"):
        SmartRetriever(nodes=_nodes(), model=tiny_encoder,
                       filters=MetadataFilters(filters=[MetadataFilter(key="kind", value="c", operator="contains")]))
    retriever.close(), both.close()


def test_unknown_arguments_raise(tiny_encoder, temp_indexes):
    with pytest.raises(TypeError, match=r"\['top_k'\]; the number of nodes returned is similarity_top_k="):
        SmartRetriever(nodes=_nodes(), model=tiny_encoder, top_k=3)
    with pytest.raises(ValueError, match="k"):
        SmartRerank(encoder=tiny_encoder, k=2)
    gc.collect()
    assert temp_indexes() == set()


def test_to_dict_of_a_temporary_retriever_says_how_to_persist(tiny_encoder, tmp_path):
    temporary = SmartRetriever(nodes=_nodes(), model=tiny_encoder)
    with pytest.raises(ValueError, match=r"SmartRetriever\(nodes=\.\.\., index_path='my-index'\)"):
        temporary.to_dict()
    temporary.close()
    kept = SmartRetriever(nodes=_nodes(), model=tiny_encoder, index_path=tmp_path / "idx", similarity_top_k=2)
    config = kept.to_dict()
    assert config["index_path"] == str(tmp_path / "idx")
    again = SmartRetriever.from_dict(config, model=tiny_encoder)
    assert [n.node.node_id for n in again.retrieve("a banana and an apple")][0] == "n2"


class _Recorder(BaseCallbackHandler):
    def __init__(self):
        super().__init__(event_starts_to_ignore=[], event_ends_to_ignore=[])
        self.events = []

    def on_event_start(self, event_type, payload=None, event_id="", parent_id="", **kwargs):
        self.events.append(("start", event_type, dict(payload or {})))
        return event_id

    def on_event_end(self, event_type, payload=None, event_id="", **kwargs):
        self.events.append(("end", event_type, dict(payload or {})))

    def start_trace(self, trace_id=None):
        pass

    def end_trace(self, trace_id=None, trace_map=None):
        pass


def test_rerank_reports_the_reranking_event_and_reads_well(tiny_encoder):
    recorder = _Recorder()
    rerank = SmartRerank(encoder=tiny_encoder, model="tiny", top_n=2, weights="0.5:1",
                         callback_manager=CallbackManager([recorder]))
    nodes = [NodeWithScore(node=TextNode(text=t), score=0.1) for t in TEXTS]
    out = rerank.postprocess_nodes(nodes, query_str="debug files")
    kinds = [(phase, kind) for phase, kind, _ in recorder.events]
    assert kinds == [("start", CBEventType.RERANKING), ("end", CBEventType.RERANKING)]
    assert recorder.events[0][2]["top_k"] == 2 and recorder.events[0][2]["query_str"] == "debug files"
    assert recorder.events[1][2]["nodes"] == out
    assert repr(rerank) == "SmartRerank(model='tiny', top_n=2, weights=0.5:1)"
