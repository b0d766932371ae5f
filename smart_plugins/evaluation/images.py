"""Image tasks in BEIR layout: corpus (and query) rows with an ``image`` path, as ViDoRe / MMEB tasks look once converted.

The encoder gets ``{"text", "image"}`` for a row with both, the image path for an image-only
row and the text otherwise. Image tasks also report hit@1 (MMEB's metric) and nDCG@5
(ViDoRe's) beside the usual metrics, computed by ir-measures like every other metric.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from smart_plugins.evaluation.dataset import BeirDataset

#: Extra report names for image tasks -> ir-measures measure strings.
IMAGE_TASK_METRICS: dict[str, str] = {"hit@1": "Success@1", "ndcg@5": "nDCG@5"}


def has_images(data: BeirDataset) -> bool:
    return bool(data.doc_images or data.query_images)


def dense_inputs(texts: Sequence[str], images: Sequence[str | None]) -> list[Any]:
    """Encoder inputs for rows of ``texts`` with optional ``images`` (an empty list: texts only).

    Examples
    --------
    >>> dense_inputs(["a caption", "", "only text"], ["/p/1.png", "/p/2.png", None])
    [{'text': 'a caption', 'image': '/p/1.png'}, '/p/2.png', 'only text']
    """
    if not images:
        return list(texts)
    out: list[Any] = []
    for text, image in zip(texts, images):
        if image is None:
            out.append(text)
        elif text.strip():
            out.append({"text": text, "image": image})
        else:
            out.append(image)
    return out


def with_image_metrics(metrics: Mapping[str, str]) -> dict[str, str]:
    """``metrics`` plus hit@1 and nDCG@5 (kept first if already asked for)."""
    return {**dict(metrics), **{k: v for k, v in IMAGE_TASK_METRICS.items() if k not in metrics}}
