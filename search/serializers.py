import copy
import unicodedata

from rest_framework import serializers

from indexing.plugins import language_named, language_names
from search.engine import MAX_QUERY_LENGTH


class NFCPathField(serializers.CharField):
    """A path or glob, in Unicode NFC as the index keeps paths (indexing/walker.py): "é"
    typed as e and a combining accent (NFD, as macOS spells names) finds the same file."""

    def to_internal_value(self, data):
        return unicodedata.normalize("NFC", super().to_internal_value(data))


class LanguageField(serializers.CharField):
    """A language by name, short name or extension ("py", "Python", ".py"), as the index
    names it; an unknown one is refused with the known ones, rather than matching nothing."""

    def to_internal_value(self, data):
        value = super().to_internal_value(data)
        language = language_named(value)
        if language is None:
            raise serializers.ValidationError(
                f"Unknown language {value[:40]!r}. Known: {', '.join(language_names())}; "
                "short names and extensions such as py, js, ts, rs, cpp work too."
            )
        return language


class QuerySerializer(serializers.Serializer):
    """Validates the query parameters of one request.

    DRF deep-copies every declared field for every serializer instance, which rebuilds
    each field and its validators: about 0.3 ms of each search request, more than
    validating. A shallow copy is enough here: bind() gives the copy its own name and
    parent, and none of these fields keeps state while validating (they raise their
    errors; the serializer collects them), so the copies can share validators, error
    messages and a ListField's child."""

    def get_fields(self):
        return {name: copy.copy(field) for name, field in self._declared_fields.items()}


# Each value is looked up; more than this in one request is refused (400).
MAX_REPOSITORY_FILTERS = 50
MAX_KIND_FILTERS = 20
MAX_SYMBOL_LIMIT = 500


class RepoFilterMixin(QuerySerializer):
    repo = serializers.ListField(
        child=serializers.CharField(max_length=200), required=False, default=list,
        max_length=MAX_REPOSITORY_FILTERS,
        help_text=f"Repository id or name; repeat for several (at most {MAX_REPOSITORY_FILTERS}).",
    )  # fmt: skip
    lang = LanguageField(
        required=False, max_length=40, help_text="e.g. Python, py, TypeScript, ts, C++, cpp"
    )


class SearchQuerySerializer(RepoFilterMixin):
    q = serializers.CharField(max_length=MAX_QUERY_LENGTH, trim_whitespace=False)
    regex = serializers.BooleanField(required=False, default=False)
    case = serializers.BooleanField(required=False, default=False)
    path = NFCPathField(required=False, max_length=1024, help_text="A glob: src/*.py")
    limit = serializers.IntegerField(required=False, default=50, min_value=1, max_value=500)
    cursor = serializers.CharField(required=False, max_length=200)


class SymbolQuerySerializer(RepoFilterMixin):
    q = serializers.CharField(max_length=255)
    kind = serializers.ListField(
        child=serializers.CharField(max_length=20), required=False, default=list,
        max_length=MAX_KIND_FILTERS,
    )  # fmt: skip
    limit = serializers.IntegerField(
        required=False, default=50, min_value=1, max_value=MAX_SYMBOL_LIMIT
    )

    def validate_q(self, value: str) -> str:
        if not any(char.isalnum() for char in value):
            raise serializers.ValidationError("Give a name with at least one letter or digit.")
        return value


class FileQuerySerializer(QuerySerializer):
    path = NFCPathField(max_length=1024)
    start = serializers.IntegerField(required=False, min_value=1)
    end = serializers.IntegerField(required=False, min_value=1)

    def validate(self, attrs):
        if attrs.get("start") and attrs.get("end") and attrs["end"] < attrs["start"]:
            raise serializers.ValidationError("end must not be before start.")
        return attrs


class SemanticQuerySerializer(RepoFilterMixin):
    q = serializers.CharField(
        max_length=MAX_QUERY_LENGTH, help_text="What the code does, in words."
    )
    mode = serializers.ChoiceField(
        choices=["semantic", "hybrid"],
        default="semantic",
        help_text="hybrid: merge with literal and symbol search (reciprocal rank fusion).",
    )
    limit = serializers.IntegerField(required=False, default=10, min_value=1, max_value=50)
