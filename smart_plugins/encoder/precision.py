"""Mixed-precision encoding: the backbone's matrix products in bfloat16 / float16, weights in float32.

``SmartEncoder(autocast="bfloat16")`` runs each forward pass under :func:`torch.autocast`: linear
layers and attention multiply in the low precision, while the weights, layer norms and softmax
keep float32, and the encoder's outputs are float32 as always. On a CPU with native bfloat16
matrix units (Intel AMX or AVX512-BF16; :func:`cpu_has_native_bf16`) this is the fastest way to
encode on the CPU (measured in docs/core.md, "CPU encoding backends"); on a CPU without them it is
slower than float32. Casting the weights themselves (``dtype="bfloat16"``) is faster still but
also rounds the layer norms and moves nDCG@10 more.

The vectors differ slightly from float32 ones, so an encoder with ``autocast`` set names it in
``describe()``: an index (or an encoding cache) built with it records it and is reopened with it.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

import torch

#: ``autocast`` names SmartEncoder accepts, and the torch dtypes they run in.
AUTOCAST_DTYPES: dict[str, torch.dtype] = {"bfloat16": torch.bfloat16, "float16": torch.float16}


def check_autocast(value: Any) -> str | None:
    """Return ``value`` if it is ``None`` or a known autocast dtype name, else raise ValueError.

    Examples
    --------
    >>> check_autocast("bfloat16"), check_autocast(None)
    ('bfloat16', None)
    >>> check_autocast("int8")  # doctest: +IGNORE_EXCEPTION_DETAIL
    Traceback (most recent call last):
    ValueError: autocast must be None or one of 'bfloat16', 'float16', got 'int8'
    """
    if value is None or (isinstance(value, str) and value in AUTOCAST_DTYPES):
        return value
    names = ", ".join(repr(n) for n in AUTOCAST_DTYPES)
    raise ValueError(f"autocast must be None or one of {names}, got {value!r}")


def cpu_has_native_bf16() -> bool:
    """Whether this CPU multiplies bfloat16 natively (AMX tiles or AVX512-BF16), as torch detects it.

    Examples
    --------
    >>> isinstance(cpu_has_native_bf16(), bool)
    True
    """
    probes = ("_is_amx_tile_supported", "_is_avx512_bf16_supported")  # torch.cpu's own CPUID probes
    return any(bool(getattr(torch.cpu, name, lambda: False)()) for name in probes)


@contextlib.contextmanager
def autocast_context(device: torch.device, autocast: str | None) -> Iterator[None]:
    """``torch.autocast`` on ``device`` in the named dtype; nothing when ``autocast`` is None.

    Examples
    --------
    >>> with autocast_context(torch.device("cpu"), "bfloat16"):
    ...     (torch.ones(2, 3) @ torch.ones(3, 2)).dtype
    torch.bfloat16
    """
    if autocast is None:
        yield
        return
    with torch.autocast(device_type=device.type, dtype=AUTOCAST_DTYPES[autocast]):
        yield
