"""``smart-plugins eval`` on a tiny image task in BEIR layout (rows carry an ``image`` path)."""

from __future__ import annotations

import json
import shutil

import pytest

from smart_plugins.cli.main import main
from smart_plugins.evaluation.dataset import load_beir


@pytest.fixture()
def image_task(tmp_path, tiny_images):
    root = tmp_path / "task"
    (root / "pages").mkdir(parents=True)
    (root / "qrels").mkdir()
    for p in tiny_images:
        shutil.copy(p, root / "pages" / p.name)
    corpus = [{"_id": p.stem, "image": f"pages/{p.name}"} for p in tiny_images]
    corpus.append({"_id": "caption", "text": "a note about red squares"})
    queries = [{"_id": f"q-{p.stem}", "text": "", "image": f"pages/{p.name}"} for p in tiny_images]
    (root / "corpus.jsonl").write_text("".join(json.dumps(r) + "\n" for r in corpus))
    (root / "queries.jsonl").write_text("".join(json.dumps(r) + "\n" for r in queries))
    (root / "qrels" / "test.tsv").write_text("query-id\tcorpus-id\tscore\n" + "".join(f"q-{p.stem}\t{p.stem}\t1\n" for p in tiny_images))
    return root


def test_load_beir_resolves_image_paths(image_task):
    data = load_beir(image_task)
    assert data.doc_images[0] == str((image_task / "pages" / "red_square.png").resolve())
    assert len(data.query_images) == 4 and data.doc_texts[-1] == "a note about red squares"
    broken = image_task / "corpus.jsonl"
    broken.write_text(broken.read_text() + json.dumps({"_id": "x", "image": "pages/missing.png"}) + "\n")
    with pytest.raises(FileNotFoundError, match=r"corpus.jsonl:6: image 'pages/missing.png' not found"):
        load_beir(image_task)


@pytest.mark.slow
@pytest.mark.parametrize("fixture", ["tiny_clip_dir", "tiny_qwen2_vl_dir", "tiny_qwen3_vl_dir"])
def test_eval_reports_hit_at_1_and_ndcg_at_5_on_an_image_task(request, fixture, image_task, tmp_path, capsys):
    out = tmp_path / "report.json"
    model = request.getfixturevalue(fixture)
    assert main(["eval", str(image_task), "--model", str(model), "--exhaustive", "--quiet", "--json", str(out)]) == 0
    report = json.loads(out.read_text())
    assert set(report["modes"]) == {"default", "pooled", "late", "hybrid"}  # no BM25 over images
    for mode in ("pooled", "late"):
        entry = report["modes"][mode]
        assert {"hit@1", "ndcg@5", "ndcg@10", "recall@10", "mrr@10"} <= set(entry)
        assert entry["hit@1"] == 1.0 and entry["ndcg@5"] == 1.0  # each image query finds its own page
    assert "hit@1" in capsys.readouterr().out
