"""Model names resolve offline first: aliases, folders, the Hugging Face cache, then a clear error."""

from __future__ import annotations

import pytest

from smart_plugins.models import ModelNotFoundError, hub_offline, resolve_model_name


def test_tests_run_offline():
    assert hub_offline()


@pytest.mark.parametrize(
    ("name", "message"),
    [
        ("minilmm", "did you mean 'minilm'?"),
        ("mpnett", "did you mean 'mpnet'?"),
        ("all-minilm-l6", "did you mean 'all-minilm-l6-v2'?"),
        ("some-org/no-such-embedder", "while offline (HF_HUB_OFFLINE is set)"),
        ("./no/such/folder", "no model folder at './no/such/folder'"),
    ],
)
def test_unknown_names_fail_at_once_with_advice(name, message):
    with pytest.raises(ModelNotFoundError) as info:
        resolve_model_name(name)
    assert message in str(info.value)


def test_a_typo_fails_fast_even_online(monkeypatch):
    """A near-miss of an alias is refused before any hub call, also for online users."""
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    monkeypatch.delenv("TRANSFORMERS_OFFLINE", raising=False)
    monkeypatch.setattr("huggingface_hub.constants.HF_HUB_OFFLINE", False)
    assert not hub_offline()
    with pytest.raises(ModelNotFoundError, match="did you mean 'minilm'"):
        resolve_model_name("minilmm")
    assert resolve_model_name("some-org/real-hub-model") == "some-org/real-hub-model"  # left to sentence-transformers


def test_cached_hub_models_and_folders_resolve(tmp_path, monkeypatch, tiny_model_dir):
    assert resolve_model_name(str(tiny_model_dir)) == str(tiny_model_dir)
    cache = tmp_path / "hub"
    snapshot = cache / "models--some-org--cached-model" / "snapshots" / "abc123"
    snapshot.mkdir(parents=True)
    (snapshot / "modules.json").write_text("[]")
    (cache / "models--some-org--cached-model" / "refs").mkdir()
    (cache / "models--some-org--cached-model" / "refs" / "main").write_text("abc123")
    monkeypatch.setattr("huggingface_hub.constants.HF_HUB_CACHE", str(cache))
    monkeypatch.setattr("huggingface_hub.file_download.HF_HUB_CACHE", str(cache), raising=False)
    assert resolve_model_name("some-org/cached-model") == "some-org/cached-model"


def test_encoder_reports_the_mistake(monkeypatch):
    from smart_plugins.encoder import SmartEncoder

    with pytest.raises(ModelNotFoundError, match="did you mean 'minilm'"):
        SmartEncoder("minilmm")
