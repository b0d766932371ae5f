"""Turn ``smart-plugins eval --json`` reports into the docs' markdown table and combined λ plot.

    python benchmarks/eval_report.py docs/eval-results/*.json --plot docs/evaluation-lambda.png
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from smart_plugins.evaluation.plot import plot_sweeps

COLUMNS = ("ndcg@10", "recall@100", "mrr@10")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("reports", nargs="+")
    parser.add_argument("--plot")
    args = parser.parse_args()
    loaded = [json.loads(Path(p).read_text()) for p in args.reports]
    reports = [r for r in loaded if isinstance(r, dict) and "modes" in r and "dataset" in r]  # skip weights/policy files
    print("| task | mode | λ pool:late | " + " | ".join(COLUMNS) + " |")
    print("|---|---|---|" + "---:|" * len(COLUMNS))
    for report in reports:
        name = report["dataset"]["name"]
        best = max(report["modes"]["pooled"]["ndcg@10"], report["modes"]["late"]["ndcg@10"])
        for mode, values in report["modes"].items():
            w = values.get("weights")
            weights = f"{w['pool']:.3g}:{w['late']:.3g}" if w else {"pooled": "1:0", "late": "0:1"}.get(mode, "")
            cells = " | ".join(f"{values[c]:.3f}" for c in COLUMNS)
            gap = "" if mode == "bm25" else f" ({100 * (values['ndcg@10'] - best):+.1f} pt vs best of pooled/late)"
            print(f"| {name} | {mode}{gap} | {weights} | {cells} |")
        r = report["retrieval"]
        if not r.get("exhaustive"):
            recall = r["first_stage_recall@" + str(r["k"])]
            print(f"| {name} | first stage: pooled recall@{r['k']} = {recall:.3f} | | | | |")
    if args.plot:
        sweeps = {r["dataset"]["name"]: r["lambda_sweep"]["points"] for r in reports if "lambda_sweep" in r}
        print("plot:", plot_sweeps(sweeps, args.plot, title="MiniLM: nDCG@10 (test) against λ_late/λ_pool"))


if __name__ == "__main__":
    main()
