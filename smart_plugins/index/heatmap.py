"""Which patches of an image document the query's tokens matched, drawn over the image (PNG).

The drawing is sentence-transformers 6's own
:func:`~sentence_transformers.multi_vector_encoder.interpretability.maxsim_heatmap`; this module
supplies the query's token vectors, each image's patch vectors (the stored document re-encoded
with the index's encoder: its text and all its images, as they were indexed) and the patch grid
the model's processor made.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any, Literal

import torch
from torch import Tensor

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


def document_input(text: str, reference: str | list[str]) -> Any:
    """What the index encoded for a stored image document: its reference(s), with its text if any.

    Examples
    --------
    >>> document_input("", "p1.png")
    'p1.png'
    >>> document_input("chart", ["p1.png", "p2.png"])
    {'text': 'chart', 'image': ['p1.png', 'p2.png']}
    """
    if text:
        return {"text": text, IMAGE_KEY: reference}
    return reference if isinstance(reference, str) else {IMAGE_KEY: reference}


def split_patches(is_patch: Tensor, positions: Tensor, n_images: int, expected: list[int | None]) -> list[Tensor]:
    """Indices of each image's patch vectors among one document's kept tokens.

    A vision-language template wraps every image in its own start/end tokens, so each image's
    visual tokens form one run of consecutive positions; a model that puts images side by side
    is split by the processor's own per-image counts (``expected``) instead.

    Examples
    --------
    >>> is_patch = torch.tensor([False, True, True, True, True, True])
    >>> [t.tolist() for t in split_patches(is_patch, torch.tensor([2, 5, 6, 9, 10, 11]), 2, [None, None])]
    [[1, 2], [3, 4, 5]]
    >>> [t.tolist() for t in split_patches(is_patch, torch.tensor([2, 3, 4, 5, 6, 7]), 2, [2, 3])]
    [[1, 2], [3, 4, 5]]
    """
    where = is_patch.nonzero().flatten()
    if n_images == 1:
        return [where]
    breaks = ((positions[where][1:] - positions[where][:-1]) != 1).nonzero().flatten() + 1
    runs = list(torch.tensor_split(where, breaks))
    if len(runs) == n_images:
        return runs
    if all(e is not None for e in expected) and sum(expected) == len(where):  # type: ignore[arg-type]
        return list(where.split(expected))  # type: ignore[arg-type]
    raise ValueError(f"cannot tell which of the {len(where)} patch vectors belong to which of the document's {n_images} images")


def _render(index: Any, query: Any, id: str, aggregate: str) -> list[Any]:  # noqa: A002
    """One heatmap image (PIL) per image of document ``id``, in the order of its images."""
    from sentence_transformers.multi_vector_encoder.interpretability import maxsim_heatmap
    from transformers.image_utils import load_image

    document = index.get(id)
    reference = document.metadata.get(IMAGE_KEY)
    references = [str(r) for r in reference] if isinstance(reference, list | tuple) else [reference] if reference else []
    if not references:
        raise ValueError(f"document {id!r} has no image reference (metadata key {IMAGE_KEY!r}); heatmaps need an image document")
    encoder = index.encoder
    processor = getattr(encoder.model[0], "processor", None)
    queries = encoder.encode_queries(query_inputs(query, encoder)[1][:1])
    page = encoder.encode_documents([document_input(document.text, reference)])
    visual_ids = (encoder.describe().get("multimodal") or {}).get("visual_token_ids") or []
    is_patch = (page.token_ids == PATCH_TOKEN_ID) | torch.isin(page.token_ids, torch.tensor(visual_ids, dtype=torch.int64))
    if not bool(is_patch.any()):
        raise ValueError(f"the encoder kept no patch vectors for document {id!r}'s image")
    images = [load_image(r) for r in references]
    sizes = [image_size(image) or (image.height, image.width) for image in images]
    expected = [estimate_visual_tokens(h, w, processor, getattr(encoder, "max_visual_tokens", None)) for h, w in sizes]
    query_vectors = torch.nn.functional.normalize(queries.tokens.float(), dim=-1)
    rendered = []
    for image, (height, width), patches in zip(images, sizes, split_patches(is_patch, page.positions, len(images), expected)):
        vectors = page.tokens[patches].float()
        rows, cols = patch_grid(len(vectors), height, width, processor)
        rendered.append(maxsim_heatmap(image, query_vectors, vectors, n_patches=(cols, rows), aggregate=aggregate))
    return rendered


def _save(rendered: Any, path: str | Path) -> Path:
    out = Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    rendered.convert("RGB").save(out, format="PNG")
    return out


def explain_heatmaps(
    index: Any, query: Any, id: str, path: str | Path, *, aggregate: Literal["sum", "amax"] = "amax"  # noqa: A002
) -> list[Path]:
    """Save one PNG per image of document ``id``, each at its image's size; returns their paths.

    A document with one image is drawn to ``path``; one with several to ``<stem>-1.png``,
    ``<stem>-2.png``... beside it, in the order of its images. See :func:`explain_heatmap`.
    """
    rendered = _render(index, query, id, aggregate)
    path = Path(path)
    if len(rendered) == 1:
        return [_save(rendered[0], path)]
    return [_save(r, path.with_name(f"{path.stem}-{k + 1}{path.suffix}")) for k, r in enumerate(rendered)]


def explain_heatmap(
    index: Any,
    query: Any,
    id: str,  # noqa: A002
    path: str | Path,
    *,
    image: int = 0,
    aggregate: Literal["sum", "amax"] = "amax",
) -> Path:
    """Save a PNG of document ``id``'s image with the patches ``query`` matched highlighted.

    The document is re-encoded as the index encoded it (its text and all its images together),
    so the patch vectors drawn are the ones its late-interaction score used. ``image`` picks one
    of a document's several images (:func:`explain_heatmaps` draws them all).
    ``aggregate="amax"`` colours each patch by its best similarity to any query token (what
    MaxSim keeps); ``"sum"`` adds every query token's similarity. Raises ValueError for a
    document without an image reference, or an ``image`` it does not have.
    """
    rendered = _render(index, query, id, aggregate)
    if not isinstance(image, int) or isinstance(image, bool) or not -len(rendered) <= image < len(rendered):
        raise ValueError(f"image must be an image number of document {id!r} (it has {len(rendered)}), got {image!r}")
    return _save(rendered[image], path)
