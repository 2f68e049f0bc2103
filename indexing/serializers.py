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
    progress = serializers.SerializerMethodField()
    duration_seconds = serializers.SerializerMethodField()

    class Meta:
        model = IndexJob
        fields = [
            "id",
            "repository",
            "state",
            "progress",
            "created_at",
            "started_at",
            "finished_at",
            "duration_seconds",
            "error",
            "stats",
        ]

    def get_progress(self, job) -> dict:
        return {"done": job.files_done, "total": job.files_total}

    def get_duration_seconds(self, job) -> float | None:
        if job.started_at is None:
            return None
        return round(((job.finished_at or job.started_at) - job.started_at).total_seconds(), 3)


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
