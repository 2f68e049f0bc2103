from rest_framework import serializers

from indexing.models import IndexJob, Repository


class IndexRequestSerializer(serializers.Serializer):
    repo_path = serializers.CharField(max_length=1024, trim_whitespace=False)
    name = serializers.RegexField(
        r"^[\w.@+-]{1,100}$",
        required=False,
        allow_blank=False,
        error_messages={"invalid": "Letters, digits and . @ + - _ only, at most 100."},
    )
    semantic_enabled = serializers.BooleanField(
        required=False, default=True, help_text="Embed the code for semantic search."
    )


class RepositoryUpdateSerializer(serializers.Serializer):
    semantic_enabled = serializers.BooleanField(
        help_text="Off removes the repository's embeddings now; on embeds at the next indexing."
    )


class JobSerializer(serializers.ModelSerializer):
    repository = serializers.PrimaryKeyRelatedField(read_only=True)
    phase = serializers.SerializerMethodField()
    phase_unit = serializers.SerializerMethodField()
    eta_seconds = serializers.SerializerMethodField()
    progress = serializers.SerializerMethodField()
    duration_seconds = serializers.SerializerMethodField()

    class Meta:
        model = IndexJob
        fields = [
            "id",
            "repository",
            "state",
            "phase",
            "phase_unit",
            "phase_done",
            "phase_total",
            "eta_seconds",
            "progress",
            "created_at",
            "started_at",
            "finished_at",
            "duration_seconds",
            "error",
            "stats",
        ]

    def get_phase(self, job) -> str | None:
        """The step the job is in: "text" (files: walk, read, parse, publish) or "embedding"
        (chunks through the semantic model); a finished job keeps the one it ended in; null
        before it starts."""
        return job.phase or None

    def get_phase_unit(self, job) -> str | None:
        """What phase_done and phase_total count: "files" or "chunks"."""
        return IndexJob.PHASE_UNITS.get(job.phase)

    def get_eta_seconds(self, job) -> int | None:
        """Seconds the current phase still needs at its rate so far; null until there is a
        rate, and once the job is no longer running."""
        return job.eta_seconds()

    def get_progress(self, job) -> dict:
        """Files of the text phase (as before there were phases)."""
        return {"done": job.files_done, "total": job.files_total}

    def get_duration_seconds(self, job) -> float | None:
        """How long the job ran, or has been running so far."""
        duration = job.duration_seconds()
        return None if duration is None else round(duration, 3)


class RepositorySerializer(serializers.ModelSerializer):
    last_job = JobSerializer(read_only=True, allow_null=True)
    counts = serializers.SerializerMethodField()

    class Meta:
        model = Repository
        fields = [
            "id",
            "name",
            "path",
            "state",
            "semantic_enabled",
            "counts",
            "last_indexed_at",
            "last_job",
        ]

    def get_counts(self, repository) -> dict:
        return {
            "files": repository.file_count,
            "bytes": repository.byte_count,
            "symbols": repository.symbol_counts,
        }


class PluginSerializer(serializers.Serializer):
    name = serializers.CharField()
    language = serializers.CharField()
    extensions = serializers.ListField(child=serializers.CharField())
    enabled = serializers.BooleanField()


class PluginUpdateSerializer(serializers.Serializer):
    enabled = serializers.BooleanField()
