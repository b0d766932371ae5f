"""The audit's corrupted-manifest cases: every edit or damage is refused on open, naming the file."""

from __future__ import annotations

import ast
import json
import shutil

import numpy as np
import pytest

from smart_plugins.index import IndexCorruptedError, SmartIndex
from smart_plugins.index.manifest import CHECKSUM_KEY, MANIFEST_NAME, read_manifest, write_manifest


@pytest.fixture(scope="module")
def template(tmp_path_factory, tiny_encoder):
    path = tmp_path_factory.mktemp("manifest") / "idx"
    with SmartIndex.create(path, tiny_encoder, compression="residual-2") as index:
        index.add(["red star marker", "blue moon code"], ids=["a", "b"])
        index.add(["green apple text", "java runtime tool"], ids=["c", "d"])
        index.delete("b")
        expected = (index.ids(), index.search("red star", k=4))
    return path, expected


@pytest.fixture()
def built(template, tmp_path):
    """A fresh copy of one committed index (two segments, one tombstone, a trained codec)."""
    source, expected = template
    path = tmp_path / "idx"
    shutil.copytree(source, path)
    return path, expected


def _edit(path, change):
    manifest = json.loads((path / MANIFEST_NAME).read_text())
    change(manifest)
    (path / MANIFEST_NAME).write_text(json.dumps(manifest, indent=1))  # valid JSON, checksum left as it was


EDITS = {
    "drop a segment": lambda m: m["segments"].pop(),
    "resurrect deleted documents": lambda m: m["segments"][0].update(tombstones=None),
    "change the weights": lambda m: m["weights"].update(pool=0.0),
    "change the first stage": lambda m: m.update(first_stage={"kind": "hnsw", "m": 8}),
    "damage the checksum": lambda m: m.update({CHECKSUM_KEY: "0" * 64}),
}


@pytest.mark.parametrize("edit", list(EDITS))
def test_a_valid_json_edit_is_detected(built, tiny_encoder, edit):
    path, _ = built
    _edit(path, EDITS[edit])
    with pytest.raises(IndexCorruptedError) as info:
        SmartIndex.open(path, tiny_encoder, verify=False)
    assert str(path / MANIFEST_NAME) in str(info.value) and "SHA-256" in str(info.value)


def test_invalid_utf8_names_the_file(built, tiny_encoder):
    path, _ = built
    data = (path / MANIFEST_NAME).read_bytes()
    (path / MANIFEST_NAME).write_bytes(data.replace(b'"compression"', b'"compr\xffssion"', 1))
    with pytest.raises(IndexCorruptedError, match=f"{path / MANIFEST_NAME} is not valid UTF-8"):
        SmartIndex.open(path, tiny_encoder)


def test_a_manifest_without_checksum_is_read_as_legacy_and_gets_one_at_the_next_commit(built, tiny_encoder):
    path, (ids, hits) = built
    _edit(path, lambda m: m.pop(CHECKSUM_KEY))  # as written before manifests carried a checksum
    with SmartIndex.open(path, tiny_encoder) as index:
        assert index.ids() == ids and index.search("red star", k=4) == hits
        index.add(["rust command line"], ids=["e"])
    assert CHECKSUM_KEY in json.loads((path / MANIFEST_NAME).read_text())
    with SmartIndex.open(path, tiny_encoder) as index:
        assert index.ids() == [*ids, "e"]


CRAFTED = {
    "segment ../../x": (lambda m: m["segments"][0].update(name="../../x"), "names segment '../../x'"),
    "segment /etc": (lambda m: m["segments"][0].update(name="/etc"), "names segment '/etc'"),
    "segment listed twice": (lambda m: m["segments"].append(m["segments"][0]), "listed twice"),
    "file ../pooled.npy": (lambda m: m["segments"][0]["files"].update({"../pooled.npy": m["segments"][0]["files"]["pooled.npy"]}),
                           "names file '../pooled.npy'"),
    "tombstone path": (lambda m: m["segments"][0]["tombstones"].update(file="../../deleted.npy"), "names file '../../deleted.npy'"),
    "codec path": (lambda m: m["codec"].update(file="../codec.safetensors"), "names file '../codec.safetensors'"),
    "negative count": (lambda m: m["segments"][0].update(n_docs=-1), "needs n_docs and n_tokens counts"),
    "weights NaN": (lambda m: m.update(weights={"pool": 1.0, "late": "x"}), "weight 'late' must be a finite number"),
    "no token_dim": (lambda m: m["encoder"].pop("token_dim"), "encoder 'token_dim' must be a positive integer"),
}


@pytest.mark.parametrize("case", list(CRAFTED))
def test_a_crafted_manifest_with_a_valid_checksum_is_refused(built, tiny_encoder, case):
    path, _ = built
    change, phrase = CRAFTED[case]
    manifest = read_manifest(path)
    change(manifest)
    write_manifest(path, manifest)  # checksummed: the checks on what it names must still hold
    with pytest.raises(IndexCorruptedError) as info:
        SmartIndex.open(path, tiny_encoder, verify=False)
    assert phrase in str(info.value) and str(path / MANIFEST_NAME) in str(info.value)


def _first_segment(path):
    return path / "segments" / read_manifest(path)["segments"][0]["name"]


def test_damaged_offsets_values_are_refused_before_allocating(built, tiny_encoder):
    path, _ = built
    target = _first_segment(path) / "offsets.npy"
    offsets = np.load(target)
    offsets[-1] = 1 << 40  # same size on disk; a search would gather 2**40 token rows
    np.save(target, offsets)
    with pytest.raises(IndexCorruptedError, match="offsets.npy holds offsets that do not run from 0"):
        SmartIndex.open(path, tiny_encoder, verify=False)


@pytest.mark.parametrize("name", ["offsets.npy", "pooled.npy", "docs_offsets.npy", "token_ids.npy"])
def test_a_damaged_npy_header_is_refused_before_allocating(built, tiny_encoder, name):
    path, _ = built
    target = _first_segment(path) / name
    data = target.read_bytes()
    end = data.index(b"\n") + 1  # a version 1.0 header: magic (6), version (2), length (2), dict
    header = ast.literal_eval(data[10:end].decode("latin1"))
    header["shape"] = (10**12, *header["shape"][1:])  # same file size: only the header lies
    text = repr(header).encode("latin1")
    assert len(text) < end - 10
    target.write_bytes(data[:10] + text.ljust(end - 11) + b"\n" + data[end:])
    assert target.stat().st_size == len(data)
    with pytest.raises(IndexCorruptedError, match=f"{name} has a header describing a \\(1000000000000"):
        SmartIndex.open(path, tiny_encoder, verify=False)
