"""Image documents through the LangChain and LlamaIndex adapters (tiny random CLIP)."""

from __future__ import annotations

import pytest

from smart_plugins.encoder import SmartEncoder


@pytest.fixture(scope="module")
def clip(tiny_clip_dir):
    return SmartEncoder(str(tiny_clip_dir), device="cpu")


def test_llama_index_image_nodes_round_trip(clip, tiny_images):
    pytest.importorskip("llama_index.core")
    from llama_index.core.schema import ImageDocument, ImageNode, TextNode

    from smart_plugins.integrations.llama_index import SmartRetriever, index_nodes

    nodes = [ImageNode(image_path=str(p), id_=p.stem, metadata={"n": i}) for i, p in enumerate(tiny_images[:3])]
    nodes.append(ImageDocument(image_path=str(tiny_images[3]), id_="doc"))
    nodes.append(TextNode(text="a red square", id_="text"))
    index = index_nodes(nodes, encoder=clip)
    assert index.get("blue_stripes").metadata["image"] == str(tiny_images[2])
    retriever = SmartRetriever(index=index, similarity_top_k=2, exhaustive=True)
    hits = retriever.retrieve(str(tiny_images[2]))
    top = hits[0].node
    assert isinstance(top, ImageNode) and top.node_id == "blue_stripes" and top.image_path == str(tiny_images[2])
    assert top.metadata["n"] == 2 and "image" not in top.metadata
    with pytest.raises(ValueError, match="base64 pixels only"):
        index_nodes([ImageNode(image="aGVsbG8=", id_="px")], encoder=clip)


def test_langchain_documents_with_an_image_path_in_metadata(clip, tiny_images):
    pytest.importorskip("langchain_core")
    from langchain_core.documents import Document

    from smart_plugins.integrations.langchain import SmartRetriever

    documents = [Document(page_content="", metadata={"image": str(p), "name": p.stem}, id=p.stem) for p in tiny_images]
    documents.append(Document(page_content="green circle", id="caption"))
    retriever = SmartRetriever.from_documents(documents, encoder=clip, k=2, exhaustive=True)
    found = retriever.invoke(str(tiny_images[1]))
    assert found[0].id == "green_circle" and found[0].metadata["image"] == str(tiny_images[1])
    assert found[0].metadata["name"] == "green_circle"


def test_sentence_transformers_wrapper_is_a_drop_in_for_images(tiny_clip_dir, tiny_images):
    import torch
    from sentence_transformers import SentenceTransformer

    from smart_plugins.integrations.sentence_transformers import SmartSentenceTransformer

    model = SmartSentenceTransformer(str(tiny_clip_dir), device="cpu")
    plain = SentenceTransformer(str(tiny_clip_dir), device="cpu")
    path = str(tiny_images[0])
    assert torch.allclose(torch.as_tensor(model.encode([path])), torch.as_tensor(plain.encode([path])), atol=1e-6)
    for _ in range(2):  # one set of hooks per model, however many encoders wrap it
        encoded = model.encode_smart([path, "a red square"])
        assert encoded.lengths[0] == 16
    hooks = model[0].model.vision_model._forward_hooks
    assert len(hooks) == 1
