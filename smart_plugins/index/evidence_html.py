"""A static HTML page of search evidence: matched tokens highlighted per hit, image heatmaps inline."""

from __future__ import annotations

import base64
import html
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from smart_plugins.index.results import Evidence, SearchHit

_STYLE = (
    "body{font-family:sans-serif;max-width:60em;margin:2em auto}"
    "mark{background:#ffe08a;border-radius:2px}section.hit{border-top:1px solid #ccc;padding:.5em 0}"
    "img.heatmap{max-width:100%;image-rendering:pixelated}table{border-collapse:collapse}"
    "td{padding:0 .6em;font-family:monospace}"
)


def highlighted_text(text: str, evidence: Evidence) -> str:
    """``text`` as HTML with every document token some query token matched wrapped in ``<mark>``.

    Each mark carries ``data-query-tokens`` (the query tokens that chose it) and
    ``data-similarity`` (the best of their cosine similarities).

    Examples
    --------
    >>> from smart_plugins.index.results import TokenMatch
    >>> ev = Evidence("q", "d", 1.0, 0.5, 0.5, [TokenMatch("red", 1, "red", 2, 0.9, (2, 5))])
    >>> highlighted_text("a red car", ev)
    'a <mark data-query-tokens="red" data-similarity="0.900">red</mark> car'
    """
    spans: dict[tuple[int, int], list[Any]] = {}
    for match in evidence.matches:
        if match.doc_span is not None:
            spans.setdefault(tuple(match.doc_span), []).append(match)  # type: ignore[arg-type]
    out, cursor = [], 0
    for (start, end), matches in sorted(spans.items()):
        if start < cursor:
            continue  # overlapping sub-word spans: the first one wins
        tokens = " ".join(sorted({m.query_token for m in matches}))
        best = max(m.similarity for m in matches)
        out.append(html.escape(text[cursor:start]))
        out.append(
            f'<mark data-query-tokens="{html.escape(tokens)}" data-similarity="{best:.3f}">{html.escape(text[start:end])}</mark>'
        )
        cursor = end
    out.append(html.escape(text[cursor:]))
    return "".join(out)


def write_evidence_html(
    path: str | Path,
    results: Sequence[tuple[Any, Sequence[tuple[SearchHit, Evidence, Path | Sequence[Path] | None]]]],
) -> Path:
    """Write one page for ``[(query, [(hit, evidence, heatmap PNG(s) or None), ...]), ...]``."""
    parts = ["<!DOCTYPE html>", '<html><head><meta charset="utf-8"><title>SMART evidence</title>', f"<style>{_STYLE}</style></head><body>"]
    for query, hits in results:
        parts.append(f'<h2 class="query">{html.escape(str(query))}</h2>')
        for hit, evidence, heatmap in hits:
            parts.append(f'<section class="hit" data-id="{html.escape(hit.id)}">')
            late = "-" if hit.late is None else f"{hit.late:.4f}"
            parts.append(
                f"<h3>{hit.rank}. {html.escape(hit.id)} <small>score {hit.score:.4f} "
                f"(pooled {hit.pooled:.4f}, late {late})</small></h3>"
            )
            if hit.text:
                parts.append(f'<p class="text">{highlighted_text(hit.text, evidence)}</p>')
            for png in [heatmap] if isinstance(heatmap, str | Path) else heatmap or []:  # one PNG per image of the hit
                data = base64.b64encode(Path(png).read_bytes()).decode("ascii")
                parts.append(f'<img class="heatmap" alt="patches matched in {html.escape(hit.id)}" src="data:image/png;base64,{data}">')
            rows = "".join(
                f"<tr><td>{html.escape(m.query_token)}</td><td>{html.escape(m.doc_token)}</td><td>{m.similarity:.3f}</td></tr>"
                for m in evidence.strongest(len(evidence.matches))
            )
            parts.append(f'<table class="matches"><tr><th>query token</th><th>document token</th><th>cosine</th></tr>{rows}</table>')
            parts.append("</section>")
    parts.append("</body></html>")
    out = Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(out.name + ".tmp")
    tmp.write_text("\n".join(parts), encoding="utf-8")
    tmp.replace(out)
    return out
