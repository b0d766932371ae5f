"""benchmarks/million_docs.py runs end to end at a tiny size and reports every figure, with sane values."""

from __future__ import annotations

import json
import math
import subprocess
import sys
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[2] / "benchmarks" / "million_docs.py"
BUILD_PHASES = {"generate", "codec_train", "codec_encode", "segment_files", "commit", "add_other", "add_total", "hnsw", "index_total"}
DISK_PARTS = {"tokens", "pooled", "token_ids_positions", "texts_ids", "hnsw", "other"}


def run(work: Path, *extra: str, docs: int = 600, check: bool = True) -> subprocess.CompletedProcess:
    args = [sys.executable, str(SCRIPT), "--docs", str(docs), "--chunk", "256", "--avg-tokens", "20", "--dim", "64",
            "--queries", "24", "--exhaustive-queries", "6", "--workdir", str(work), *extra]
    done = subprocess.run(args, capture_output=True, text=True, timeout=600)
    if check:
        assert done.returncode == 0, done.stderr[-3000:]
    return done


def row_of(done: subprocess.CompletedProcess) -> dict:
    rows = [line for line in done.stdout.splitlines() if line.startswith("{")]
    assert len(rows) == 1, done.stdout[-2000:]
    return json.loads(rows[0])


@pytest.mark.slow
def test_tiny_run_reports_every_figure_and_keep_reuses_the_index(tmp_path: Path) -> None:
    work = tmp_path / "work"
    done = run(work)
    row = row_of(done)
    assert row == json.loads((work / "result.json").read_text())
    assert (row["docs"], row["dim"], row["compression"], row["queries"], row["build_reused"]) == (600, 64, "residual-2", 24, False)

    build = row["build"]
    assert build["segments"] == 3  # 600 documents in chunks of 256, one segment per add
    assert 600 * 20 * 0.8 < build["stored_tokens"] < 600 * 20 * 1.2
    phases = build["build_s"]
    assert set(phases) == BUILD_PHASES
    assert set(build["build_cpu_s"]) == BUILD_PHASES - {"add_other", "index_total"}
    assert all(v > 0 for v in build["build_cpu_s"].values()), build["build_cpu_s"]
    assert all(math.isfinite(v) and v >= 0 for v in phases.values()), phases
    assert phases["codec_train"] > 0 and phases["codec_encode"] > 0 and phases["hnsw"] > 0 and phases["commit"] > 0
    assert phases["index_total"] == pytest.approx(phases["add_total"] + phases["hnsw"])
    parts = phases["codec_train"] + phases["codec_encode"] + phases["segment_files"] + phases["commit"] + phases["add_other"]
    assert parts == pytest.approx(phases["add_total"])
    for key in ("add_docs_per_s", "add_docs_per_s_without_training", "add_docs_per_s_first_tenth",
                "add_docs_per_s_last_tenth", "hnsw_vectors_per_s"):
        assert build[key] > 0, key
    assert build["add_docs_per_s_without_training"] > build["add_docs_per_s"]  # k-means left out
    assert len(build["build_heap_mib_by_quarter"]) == 5 and min(build["build_heap_mib_by_quarter"]) > 0
    assert build["first_stage"] == {"kind": "hnsw"} and build["hnsw_graph_bytes"] > 0 and build["hnsw_threads"] >= 1

    disk = row["disk"]
    assert set(disk["by_part"]) == DISK_PARTS
    assert disk["bytes"] == sum(disk["by_part"].values()) and disk["allocated_bytes"] >= 4096
    assert disk["by_part"]["pooled"] >= 600 * 64 * 4  # float32 pooled vectors
    codec_bytes = build["codec"]["bytes_per_token"]
    assert codec_bytes == 64 * 2 // 8 + 2 + 4  # residual-2 at 64-d: packed residuals, centroid id, norm
    assert codec_bytes <= disk["token_bytes_per_token"] < codec_bytes + 0.5  # + the .npy headers
    assert disk["bytes_per_token"] > disk["token_bytes_per_token"]

    assert set(row["search"]) == {"as built", "cold"}
    for label, search in row["search"].items():
        assert search["open_s"] > 0 and search["graph_load_s"] > 0, label
        for stage in ("first", "rerank", "total"):
            lat = search["latency_ms"][stage]
            assert 0 < lat["p50"] <= lat["p95"], (label, stage)
        end = search["status_end"]
        assert end["RssAnon"] > 0 and end["RssFile"] > 0 and end["VmHWM"] >= end["VmRSS"] > 0

    rec = row["recall"]
    assert rec["queries"] == 24 and rec["exhaustive_queries"] == 6 and rec["exhaustive_s"] > 0
    assert 0.9 <= rec["first_stage_recall_at_candidates"] <= 1.0  # 600 vectors: HNSW is all but exact
    assert rec["source_doc_in_top10"] >= 0.9
    assert 0.9 <= rec["exhaustive_top10_in_candidates"] <= 1.0
    for key in ("top10_agreement", "top10_agreement_exact_first_stage"):
        assert 0.5 <= rec[key] <= 1.0, key  # residual-2 at 64-d loses a little against the fp32 reference
    assert "| disk: size / allocated |" in done.stdout

    refused = run(work, check=False)  # the index is there: never overwritten without --keep
    assert refused.returncode != 0 and "--keep" in refused.stderr
    assert rec["exhaustive_reference"] == "build" and rec["exhaustive_top10"] == build["exhaustive_reference"]["top10"]
    assert len(rec["exhaustive_top10"]) == 6 and all(len(set(top)) == 10 for top in rec["exhaustive_top10"])
    # reused: fewer exhaustive queries than the build scored -> a second pass over the regenerated chunks
    kept = row_of(run(work, "--keep", "--no-cold", "--exhaustive-queries", "4", "--ef-search", "300"))
    assert kept["build"]["first_stage"] == {"kind": "hnsw", "ef_search": 300}  # a search option: the graph is kept
    assert kept["build_reused"] is True and set(kept["search"]) == {"as built"}
    assert {k: v for k, v in kept["build"].items() if k != "first_stage"} == {k: v for k, v in build.items() if k != "first_stage"}
    assert {k: v for k, v in kept["disk"]["by_part"].items() if k != "other"} == {
        k: v for k, v in disk["by_part"].items() if k != "other"}  # the same files; only the manifest changed
    assert kept["recall"]["first_stage_recall_at_candidates"] >= rec["first_stage_recall_at_candidates"]  # wider search
    assert kept["recall"]["exhaustive_reference"] == "second pass"
    assert kept["recall"]["exhaustive_top10"] == rec["exhaustive_top10"][:4]  # the same documents and scores

    other = run(work, "--keep", "--compression", "residual-4", check=False)
    assert other.returncode != 0 and "compression" in other.stderr


@pytest.mark.slow
def test_exhaustive_reference_matches_the_index_when_nothing_is_approximated(tmp_path: Path) -> None:
    """fp32 tokens and every document a candidate: two-stage search is exhaustive, so it must
    agree exactly with the benchmark's own exhaustive top-10 over the regenerated chunks."""
    row = row_of(run(tmp_path / "w", "--compression", "fp32", "--candidates", "500", "--no-cold", docs=300))
    rec = row["recall"]
    assert rec["first_stage_recall_at_candidates"] == 1.0
    assert rec["exhaustive_top10_in_candidates"] == 1.0
    assert rec["top10_agreement"] == 1.0 and rec["top10_agreement_exact_first_stage"] == 1.0
    assert row["disk"]["token_bytes_per_token"] == pytest.approx(64 * 4, abs=0.1)
