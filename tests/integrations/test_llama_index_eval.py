"""LlamaIndex RetrieverEvaluator (hit rate, MRR) on a small labelled set: SMART vs the pooled first stage.

The set is the package's code-marker binding task (smart_plugins.evaluation.toy): documents of a
group share their words and differ only in which code labels which marker, so a pooled vector
cannot tell them apart and token-level matching can. The claim checked: SMART retrieval and SMART
reranking beat the plain pooled ``VectorStoreIndex`` on MRR, measured by LlamaIndex's evaluator
and cross-checked with ir-measures on the same runs.
"""

from __future__ import annotations

import pytest

pytestmark = pytest.mark.slow


def _evaluate(evaluator, task):
    results = [evaluator.evaluate(text, expected_ids=[task.qrels[qid]]) for qid, text in task.queries]
    mean = {m: sum(r.metric_vals_dict[m] for r in results) / len(results) for m in ("hit_rate", "mrr")}
    run = {qid: r.retrieved_ids for (qid, _), r in zip(task.queries, results)}
    return mean, run


def test_retriever_evaluator_smart_beats_pooled(minilm_encoder):
    import ir_measures
    from ir_measures import RR, Success
    from llama_index.core import VectorStoreIndex
    from llama_index.core.evaluation import RetrieverEvaluator
    from llama_index.core.schema import TextNode

    from smart_plugins.evaluation.toy import make_toy_task
    from llama_index.core import StorageContext

    from smart_plugins.integrations.llama_index import (
        SmartPooledEmbedding,
        SmartRerank,
        SmartRetriever,
        SmartVectorStore,
    )

    task = make_toy_task(n_docs=32, bindings=4, group_size=4, seed=0)
    nodes = [TextNode(text=text, id_=doc_id) for doc_id, text in task.docs]
    pooled = VectorStoreIndex(nodes, embed_model=SmartPooledEmbedding(encoder=minilm_encoder)).as_retriever(
        similarity_top_k=10
    )
    metrics = ["hit_rate", "mrr"]
    base, _ = _evaluate(RetrieverEvaluator.from_metric_names(metrics, retriever=pooled), task)
    reranked, _ = _evaluate(
        RetrieverEvaluator.from_metric_names(
            metrics, retriever=pooled, node_postprocessors=[SmartRerank(encoder=minilm_encoder, top_n=10)]
        ),
        task,
    )
    smart, run = _evaluate(
        RetrieverEvaluator.from_metric_names(
            metrics, retriever=SmartRetriever(nodes=nodes, encoder=minilm_encoder, similarity_top_k=10)
        ),
        task,
    )
    store = SmartVectorStore(model=minilm_encoder)
    over_store = VectorStoreIndex(
        nodes, storage_context=StorageContext.from_defaults(vector_store=store), embed_model=store.embed_model
    ).as_retriever(similarity_top_k=10)
    stored, stored_run = _evaluate(RetrieverEvaluator.from_metric_names(metrics, retriever=over_store), task)
    store.close()
    print(f"pooled {base}  pooled+SmartRerank {reranked}  SmartRetriever {smart}  VectorStoreIndex(SmartVectorStore) {stored}")
    # a VectorStoreIndex over the SMART store ranks exactly as the SMART retriever does
    assert stored_run == run and stored == smart
    assert reranked["hit_rate"] == base["hit_rate"]  # a rerank of the same 10 candidates keeps the hit rate
    assert reranked["mrr"] > base["mrr"]
    assert smart["mrr"] > base["mrr"]
    assert smart["hit_rate"] >= base["hit_rate"]
    # the evaluator's numbers agree with ir-measures on the same ranked lists
    qrels = [ir_measures.Qrel(qid, doc, 1) for qid, doc in task.qrels.items()]
    scored = [ir_measures.ScoredDoc(qid, doc, -float(rank)) for qid, ids in run.items() for rank, doc in enumerate(ids)]
    agg = ir_measures.calc_aggregate([RR @ 10, Success @ 10], qrels, scored)
    assert agg[RR @ 10] == pytest.approx(smart["mrr"], abs=1e-6)
    assert agg[Success @ 10] == pytest.approx(smart["hit_rate"], abs=1e-6)
