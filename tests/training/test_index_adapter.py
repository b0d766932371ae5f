"""An index built with an adapted encoder records its adapter and refuses any other one."""

from __future__ import annotations

import pytest
import torch
from sentence_transformers import SentenceTransformer

from smart_plugins.encoder import SmartEncoder
from smart_plugins.training import attach_adapter, save_model

SmartIndex = pytest.importorskip("smart_plugins.index").SmartIndex

DOCS = ["red star server package", "blue moon client library", "python command line tool"]


def adapted_model(tiny_model_dir, folder, dim, seed):
    model = SentenceTransformer(str(tiny_model_dir), device="cpu")
    attach_adapter(model, dim, seed=seed)
    return save_model(model, folder)


def test_index_refuses_a_mismatched_adapter(tiny_model_dir, tiny_encoder, tmp_path):
    built_with = SmartEncoder(str(adapted_model(tiny_model_dir, tmp_path / "a", 8, seed=0)), device="cpu")
    other_weights = SmartEncoder(str(adapted_model(tiny_model_dir, tmp_path / "b", 8, seed=1)), device="cpu")
    with SmartIndex.create(tmp_path / "index", built_with, compression="fp32") as index:
        index.add(DOCS, ids=["a", "b", "c"])
        assert [h.id for h in index.search("red star", k=3)] and index.info()["encoder"]["token_dim"] == 8
        assert index.info()["encoder"]["adapter"] == built_with.describe()["adapter"]
    for wrong in (other_weights, tiny_encoder):
        with pytest.raises(ValueError, match="adapter"):
            SmartIndex.open(tmp_path / "index", wrong)
    # the same saved adapter, loaded again from its folder, is accepted
    same = SmartEncoder(str(tmp_path / "a"), device="cpu")
    with SmartIndex.open(tmp_path / "index", same) as index:
        assert len(index.search("blue moon", k=2)) == 2
