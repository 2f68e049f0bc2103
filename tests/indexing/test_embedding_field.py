"""SemanticChunk.vector: the same little-endian float32 bytes in and out on every database,
pgvector's `vector` on PostgreSQL, and a migration that converts what is already there."""

from __future__ import annotations

import math
import struct

import pytest
from django.db import connection
from django.db.migrations.executor import MigrationExecutor

from indexing.fields import vector_bytes, vector_literal
from indexing.models import IndexedFile, Repository, SemanticChunk

# Values float32 holds exactly and values it rounds: both must come back bit for bit.
VALUES = [0.0, -0.0, 1.0, -1.0, 0.1, 1 / 3, 1e-38, -3.4e38, math.pi, 2.5e-7]
RAW = struct.pack(f"<{len(VALUES)}f", *VALUES)
OTHER = struct.pack(f"<{len(VALUES)}f", *(value / 3 for value in VALUES))


def _chunk(tmp_path, raw=RAW):
    repository = Repository.objects.create(name="r", path=str(tmp_path))
    indexed = IndexedFile.objects.create(
        repository=repository, path="a.py", size=1, mtime_ns=0, content_hash="x", added_in=1
    )
    return SemanticChunk.objects.create(
        file=indexed, start_line=1, end_line=2, text="a.py\nx", vector=raw
    )


def test_the_text_form_round_trips_every_float32_bit_for_bit():
    assert vector_bytes(vector_literal(RAW)) == RAW
    assert vector_literal(struct.pack("<2f", 0.5, -2.0)) == "[0.5,-2.0]"


@pytest.mark.django_db
def test_vectors_come_back_as_the_bytes_that_went_in(tmp_path):
    chunk = _chunk(tmp_path)
    assert bytes(SemanticChunk.objects.get(pk=chunk.pk).vector) == RAW
    assert bytes(SemanticChunk.objects.values_list("vector", flat=True).get()) == RAW


@pytest.mark.django_db
@pytest.mark.skipif("connection.vendor != 'postgresql'", reason="pgvector is PostgreSQL's")
def test_postgres_keeps_them_as_pgvector_vectors(tmp_path):
    chunk = _chunk(tmp_path)
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT format_type(atttypid, atttypmod) FROM pg_attribute "
            "WHERE attrelid = 'indexing_semanticchunk'::regclass AND attname = 'vector'"
        )
        assert cursor.fetchone() == ("vector",)
        cursor.execute(
            "SELECT vector_dims(vector) FROM indexing_semanticchunk WHERE id = %s", [chunk.pk]
        )
        assert cursor.fetchone() == (len(VALUES),)


@pytest.mark.django_db(transaction=True)
@pytest.mark.skipif("connection.vendor != 'postgresql'", reason="pgvector is PostgreSQL's")
def test_the_migration_converts_existing_embeddings_both_ways(tmp_path):
    chunk = _chunk(tmp_path)
    others = {
        SemanticChunk.objects.create(
            file=chunk.file, start_line=n, end_line=n, text="a.py\nx", vector=OTHER
        ).pk
        for n in range(3, 6)
    }
    before = ("indexing", "0005_semantic_chunks")
    MigrationExecutor(connection).migrate([before])
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT vector FROM indexing_semanticchunk WHERE id = %s", [chunk.pk])
            assert bytes(cursor.fetchone()[0]) == RAW  # back to bytea, same bytes
            cursor.execute(
                "SELECT count(*) FROM pg_indexes WHERE indexname = 'indexing_semanticchunk_hnsw_384'"
            )
            assert cursor.fetchone() == (0,)
    finally:
        # Forward through 0006 to the latest migrations (0007 and on depend on it): later
        # tests need the whole schema.
        executor = MigrationExecutor(connection)
        executor.migrate(executor.loader.graph.leaf_nodes())
    assert bytes(SemanticChunk.objects.get(pk=chunk.pk).vector) == RAW
    assert {
        bytes(v)
        for v in SemanticChunk.objects.filter(pk__in=others).values_list("vector", flat=True)
    } == {OTHER}
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(*) FROM pg_indexes WHERE indexname = 'indexing_semanticchunk_hnsw_384'"
        )
        assert cursor.fetchone() == (1,)
        cursor.execute(
            "SELECT count(*) FROM pg_statistic_ext WHERE stxname = 'indexing_semanticchunk_dims'"
        )
        assert cursor.fetchone() == (1,)
