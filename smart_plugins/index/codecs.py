"""Token-vector codecs: how an index stores its token vectors on disk.

Every codec turns ``(T, D)`` float32 token vectors into a few arrays whose first axis is the
token (so any set of token rows can be gathered straight from memory-mapped files), and turns
gathered rows back into float32 vectors for :func:`smart_plugins.scoring.maxsim`.

=============  ==========================================  ===================  ==============
name           stored per token                            bytes/token (D=384)  needs training
=============  ==========================================  ===================  ==============
``fp32``       the vector                                  1536                 no
``fp16``       the vector in half precision                768                  no
``int8``       int8 vector + float16 scale                 386                  no
``residual-4`` centroid id, 4-bit residual per dim, norm   198 (192 + 2 + 4)    yes (k-means)
``residual-2`` centroid id, 2-bit residual per dim, norm   102 (96 + 2 + 4)     yes
``residual-1`` centroid id, 1-bit residual per dim, norm   54 (48 + 2 + 4)      yes
=============  ==========================================  ===================  ==============

The residual codecs follow ColBERTv2: k-means centroids (faiss) over a sample of the token
vectors, then each dimension of the residual ``x - c`` is bucketed at quantile cut-offs and
stored as a small integer; decoding adds the bucket's mean value back to the centroid and
re-normalises the vector. The reconstruction's norm is stored too (float32), so the index scores
the codes without rebuilding the vectors (:meth:`ResidualCodec.similarities`).
"""

from __future__ import annotations

import math
from abc import ABC, abstractmethod
from collections import deque
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np

from smart_plugins.lazy import import_faiss, lazy_module

if TYPE_CHECKING:
    from torch import Tensor

torch = lazy_module("torch", globals())

#: Token vectors a residual codec encodes at once (its working arrays stay in the CPU cache).
ENCODE_TOKENS = 1024
#: Centroid scores computed at once when assigning tokens to centroids (4 MiB of float32).
ASSIGN_SCORES = 1 << 20
#: Token rows scored at once by :meth:`TokenCodec.similarities`: a block's decoded float32 vectors
#: (12 MiB at 384-d) stay in the CPU cache between being written and being multiplied, instead of
#: the whole candidate set's going to memory and back (residual-4, 16 query tokens: 140,000 tokens
#: 56 against 128 ms, 12,000 tokens 4.6 against 5.5 ms; 2,048 and 32,768 measured slower).
SIMILARITY_BLOCK_TOKENS = 8192
#: Codec names accepted by :func:`make_codec`.
CODEC_NAMES: tuple[str, ...] = ("fp32", "fp16", "int8", "residual-4", "residual-2", "residual-1")


class TokenCodec(ABC):
    """Encode float token vectors into row-aligned arrays and decode gathered rows back.

    Examples
    --------
    >>> import numpy as np
    >>> codec = make_codec("int8", dim=4)
    >>> x = np.array([[0.5, -0.5, 0.5, -0.5]], dtype=np.float32)
    >>> arrays = codec.encode(x)
    >>> sorted(arrays), codec.bytes_per_token
    (['codes', 'scales'], 6)
    >>> codec.decode(arrays).numpy().round(3).tolist()
    [[0.5, -0.5, 0.5, -0.5]]
    """

    name: ClassVar[str]

    def __init__(self, dim: int) -> None:
        if dim <= 0:
            raise ValueError(f"token dimension must be positive, got {dim}")
        self.dim = int(dim)

    @property
    def needs_training(self) -> bool:
        """True while the codec must see sample vectors (:meth:`train`) before encoding."""
        return False

    def train(self, sample: np.ndarray) -> None:  # noqa: B027 - optional hook
        """Fit the codec's parameters on ``sample`` (``(T, D)`` float32); no-op by default."""

    @property
    @abstractmethod
    def bytes_per_token(self) -> int:
        """Bytes stored per token vector (all arrays together)."""

    @abstractmethod
    def encode(self, tokens: np.ndarray) -> dict[str, np.ndarray]:
        """``(T, D)`` float32 -> arrays whose first axis has length ``T``."""

    @abstractmethod
    def decode(self, arrays: dict[str, np.ndarray]) -> Tensor:
        """Gathered rows of the arrays -> ``(T, D)`` float32 L2-normalised vectors."""

    def similarities(self, arrays: dict[str, np.ndarray], query_tokens: Tensor) -> Tensor:
        """``(T, Tq)`` float32 cosines of the gathered token rows with the query token vectors.

        The default decodes and multiplies, ``SIMILARITY_BLOCK_TOKENS`` rows at a time; codecs with
        a cheaper exact route override it. The result feeds
        :func:`smart_plugins.scoring.reduce_similarities`.
        """
        queries = query_tokens.to(torch.float32)

        def score(first: int, stop: int, out: Tensor) -> None:
            torch.mm(self.decode({name: array[first:stop] for name, array in arrays.items()}), queries.T, out=out)

        return _in_row_blocks(len(next(iter(arrays.values()))), queries.shape[0], score)

    def state(self) -> dict[str, np.ndarray]:
        """Trained parameters to persist (empty for codecs that need no training)."""
        return {}

    def load_state(self, state: dict[str, np.ndarray]) -> None:  # noqa: B027 - optional hook
        """Restore parameters saved by :meth:`state`."""

    def describe(self) -> dict[str, Any]:
        return {"name": self.name, "dim": self.dim, "bytes_per_token": self.bytes_per_token}

    def _check(self, tokens: np.ndarray) -> np.ndarray:
        tokens = np.ascontiguousarray(tokens, dtype=np.float32)
        if tokens.ndim != 2 or tokens.shape[1] != self.dim:
            raise ValueError(f"{self.name} codec expects (tokens, {self.dim}) vectors, got shape {tokens.shape}")
        return tokens


class Float32Codec(TokenCodec):
    """Token vectors stored as they are (the uncompressed reference)."""

    name = "fp32"

    @property
    def bytes_per_token(self) -> int:
        return 4 * self.dim

    def encode(self, tokens: np.ndarray) -> dict[str, np.ndarray]:
        return {"vectors": self._check(tokens)}

    def decode(self, arrays: dict[str, np.ndarray]) -> Tensor:
        return torch.from_numpy(np.array(arrays["vectors"], dtype=np.float32))


class Float16Codec(TokenCodec):
    """Token vectors in half precision (unit vectors lose about 3 decimal digits)."""

    name = "fp16"

    @property
    def bytes_per_token(self) -> int:
        return 2 * self.dim

    def encode(self, tokens: np.ndarray) -> dict[str, np.ndarray]:
        return {"vectors": self._check(tokens).astype(np.float16)}

    def decode(self, arrays: dict[str, np.ndarray]) -> Tensor:
        return torch.from_numpy(np.asarray(arrays["vectors"]).astype(np.float32))


class Int8Codec(TokenCodec):
    """Symmetric int8 per dimension with one float16 scale per vector (``max|x| / 127``)."""

    name = "int8"

    @property
    def bytes_per_token(self) -> int:
        return self.dim + 2

    def encode(self, tokens: np.ndarray) -> dict[str, np.ndarray]:
        tokens = self._check(tokens)
        scales = np.abs(tokens).max(axis=1) / 127.0
        scales = np.where(scales > 0, scales, 1.0).astype(np.float16)
        codes = np.clip(np.rint(tokens / scales.astype(np.float32)[:, None]), -127, 127).astype(np.int8)
        return {"codes": codes, "scales": scales}

    def decode(self, arrays: dict[str, np.ndarray]) -> Tensor:
        codes = torch.from_numpy(np.asarray(arrays["codes"]).astype(np.float32))
        scales = torch.from_numpy(np.asarray(arrays["scales"]).astype(np.float32))
        return codes * scales[:, None]


class ResidualCodec(TokenCodec):
    """ColBERTv2-style residual quantisation: centroid id + ``bits``-bit residual per dimension.

    Parameters
    ----------
    dim:
        Token vector dimension (``bits * dim`` must be a multiple of 8).
    bits:
        1, 2 or 4 bits per residual dimension.
    n_centroids:
        k-means centroids; default: a power of two near ``4 * sqrt(sample size)``, capped at
        ``max_centroids`` and at ``sample size / 32`` (so k-means has enough points).
    max_train_tokens:
        Token vectors sampled (uniformly, seeded) to fit the centroids and buckets.

    Examples
    --------
    >>> import numpy as np
    >>> rng = np.random.default_rng(0)
    >>> x = rng.normal(size=(2000, 16)).astype(np.float32)
    >>> x /= np.linalg.norm(x, axis=1, keepdims=True)
    >>> codec = ResidualCodec(16, bits=4)
    >>> codec.train(x)
    >>> decoded = codec.decode(codec.encode(x)).numpy()
    >>> bool(np.mean(np.sum(decoded * x, axis=1)) > 0.9)
    True
    """

    def __init__(
        self,
        dim: int,
        bits: int = 2,
        *,
        n_centroids: int | None = None,
        max_centroids: int = 4096,
        max_train_tokens: int = 65_536,
        seed: int = 0,
    ) -> None:
        super().__init__(dim)
        if bits not in (1, 2, 4):
            raise ValueError(f"residual codec bits must be 1, 2 or 4, got {bits}")
        if (dim * bits) % 8:
            raise ValueError(f"residual-{bits} needs dim * bits to be a multiple of 8; dim is {dim}")
        self.bits = bits
        self.n_centroids = n_centroids
        self.max_centroids = max_centroids
        self.max_train_tokens = max_train_tokens
        self.seed = seed
        self.centroids: np.ndarray | None = None
        self.cutoffs: np.ndarray | None = None
        self.bucket_weights: np.ndarray | None = None
        self._lut: np.ndarray | None = None
        self._centroids_t: Tensor | None = None
        self._half_norms: Tensor | None = None  # |c|^2 / 2 per centroid, for assigning tokens

    @property
    def name(self) -> str:  # type: ignore[override]
        return f"residual-{self.bits}"

    @property
    def needs_training(self) -> bool:
        return self.centroids is None

    @property
    def bytes_per_token(self) -> int:
        return self.dim * self.bits // 8 + self._id_bytes + 4  # + the float32 norm

    @property
    def _id_bytes(self) -> int:
        k = len(self.centroids) if self.centroids is not None else (self.n_centroids or self.max_centroids)
        return 2 if k <= 65536 else 4

    def train(self, sample: np.ndarray) -> None:
        sample = self._check(sample)
        if len(sample) == 0:
            raise ValueError("the residual codec needs at least one token vector to train on")
        rng = np.random.default_rng(self.seed)
        if len(sample) > self.max_train_tokens:
            sample = sample[np.sort(rng.choice(len(sample), self.max_train_tokens, replace=False))]
        k = self.n_centroids or self._auto_centroids(len(sample))
        k = max(1, min(k, len(sample)))
        self.centroids = _kmeans(sample, k, self.seed)
        self._lut, self._centroids_t, self._half_norms = None, None, None  # caches of the previous state
        ids = self._assign(sample)
        residuals = (sample - self.centroids[ids]).reshape(-1)
        levels = 1 << self.bits
        quantiles = np.arange(1, levels) / levels
        self.cutoffs = np.quantile(residuals, quantiles).astype(np.float32)
        bucket = np.searchsorted(self.cutoffs, residuals, side="right")
        sums = np.bincount(bucket, weights=residuals, minlength=levels)
        counts = np.bincount(bucket, minlength=levels)
        mids = np.concatenate([[residuals.min()], (self.cutoffs[:-1] + self.cutoffs[1:]) / 2, [residuals.max()]])
        means = np.where(counts > 0, sums / np.maximum(counts, 1), mids[: levels] if levels > 1 else 0.0)
        self.bucket_weights = means.astype(np.float32)

    def _auto_centroids(self, n: int) -> int:
        target = 4 * math.sqrt(n)
        k = 2 ** int(math.floor(math.log2(max(target, 1))))
        return max(1, min(k, self.max_centroids, max(1, n // 32)))

    def _assign(self, tokens: np.ndarray) -> np.ndarray:
        assert self.centroids is not None
        centroids = self._centroid_tensor()
        if self._half_norms is None:
            self._half_norms = 0.5 * (centroids * centroids).sum(dim=1)
        half_norms = self._half_norms
        out = np.empty(len(tokens), dtype=np.int64)
        step = max(1, ASSIGN_SCORES // max(1, len(self.centroids)))  # a block of scores stays in the cache
        for start in range(0, len(tokens), step):
            # nearest centroid by L2 == argmax of <x, c> - |c|^2 / 2
            scores = torch.from_numpy(tokens[start : start + step]) @ centroids.T
            scores -= half_norms
            out[start : start + step] = scores.argmax(dim=1).numpy()
        return out

    def encode(self, tokens: np.ndarray) -> dict[str, np.ndarray]:
        tokens = self._check(tokens)
        if self.centroids is None or self.cutoffs is None:
            raise RuntimeError(f"{self.name} codec is not trained; call train() first")
        # block by block: every working array of a block stays in the CPU cache, and encoding
        # holds a block's temporaries, not several copies of the whole batch (rows are independent)
        blocks = range(0, len(tokens), ENCODE_TOKENS)
        return {"codes": np.concatenate([self._encode_rows(tokens[s : s + ENCODE_TOKENS]) for s in blocks])
                if len(tokens) else self._encode_rows(tokens)}

    def _encode_rows(self, tokens: np.ndarray) -> np.ndarray:
        """The ``(T, row bytes)`` stored rows of float32 ``tokens`` (one block of :meth:`encode`)."""
        assert self.centroids is not None and self.cutoffs is not None
        ids = self._assign(tokens)
        residuals = tokens - self.centroids[ids]
        bucket = np.zeros(residuals.shape, dtype=np.uint8)  # (T, D)
        for cut in self.cutoffs:  # == searchsorted(cutoffs, residuals, side="right"): cutoffs are sorted
            bucket += residuals >= cut
        per_byte = 8 // self.bits
        grouped = bucket.reshape(len(tokens), self.dim // per_byte, per_byte)
        packed = np.zeros(grouped.shape[:2], dtype=np.uint8)
        for slot in range(per_byte):  # first value in the high bits
            packed |= grouped[:, :, slot] << np.uint8(8 - self.bits * (slot + 1))
        ids = ids.astype(self._id_dtype)
        norms = self._reconstruction_norms(packed, ids)
        # one row per token, so a candidate's tokens are one contiguous read from one file
        return np.concatenate([packed, ids[:, None].view(np.uint8), norms[:, None].view(np.uint8)], axis=1)

    @property
    def _id_dtype(self) -> np.dtype:
        return np.dtype("<u2") if self._id_bytes == 2 else np.dtype("<u4")

    def _fields(self, arrays: dict[str, np.ndarray]) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
        """``(packed residuals (T, P), centroid ids (T,), norms (T,) or None)`` of gathered rows.

        Reads the one-row-per-token layout (``codes``: residual bytes, centroid id, float32
        norm) and the layout of indexes written before it (``centroid_ids`` + ``residuals``,
        no norms).
        """
        if "codes" not in arrays:
            return np.asarray(arrays["residuals"]), np.asarray(arrays["centroid_ids"]), None
        row = np.asarray(arrays["codes"])
        width = self.dim * self.bits // 8
        id_end = width + self._id_bytes
        ids = np.ascontiguousarray(row[:, width:id_end]).view(self._id_dtype)[:, 0]
        norms = np.ascontiguousarray(row[:, id_end : id_end + 4]).view("<f4")[:, 0]
        return row[:, :width], ids, norms

    def _reconstruction_norms(self, packed: np.ndarray, ids: np.ndarray) -> np.ndarray:
        """``|centroid + decoded residual|`` per token, computed exactly as :meth:`decode` does."""
        return _row_norms(self._unnormalised(packed, ids)).astype("<f4")

    def _unnormalised(self, packed: np.ndarray, ids: np.ndarray) -> np.ndarray:
        # one gather per stored byte: the table holds, per byte value, its 8/bits residual values
        # packed into a single wide item, so the result is already the (T, D) float32 layout
        values = np.take(self._byte_table(), packed, axis=0).view(np.float32).reshape(len(packed), self.dim)
        values += np.take(self.centroids, ids, axis=0)
        return values

    def decode(self, arrays: dict[str, np.ndarray]) -> Tensor:
        if self.centroids is None:
            raise RuntimeError(f"{self.name} codec is not trained")
        packed, ids, _ = self._fields(arrays)
        values = self._unnormalised(packed, ids)
        values /= np.maximum(_row_norms(values), 1e-12)[:, None]
        return torch.from_numpy(values)

    def similarities(self, arrays: dict[str, np.ndarray], query_tokens: Tensor) -> Tensor:
        """Cosines without rebuilding the vectors: ``(r . q + c . q) / |c + r|``.

        The centroid part is one small ``(K, Tq)`` product gathered by centroid id, the residual
        part one product with the unpacked residuals, and the stored norms replace the
        normalisation pass (rows written before norms were stored take :meth:`decode`).
        """
        if self.centroids is None:
            raise RuntimeError(f"{self.name} codec is not trained")
        packed, ids, norms = self._fields(arrays)
        if norms is None:
            return super().similarities(arrays, query_tokens)
        table = self._byte_table()  # (256, w) wide items, as in _unnormalised
        queries = query_tokens.to(torch.float32)
        centroid_sims = self._centroid_tensor() @ queries.T  # (K, Tq)
        ids_t = torch.from_numpy(ids.astype(np.int64))
        norms_t = torch.from_numpy(norms).clamp_min(1e-12)[:, None]
        residuals = np.empty((min(len(packed), SIMILARITY_BLOCK_TOKENS), self.dim), dtype=np.float32)

        def score(first: int, stop: int, out: Tensor) -> None:
            block = residuals[: stop - first]
            unpacked = block.view(table.dtype).reshape(len(block), packed.shape[1], table.shape[1])
            np.take(table, packed[first:stop], axis=0, out=unpacked, mode="clip")  # "clip": no buffered copy
            # (T, D) @ (D, Tq) as a transposed view: with a contiguous (D, Tq) copy torch's CPU matmul
            # takes a path ~2x slower for short queries (measured in benchmarks/index_rerank_profile.py)
            torch.mm(torch.from_numpy(block), queries.T, out=out)
            out += centroid_sims.index_select(0, ids_t[first:stop])
            out /= norms_t[first:stop]

        return _in_row_blocks(len(packed), queries.shape[0], score)

    def _centroid_tensor(self) -> Tensor:
        if self._centroids_t is None:
            assert self.centroids is not None
            self._centroids_t = torch.from_numpy(self.centroids)
        return self._centroids_t

    def _byte_table(self) -> np.ndarray:
        """Per byte value, the ``8 / bits`` float32 residual values it unpacks to, viewed as wide
        numeric items (int64 = 2 floats, complex128 = 4 floats) so one ``np.take`` moves them."""
        if self._lut is None:
            assert self.bucket_weights is not None
            per_byte = 8 // self.bits
            mask = (1 << self.bits) - 1
            byte = np.arange(256)[:, None]
            shifts = np.array([8 - self.bits * (slot + 1) for slot in range(per_byte)])[None, :]
            table = np.ascontiguousarray(self.bucket_weights[(byte >> shifts) & mask].astype(np.float32))
            self._lut = table.view(np.int64) if per_byte == 2 else table.view(np.complex128)
        return self._lut

    def state(self) -> dict[str, np.ndarray]:
        if self.centroids is None or self.cutoffs is None or self.bucket_weights is None:
            return {}
        return {"centroids": self.centroids, "cutoffs": self.cutoffs, "bucket_weights": self.bucket_weights}

    def load_state(self, state: dict[str, np.ndarray]) -> None:
        missing = {"centroids", "cutoffs", "bucket_weights"} - set(state)
        if missing:
            raise ValueError(f"{self.name} codec state lacks {sorted(missing)}")
        self.centroids = np.ascontiguousarray(state["centroids"], dtype=np.float32)
        self.cutoffs = np.ascontiguousarray(state["cutoffs"], dtype=np.float32)
        self.bucket_weights = np.ascontiguousarray(state["bucket_weights"], dtype=np.float32)
        self._lut, self._centroids_t, self._half_norms = None, None, None

    def describe(self) -> dict[str, Any]:
        out = super().describe()
        out.update(bits=self.bits, n_centroids=None if self.centroids is None else len(self.centroids))
        return out


def _in_row_blocks(n_rows: int, n_queries: int, score: Callable[[int, int, Tensor], None]) -> Tensor:
    """A ``(n_rows, n_queries)`` float32 result filled by ``score(first, stop, out_rows)`` for
    consecutive blocks of at most ``SIMILARITY_BLOCK_TOKENS`` rows."""
    out = torch.empty(n_rows, n_queries)
    for first in range(0, n_rows, SIMILARITY_BLOCK_TOKENS):
        stop = min(n_rows, first + SIMILARITY_BLOCK_TOKENS)
        score(first, stop, out[first:stop])
    return out


def _row_norms(values: np.ndarray) -> np.ndarray:
    """L2 norm of every row (float32 in, float32 out), shared by decoding and the stored norms."""
    return np.sqrt(np.einsum("ij,ij->i", values, values))


def _kmeans(sample: np.ndarray, k: int, seed: int) -> np.ndarray:
    """k-means centroids with faiss (the maintained implementation; CPU, multithreaded)."""
    if k == 1:
        return sample.mean(axis=0, keepdims=True).astype(np.float32)
    try:
        faiss = import_faiss()
    except ImportError as exc:  # pragma: no cover - depends on the install
        raise ModuleNotFoundError(
            "residual compression needs faiss for k-means: pip install 'smart-plugins[index]' (faiss-cpu)"
        ) from exc
    # min_points_per_centroid matches the auto cap (sample / 32): faiss otherwise warns below 39 points per centroid
    kmeans = faiss.Kmeans(
        sample.shape[1], k, niter=15, seed=seed, verbose=False, max_points_per_centroid=256, min_points_per_centroid=32
    )
    kmeans.train(np.ascontiguousarray(sample, dtype=np.float32))
    return np.ascontiguousarray(kmeans.centroids, dtype=np.float32)


def make_codec(name: str, dim: int, **options: Any) -> TokenCodec:
    """Build a codec by name (see :data:`CODEC_NAMES`).

    Examples
    --------
    >>> make_codec("residual-2", dim=384).bytes_per_token
    102
    >>> make_codec("zip", dim=8)
    Traceback (most recent call last):
    ...
    ValueError: unknown compression 'zip'; choose one of fp32, fp16, int8, residual-4, residual-2, residual-1
    """
    key = str(name).lower()
    simple: dict[str, type[TokenCodec]] = {"fp32": Float32Codec, "fp16": Float16Codec, "int8": Int8Codec}
    if key in simple:
        return simple[key](dim)
    if key.startswith("residual-") and key.removeprefix("residual-") in ("1", "2", "4"):
        return ResidualCodec(dim, bits=int(key.removeprefix("residual-")), **options)
    raise ValueError(f"unknown compression {name!r}; choose one of {', '.join(CODEC_NAMES)}")


#: Most batches of token vectors held back to train a codec (the first batches of an add).
TRAIN_BATCHES = 4


def take_training_sample(batches: Iterator[Any], codec: TokenCodec) -> tuple[np.ndarray, Iterator[Any]]:
    """Token vectors to train ``codec`` on, from the first batches of a stream, and the whole stream.

    ``batches`` yields encoded batches (anything with a ``tokens`` tensor). Batches are taken
    until they hold ``codec.max_train_tokens`` tokens (the most the codec trains on) or
    :data:`TRAIN_BATCHES` batches, so an add holds at most that much besides the batch it
    writes. The returned iterator yields the taken batches first (letting go of each as it
    goes), then the rest of ``batches``.

    Examples
    --------
    >>> from types import SimpleNamespace
    >>> codec = make_codec("residual-2", 4)
    >>> stream = iter([SimpleNamespace(tokens=torch.ones(3, 4)), SimpleNamespace(tokens=torch.ones(2, 4))])
    >>> sample, again = take_training_sample(stream, codec)
    >>> sample.shape, [len(b.tokens) for b in again]
    ((5, 4), [3, 2])
    """
    limit = int(getattr(codec, "max_train_tokens", 65_536))
    taken: deque[Any] = deque()
    n_tokens = 0
    for batch in batches:
        taken.append(batch)
        n_tokens += len(batch.tokens)
        if n_tokens >= limit or len(taken) >= TRAIN_BATCHES:
            break
    sample = np.concatenate([b.tokens.numpy() for b in taken]) if taken else np.zeros((0, 0), np.float32)

    def replay() -> Iterator[Any]:
        while taken:
            yield taken.popleft()
        yield from batches

    return sample, replay()
