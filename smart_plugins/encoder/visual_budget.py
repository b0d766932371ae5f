"""Visual-token accounting for vision-language models: per-page caps and token-budget batches.

A page image becomes hundreds to thousands of visual tokens, so batches are sized by the
visual tokens they hold rather than by a count, and a cap on tokens per page (the reference
caps a page at about 1,800) bounds memory. The estimates follow the model's own image
processor (Qwen2-VL-style ``patch_size`` x ``merge_size`` resizing, or a fixed crop).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any


def _image_processor(processor: Any) -> Any:
    return getattr(processor, "image_processor", processor)


def _size_value(size: Any, key: str) -> Any:
    if size is None:
        return None
    if isinstance(size, Mapping):
        return size.get(key)
    return getattr(size, key, None)


def _images_in(item: Any) -> list[Any]:
    """The image inputs inside one encoder input (a bare image, a dict's ``image``, message content)."""
    if isinstance(item, Mapping):
        if "image" in item:
            value = item["image"]
            return list(value) if isinstance(value, list | tuple) else [value]
        if "content" in item:
            return _images_in([item])
        return []
    if isinstance(item, list | tuple) and item and isinstance(item[0], Mapping) and "role" in item[0]:
        found = []
        for message in item:
            content = message.get("content")
            if isinstance(content, list):
                found.extend(part.get("image") for part in content if isinstance(part, Mapping) and part.get("type") == "image")
        return [f for f in found if f is not None]
    if isinstance(item, str):
        return [item]  # only called for non-text inputs: a string here is an image path or URL
    return [item]


def image_size(image: Any) -> tuple[int, int] | None:
    """``(height, width)`` of a PIL image, an array, or an image file (header only); None if unknown.

    Examples
    --------
    >>> from PIL import Image
    >>> image_size(Image.new("RGB", (40, 30)))
    (30, 40)
    >>> image_size("https://example.com/page.png") is None
    True
    """
    size = getattr(image, "size", None)
    if isinstance(size, tuple) and len(size) == 2 and hasattr(image, "mode"):  # PIL: (width, height)
        return int(size[1]), int(size[0])
    shape = getattr(image, "shape", None)
    if shape is not None and len(shape) == 3:
        h, w = (shape[1], shape[2]) if shape[0] in (1, 3, 4) and shape[-1] not in (1, 3, 4) else (shape[0], shape[1])
        return int(h), int(w)
    if isinstance(image, str) and "://" not in image:
        try:
            from PIL import Image

            with Image.open(image) as opened:
                return int(opened.size[1]), int(opened.size[0])
        except (OSError, ValueError):
            return None
    return None


def estimate_visual_tokens(height: int, width: int, processor: Any, cap: int | None = None) -> int | None:
    """Visual tokens the model's processor makes of an image of this size (None if it can't tell).

    Examples
    --------
    >>> class P:  # a Qwen2-VL-style image processor: 4-pixel patches merged 2 x 2
    ...     patch_size, merge_size, size = 4, 2, {"shortest_edge": 256, "longest_edge": 1024}
    >>> estimate_visual_tokens(30, 40, P())
    12
    >>> estimate_visual_tokens(3000, 4000, P(), cap=4)  # never above the cap
    2
    """
    image_processor = _image_processor(processor)
    patch = getattr(image_processor, "patch_size", None) or getattr(processor, "patch_size", None)
    merge = getattr(image_processor, "merge_size", None)
    if isinstance(patch, Mapping):
        patch = patch.get("height")
    if patch and merge:
        size = getattr(image_processor, "size", None)
        min_pixels = _size_value(size, "shortest_edge") or getattr(image_processor, "min_pixels", None) or 0
        max_pixels = _size_value(size, "longest_edge") or getattr(image_processor, "max_pixels", None)
        factor = int(patch) * int(merge)
        if cap is not None:
            max_pixels = min(max_pixels or cap * factor * factor, cap * factor * factor)
        h = max(factor, round(height / factor) * factor)
        w = max(factor, round(width / factor) * factor)
        if max_pixels and h * w > max_pixels:
            beta = math.sqrt(height * width / max_pixels)
            h = max(factor, math.floor(height / beta / factor) * factor)
            w = max(factor, math.floor(width / beta / factor) * factor)
        elif min_pixels and h * w < min_pixels:
            beta = math.sqrt(min_pixels / (height * width))
            h = math.ceil(height * beta / factor) * factor
            w = math.ceil(width * beta / factor) * factor
        return (h // factor) * (w // factor)
    crop = getattr(image_processor, "crop_size", None)
    crop_h, crop_w = _size_value(crop, "height"), _size_value(crop, "width")
    if patch and crop_h and crop_w:
        return (int(crop_h) // int(patch)) * (int(crop_w) // int(patch))
    return None


def visual_token_costs(items: Sequence[Any], processor: Any, cap: int | None = None) -> list[int]:
    """Estimated visual tokens of each input (at least 1), for :func:`plan_batches`."""
    costs = []
    for item in items:
        total = 0
        for image in _images_in(item):
            size = image_size(image)
            estimate = estimate_visual_tokens(*size, processor, cap) if size else None
            total += estimate or 1
        costs.append(max(1, total))
    return costs


def plan_batches(costs: Sequence[int], *, max_items: int, budget: int | None = None) -> list[list[int]]:
    """Group input positions into batches of at most ``max_items`` inputs and ``budget`` summed cost.

    Inputs are taken largest first (similar sizes share a batch, so little padding); an input
    larger than the budget on its own gets a batch of its own.

    Examples
    --------
    >>> plan_batches([300, 1800, 500, 1200], max_items=8, budget=2000)
    [[1], [3, 2, 0]]
    >>> plan_batches([1, 1, 1], max_items=2)
    [[0, 1], [2]]
    """
    if max_items < 1:
        raise ValueError(f"max_items must be positive, got {max_items}")
    order = sorted(range(len(costs)), key=lambda i: -costs[i]) if budget else list(range(len(costs)))
    batches: list[list[int]] = []
    current: list[int] = []
    used = 0
    for i in order:
        if current and (len(current) >= max_items or (budget and used + costs[i] > budget)):
            batches.append(current)
            current, used = [], 0
        current.append(i)
        used += costs[i]
    if current:
        batches.append(current)
    return batches


def cap_visual_tokens(processor: Any, max_tokens: int) -> bool:
    """Limit the processor to ``max_tokens`` visual tokens per image; False where it has no such knob.

    Qwen2-VL-style processors resize each image to at most ``longest_edge`` pixels (their
    ``max_pixels``); the cap sets that to ``max_tokens`` merged patches.
    """
    image_processor = _image_processor(processor)
    patch, merge = getattr(image_processor, "patch_size", None), getattr(image_processor, "merge_size", None)
    size = getattr(image_processor, "size", None)
    if not (patch and merge) or size is None:
        return False
    factor = int(patch) * int(merge)
    limit = max_tokens * factor * factor
    current = _size_value(size, "longest_edge")
    new_max = min(int(current), limit) if current else limit
    shortest = _size_value(size, "shortest_edge")
    new_min = min(int(shortest), new_max) if shortest else None
    if isinstance(size, dict):
        size["longest_edge"] = new_max
        if new_min is not None:
            size["shortest_edge"] = new_min
    else:
        setattr(size, "longest_edge", new_max)
        if new_min is not None:
            setattr(size, "shortest_edge", new_min)
    return True
