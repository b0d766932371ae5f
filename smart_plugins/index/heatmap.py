"""Which patches of an image document the query's tokens matched, drawn over the image (PNG).

The drawing is sentence-transformers 6's own
:func:`~sentence_transformers.multi_vector_encoder.interpretability.maxsim_heatmap`; this module
supplies the query's token vectors, the image's patch vectors (re-encoded from the stored
reference with the index's encoder) and the patch grid the model's processor made.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any, Literal

import torch

from smart_plugins.encoder.multimodal import PATCH_TOKEN_ID
from smart_plugins.encoder.visual_budget import _image_processor, _size_value, estimate_visual_tokens, image_size
from smart_plugins.index.media import IMAGE_KEY, query_inputs


def patch_grid(n: int, height: int, width: int, processor: Any) -> tuple[int, int]:
    """``(rows, cols)`` of ``n`` patches of an image, as the processor lays them out (row-major).

    Examples
    --------
    >>> patch_grid(16, 30, 40, None)  # a centre-cropping processor: square grid
    (4, 4)
    >>> class P:
    ...     patch_size, merge_size, size = 4, 2, {"shortest_edge": 256, "longest_edge": 1024}
    >>> patch_grid(12, 30, 40, P())
    (3, 4)
    """
    image_processor = _image_processor(processor)
    patch, merge = getattr(image_processor, "patch_size", None), getattr(image_processor, "merge_size", None)
    if patch and merge and estimate_visual_tokens(height, width, processor) == n:
        aspect = width / height
    else:
        crop = getattr(image_processor, "crop_size", None)
        crop_h, crop_w = _size_value(crop, "height"), _size_value(crop, "width")
        aspect = (crop_w / crop_h) if crop_h and crop_w else (1.0 if crop is None and patch is None else width / height)
    pairs = [(r, n // r) for r in range(1, n + 1) if n % r == 0]
    return min(pairs, key=lambda rc: abs(math.log(rc[1] / rc[0]) - math.log(aspect)))


def explain_heatmap(
    index: Any, query: Any, id: str, path: str | Path, *, aggregate: Literal["sum", "amax"] = "amax"  # noqa: A002
) -> Path:
    """Save a PNG of document ``id``'s image with the patches ``query`` matched highlighted.

    ``aggregate="amax"`` colours each patch by its best similarity to any query token (what
    MaxSim keeps); ``"sum"`` adds every query token's similarity. Raises ValueError for a
    document without an image reference.
    """
    from sentence_transformers.multi_vector_encoder.interpretability import maxsim_heatmap
    from transformers.image_utils import load_image

    document = index.get(id)
    reference = document.metadata.get(IMAGE_KEY)
    if isinstance(reference, list):
        reference = reference[0] if reference else None
    if not reference:
        raise ValueError(f"document {id!r} has no image reference (metadata key {IMAGE_KEY!r}); heatmaps need an image document")
    encoder = index.encoder
    queries = encoder.encode_queries(query_inputs(query, encoder)[1][:1])
    page = encoder.encode_documents([reference])
    visual_ids = (encoder.describe().get("multimodal") or {}).get("visual_token_ids") or []
    is_patch = (page.token_ids == PATCH_TOKEN_ID) | torch.isin(page.token_ids, torch.tensor(visual_ids, dtype=torch.int64))
    patches = page.tokens[is_patch]
    if not len(patches):
        raise ValueError(f"the encoder kept no patch vectors for document {id!r}'s image")
    image = load_image(str(reference))
    height, width = image_size(image) or (image.height, image.width)
    rows, cols = patch_grid(len(patches), height, width, getattr(encoder.model[0], "processor", None))
    query_vectors = torch.nn.functional.normalize(queries.tokens.float(), dim=-1)
    rendered = maxsim_heatmap(image, query_vectors, patches.float(), n_patches=(cols, rows), aggregate=aggregate)
    out = Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    rendered.convert("RGB").save(out, format="PNG")
    return out
