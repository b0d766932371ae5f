"""examples/multimodal_example.py runs offline on a tiny model built on the fly and saves a heatmap."""

from __future__ import annotations

import importlib.util
import re
from pathlib import Path

import pytest
from PIL import Image

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "multimodal_example.py"
ROW = re.compile(r"^\s+(\d)\. (\S+)\s+pooled (-?\d\.\d+) late (-?\d\.\d+) hybrid (-?\d\.\d+)$", re.M)


@pytest.mark.slow
@pytest.mark.parametrize("family", ["qwen3_vl", "clip"])
def test_multimodal_example_runs(tmp_path, capsys, family):
    from smart_plugins.encoder import tiny_models

    if family.startswith("qwen") and not tiny_models.torchvision_works():
        pytest.skip("transformers' Qwen-VL processors need torchvision (their video processor) and it does not import here")
    spec = importlib.util.spec_from_file_location("multimodal_example", EXAMPLE)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    assert module.main(["--out", str(tmp_path), "--model", family]) == 0
    out = capsys.readouterr().out
    assert "indexed 5 documents" in out and out.count("query: ") == 2
    rows = ROW.findall(out)
    assert len(rows) == 6
    for _, _, pooled, late, hybrid in rows:  # default weights 1:1
        assert float(hybrid) == pytest.approx(float(pooled) + float(late), abs=2e-3)
    assert rows[3][1] == "blue_stripes"  # the image query finds its own page first
    with Image.open(tmp_path / "heatmap-red_square.png") as png, Image.open(tmp_path / "pages" / "red_square.png") as page:
        assert png.size == page.size
