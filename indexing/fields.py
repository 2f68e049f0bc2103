"""Model fields of the indexing app."""

from __future__ import annotations

import struct

from django.db import models


def vector_literal(raw: bytes) -> str:
    """pgvector's text form of a little-endian float32 vector: '[x1,x2,...]'.

    repr() of each value widened to a Python float is exact, and pgvector reads it back
    to the same float32."""
    values = struct.unpack(f"<{len(raw) // 4}f", raw)
    return "[" + ",".join(map(repr, values)) + "]"


def vector_bytes(literal: str) -> bytes:
    """The inverse of vector_literal."""
    values = [float(value) for value in literal.strip("[]").split(",") if value]
    return struct.pack(f"<{len(values)}f", *values)


class EmbeddingField(models.BinaryField):
    """A unit float32 vector, held in Python as little-endian bytes on every database.

    PostgreSQL keeps it as pgvector's `vector`, so an HNSW index answers nearest-neighbour
    queries (search/semantic.py); other databases keep the bytes, which numpy reads
    without a copy. The column has no fixed dimension: a model with another dimension
    can be configured later, and the HNSW index is partial, per dimension
    (indexing/vector_index.py)."""

    description = "Embedding (float32 vector)"

    def db_type(self, connection):
        if connection.vendor == "postgresql":
            return "vector"
        return super().db_type(connection)

    def get_db_prep_value(self, value, connection, prepared=False):
        if value is not None and connection.vendor == "postgresql":
            return vector_literal(bytes(value))
        return super().get_db_prep_value(value, connection, prepared)

    def from_db_value(self, value, expression, connection):
        # psycopg hands over pgvector's text form: the extension's type is unknown to it.
        if isinstance(value, str):
            return vector_bytes(value)
        return value
