"""``smart-plugins index build`` on an image corpus and ``search --explain --heatmap/--html``."""

from __future__ import annotations

import json
import shutil
from html.parser import HTMLParser
from pathlib import Path

import pytest
from PIL import Image

from smart_plugins.cli.main import main


class _Marks(HTMLParser):
    """Collect <mark> texts with their query tokens, and inline heatmap images, per hit section."""

    def __init__(self) -> None:
        super().__init__()
        self.sections: dict[str, dict] = {}
        self._hit: str | None = None
        self._mark: dict | None = None

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "section":
            self._hit = attrs["data-id"]
            self.sections.setdefault(self._hit, {"marks": [], "images": []})
        elif tag == "mark":
            self._mark = {"query_tokens": attrs["data-query-tokens"].split(), "text": ""}
        elif tag == "img" and self._hit:
            self.sections[self._hit]["images"].append(attrs["src"])

    def handle_data(self, data):
        if self._mark is not None:
            self._mark["text"] += data

    def handle_endtag(self, tag):
        if tag == "mark" and self._mark is not None:
            self.sections[self._hit]["marks"].append(self._mark)
            self._mark = None


@pytest.mark.slow
def test_image_corpus_build_search_heatmap_and_html(tmp_path, tiny_clip_dir, tiny_images, capsys):
    pages = tmp_path / "task" / "pages"
    pages.mkdir(parents=True)
    for p in tiny_images[:3]:
        shutil.copy(p, pages / p.name)
    corpus = tmp_path / "task" / "corpus.jsonl"
    rows = [{"_id": p.stem, "image": f"pages/{p.name}"} for p in tiny_images[:3]]
    rows.append({"_id": "note", "text": "red square and blue stripes"})
    corpus.write_text("".join(json.dumps(r) + "\n" for r in rows))
    folder = tmp_path / "idx"
    assert main(["index", "build", str(folder), "--model", str(tiny_clip_dir), "--corpus", str(corpus)]) == 0
    capsys.readouterr()

    maps, page = tmp_path / "maps", tmp_path / "evidence.html"
    query = str(pages / "blue_stripes.png")
    assert main(["search", str(folder), query, "red square", "-k", "4", "--exhaustive", "--json",
                 "--explain", "--heatmap", str(maps), "--html", str(page)]) == 0
    result = json.loads(capsys.readouterr().out)
    by_image, by_text = result
    assert by_image["hits"][0]["id"] == "blue_stripes"
    assert by_image["hits"][0]["metadata"]["image"] == str(pages / "blue_stripes.png")
    heatmaps = [h["heatmap"] for h in by_text["hits"] if "heatmap" in h]
    assert len(heatmaps) == 3 and all("heatmap" not in h for h in by_text["hits"] if h["id"] == "note")
    for path in heatmaps:
        with Image.open(path) as png:
            assert png.size == (48, 36)

    parser = _Marks()
    parser.feed(page.read_text(encoding="utf-8"))
    note = parser.sections["note"]
    assert note["marks"] and not note["images"]
    marked = {m["text"] for m in note["marks"]}
    assert marked <= {"red", "square", "and", "blue", "stripes"}
    assert all(m["query_tokens"] for m in note["marks"])
    assert all(s["images"][0].startswith("data:image/png;base64,") for k, s in parser.sections.items() if k != "note")


@pytest.mark.slow
def test_search_draws_a_heatmap_for_each_image_of_a_hit(tmp_path, tiny_qwen3_vl_dir, tiny_images, capsys):
    from smart_plugins.encoder import SmartEncoder
    from smart_plugins.index import SmartIndex

    folder = tmp_path / "idx"
    index = SmartIndex.create(folder, SmartEncoder(str(tiny_qwen3_vl_dir), device="cpu"), compression="fp16")
    index.add([{"text": "two pages", "image": [str(tiny_images[0]), str(tiny_images[2])]}, "a note"], ids=["two", "note"])
    index.close()
    maps, page = tmp_path / "maps", tmp_path / "evidence.html"
    assert main(["search", str(folder), "red square", "-k", "2", "--exhaustive", "--json",
                 "--explain", "--heatmap", str(maps), "--html", str(page)]) == 0
    hits = {h["id"]: h for h in json.loads(capsys.readouterr().out)["hits"]}
    two = hits["two"]
    assert [Path(p).name for p in two["heatmaps"]] == ["q0-%03d-two-1.png" % two["rank"], "q0-%03d-two-2.png" % two["rank"]]
    assert two["heatmap"] == two["heatmaps"][0] and "heatmaps" not in hits["note"]
    for path, original in zip(two["heatmaps"], (tiny_images[0], tiny_images[2])):
        with Image.open(path) as png, Image.open(original) as image:
            assert png.size == image.size
    parser = _Marks()
    parser.feed(page.read_text(encoding="utf-8"))
    assert len(parser.sections["two"]["images"]) == 2 and not parser.sections["note"]["images"]
