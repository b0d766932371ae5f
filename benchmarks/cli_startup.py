"""Wall time of CLI commands that need no model, for two source trees side by side (interleaved runs).

Usage (from the repository root; ``BEFORE`` is an older ``smart_plugins`` tree, e.g. from
``git archive <commit> smart_plugins | tar -x -C /tmp/before``)::

    flock /tmp/cpu-heavy.lock python benchmarks/cli_startup.py --before /tmp/before --repeat 5

Each command runs in a fresh interpreter (``python -c`` calling ``smart_plugins.cli.main.main``)
with the chosen tree first on the import path; runs of the two trees alternate so that machine
load hits both alike. Reports the median seconds per tree and the ratio, plus which heavy
libraries each command imported.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

RUNNER = """
import sys
sys.meta_path = [f for f in sys.meta_path if "editable" not in type(f).__module__.lower()]
sys.path.insert(0, {tree!r})
from smart_plugins.cli.main import main
code = main({argv!r})
heavy = [m for m in ("torch", "transformers", "sentence_transformers", "faiss") if m in sys.modules]
print("HEAVY=" + ",".join(heavy), file=sys.stderr)
sys.exit(0)
"""


def _time(tree: str, argv: list[str]) -> tuple[float, str]:
    start = time.perf_counter()
    done = subprocess.run([sys.executable, "-c", RUNNER.format(tree=tree, argv=argv)], capture_output=True, text=True)
    elapsed = time.perf_counter() - start
    heavy = next((line[6:] for line in done.stderr.splitlines() if line.startswith("HEAVY=")), "?")
    return elapsed, heavy or "-"


def _make_index(folder: Path) -> None:
    from smart_plugins.index import SmartIndex

    with SmartIndex.create(folder, "minilm", compression="fp16") as index:
        index.add([f"document number {i} about packages" for i in range(50)], ids=[f"d{i}" for i in range(50)])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--before", required=True, help="root of the older tree (holds smart_plugins/)")
    parser.add_argument("--after", default=str(Path(__file__).resolve().parents[1]), help="root of the newer tree")
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    folder = Path(tempfile.mkdtemp(prefix="cli-startup-")) / "idx"
    _make_index(folder)
    commands = {
        "--help": ["--help"],
        "index --help": ["index", "--help"],
        "index info": ["index", "info", str(folder)],
        "index compact": ["index", "compact", str(folder)],
        "index delete (unknown id)": ["index", "delete", str(folder), "ghost"],
    }
    report = {}
    for name, argv in commands.items():
        runs: dict[str, list[float]] = {"before": [], "after": []}
        heavy = {}
        for _ in range(args.repeat):
            for label, tree in (("before", args.before), ("after", args.after)):
                seconds, heavy[label] = _time(tree, argv)
                runs[label].append(seconds)
        before, after = statistics.median(runs["before"]), statistics.median(runs["after"])
        report[name] = {"before_s": round(before, 2), "after_s": round(after, 2), "ratio": round(before / after, 2),
                        "imports_before": heavy["before"], "imports_after": heavy["after"]}
        print(f"{name:<28} before {before:6.2f} s ({heavy['before']})  after {after:6.2f} s ({heavy['after']})  "
              f"x{before / after:.1f} faster", flush=True)
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
