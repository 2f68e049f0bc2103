"""The MCP tools: each one the twin of a REST endpoint, with the same scope.

A tool validates its arguments against its JSON Schema (the one `tools/list`
shows), translates them to the REST parameters, and answers with the same JSON
the REST endpoint would, through the same serializers, services and selectors.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from jsonschema import Draft202012Validator
from rest_framework.exceptions import APIException, NotFound

from accounts import scopes
from indexing import selectors as indexing_selectors
from indexing import services as indexing_services
from indexing.serializers import IndexRequestSerializer, JobSerializer, RepositorySerializer
from search import engine, responses, results_cache
from search.serializers import (
    MAX_KIND_FILTERS,
    MAX_REPOSITORY_FILTERS,
    MAX_SYMBOL_LIMIT,
    FileQuerySerializer,
    SearchQuerySerializer,
    SemanticQuerySerializer,
    SymbolQuerySerializer,
)

READ_SCOPES = (scopes.SEARCH_CODE, scopes.INDEX_CREATE, scopes.INDEX_UPDATE, scopes.INDEX_DELETE)
MAX_MESSAGE = 300


class ToolError(Exception):
    """A failure the caller can act on; it becomes an `isError` result, not a protocol error."""


class InvalidArguments(ToolError):
    """Arguments that do not fit the tool's input schema."""


@dataclass(frozen=True)
class Tool:
    name: str
    title: str
    description: str
    properties: dict
    run: Callable[[object, dict], dict]
    required: tuple[str, ...] = ()
    # The caller needs every scope in `scopes` and, if given, one of `any_scopes`.
    scopes: tuple[str, ...] = ()
    any_scopes: tuple[str, ...] = ()
    read_only: bool = True
    # Whether the server can run it at all (semantic search needs its extra).
    available: Callable[[], bool] = lambda: True
    # REST parameter names, to say which argument an error from a serializer is about.
    argument_names: dict[str, str] = field(default_factory=dict)

    @property
    def input_schema(self) -> dict:
        schema = {"type": "object", "properties": self.properties, "additionalProperties": False}
        if self.required:
            schema["required"] = list(self.required)
        return schema

    def definition(self) -> dict:
        return {
            "name": self.name,
            "title": self.title,
            "description": self.description,
            "inputSchema": self.input_schema,
            "annotations": {
                "title": self.title,
                "readOnlyHint": self.read_only,
                "destructiveHint": False,
                "idempotentHint": self.read_only,
                "openWorldHint": False,
            },
        }

    def allowed(self, granted: frozenset[str]) -> bool:
        if not self.available():
            return False
        if any(scope not in granted for scope in self.scopes):
            return False
        return not self.any_scopes or bool(granted.intersection(self.any_scopes))

    def missing_scopes(self, granted: frozenset[str]) -> list[str]:
        """What to ask for: the scopes lacking, and of `any_scopes` only the first (the
        least powerful): a step-up challenge should not ask for delete rights to read."""
        missing = [scope for scope in self.scopes if scope not in granted]
        if self.any_scopes and not granted.intersection(self.any_scopes):
            missing.append(self.any_scopes[0])
        return missing

    def validate(self, arguments: dict) -> None:
        try:
            errors = sorted(
                Draft202012Validator(self.input_schema).iter_errors(arguments),
                key=lambda error: [str(part) for part in error.path],
            )
            messages = [_describe(error) for error in errors[:5]]
        except RecursionError:  # arguments nested deeper than the validator can follow
            raise InvalidArguments("arguments: nested too deeply") from None
        if messages:
            raise InvalidArguments("; ".join(messages))

    def call(self, principal, arguments: dict) -> dict:
        self.validate(arguments)
        try:
            return self.run(principal, arguments)
        except APIException as exc:
            raise ToolError(_api_message(exc.detail, self.argument_names)) from None


def _describe(error) -> str:
    where = ".".join(str(part) for part in error.path) or "arguments"
    message = error.message
    if error.validator == "anyOf":
        # "is not valid under any of the given schemas" says nothing; name what would be.
        kinds = " or ".join(repr(branch.get("type")) for branch in error.validator_value)
        fits_a_type = [sub for sub in error.context if sub.validator != "type"]
        message = (
            fits_a_type[0].message if fits_a_type else f"{error.instance!r} is not of type {kinds}"
        )
    return _short(f"{where}: {message}")


def _short(text: str) -> str:
    return text if len(text) <= MAX_MESSAGE else text[:MAX_MESSAGE] + "…"


def _api_message(detail, names: dict[str, str]) -> str:
    """A DRF error detail as one line, with REST parameter names as tool argument names."""
    if isinstance(detail, dict):
        parts = []
        for key, value in detail.items():
            text = _api_message(value, names)
            parts.append(
                text if key in ("non_field_errors", "detail") else f"{names.get(key, key)}: {text}"
            )
        return _short("; ".join(parts))
    if isinstance(detail, list):
        return _short(" ".join(_api_message(item, names) for item in detail))
    return _short(str(detail))


def _present(arguments: dict, mapping: dict[str, str]) -> dict:
    """The REST parameters for the arguments given (absent ones keep the REST defaults)."""
    return {rest: arguments[name] for name, rest in mapping.items() if name in arguments}


def _repository_id(value) -> int:
    ids = list(dict.fromkeys(_resolve([str(value)])))
    if len(ids) != 1:
        raise ToolError(f"{value!r} names more than one repository; give its id.")
    return ids[0]


def _resolve(values: list[str]) -> list[int]:
    try:
        return engine.resolve_repositories(values)
    except engine.SearchError as exc:
        raise ToolError(str(exc)) from None


# --- The tools --------------------------------------------------------------------------

# A repository by name or id. One type per schema, alternatives with anyOf: clients
# that allow a single type per field (Gemini's function calling, strict validators)
# refuse "type": [...]. Every published schema keeps to PORTABLE_SCHEMA_KEYWORDS.
REPOSITORY_NAME_OR_ID = [
    {"type": "string", "minLength": 1, "maxLength": 200},
    {"type": "integer", "minimum": 1},
]
REPOSITORIES = {
    "type": "array",
    "items": {"anyOf": REPOSITORY_NAME_OR_ID},
    "maxItems": MAX_REPOSITORY_FILTERS,
    "description": "Repository names or ids to search; all repositories when omitted.",
}
LANGUAGE = {
    "type": "string",
    "maxLength": 40,
    "description": "Language, e.g. Python, Go, TypeScript, or a short name or extension "
    "(py, ts, rs, cpp); an unknown one is an error that lists the known ones.",
}
REPOSITORY = {
    "anyOf": REPOSITORY_NAME_OR_ID,
    "description": "Repository name or id.",
}
# The JSON Schema keywords tool input schemas use: the subset that clients with the
# narrowest support accept (Gemini's OpenAPI-style schemas, strict MCP inspectors).
PORTABLE_SCHEMA_KEYWORDS = frozenset(
    {
        "type", "description", "title", "enum", "default", "properties", "required",
        "additionalProperties", "items", "minItems", "maxItems", "minLength", "maxLength",
        "minimum", "maximum", "anyOf",
    }
)  # fmt: skip


def _search_params(arguments: dict, names: dict[str, str], serializer_class) -> dict:
    """A search tool's arguments as the REST endpoint's query parameters (repositories
    may be ids or names), validated by the same serializer."""
    data = _present(arguments, names)
    if "repo" in data:
        data["repo"] = [str(value) for value in data["repo"]]
    return responses.validated(serializer_class, data)


def _search_tool(
    names: dict[str, str], serializer_class, respond, kind: str
) -> Callable[[object, dict], dict]:
    """A search tool answered by the same response as its REST twin, from the same
    memory of recent responses (search/results_cache.py)."""

    def run(principal, arguments: dict) -> dict:
        params = _search_params(arguments, names, serializer_class)
        return results_cache.remembered(kind, params, lambda: respond(params))

    return run


SEARCH_ARGUMENTS = {
    "query": "q",
    "regex": "regex",
    "case_sensitive": "case",
    "repositories": "repo",
    "language": "lang",
    "path": "path",
    "limit": "limit",
    "cursor": "cursor",
}


_search_code = _search_tool(
    SEARCH_ARGUMENTS, SearchQuerySerializer, responses.search_response, "search"
)


SYMBOL_ARGUMENTS = {
    "name": "q",
    "kinds": "kind",
    "repositories": "repo",
    "language": "lang",
    "limit": "limit",
}


_search_symbols = _search_tool(
    SYMBOL_ARGUMENTS, SymbolQuerySerializer, responses.symbols_response, "symbols"
)


FILE_ARGUMENTS = {"path": "path", "start_line": "start", "end_line": "end"}


def _get_file(principal, arguments: dict) -> dict:
    params = responses.validated(FileQuerySerializer, _present(arguments, FILE_ARGUMENTS))
    repository_id = _repository_id(arguments["repository"])
    return responses.file_response(repository_id=repository_id, params=params)


def _list_repositories(principal, arguments: dict) -> dict:
    indexing_services.jobs_reap_stale()
    repositories = indexing_selectors.repository_list()
    return {"repositories": RepositorySerializer(repositories, many=True).data}


def _accepted(repository, job) -> dict:
    repository.refresh_from_db()
    return {
        "repository": RepositorySerializer(repository).data,
        "job_id": job.pk,
        "message": f"Indexing job {job.pk} is queued; follow it with job_status.",
    }


INDEX_ARGUMENTS = {"path": "repo_path", "name": "name", "semantic": "semantic_enabled"}


def _index_repository(principal, arguments: dict) -> dict:
    data = responses.validated(IndexRequestSerializer, _present(arguments, INDEX_ARGUMENTS))
    repository, job = indexing_services.repository_register(
        raw_path=data["repo_path"],
        name=data.get("name"),
        user=principal,
        semantic_enabled=data["semantic_enabled"],
    )
    return _accepted(repository, job)


def _reindex_repository(principal, arguments: dict) -> dict:
    repository_id = _repository_id(arguments["repository"])
    repository = indexing_selectors.repository_list().filter(pk=repository_id).first()
    if repository is None:
        raise NotFound("No such repository.")
    indexing_services.jobs_reap_stale(repository_id=repository.pk)
    job = indexing_services.job_enqueue(repository=repository, user=principal)
    return _accepted(repository, job)


def _job_status(principal, arguments: dict) -> dict:
    job = indexing_selectors.job_get(job_id=arguments["job_id"])
    if job is None:
        raise NotFound("No such job.")
    indexing_services.jobs_reap_stale(repository_id=job.repository_id)
    job.refresh_from_db()
    return {"job": JobSerializer(job).data}


SEMANTIC_ARGUMENTS = {
    "query": "q",
    "mode": "mode",
    "repositories": "repo",
    "language": "lang",
    "limit": "limit",
}


def _semantic_search(principal, arguments: dict) -> dict:
    params = _search_params(arguments, SEMANTIC_ARGUMENTS, SemanticQuerySerializer)
    with_code = scopes.SEARCH_CODE in principal.scopes
    return results_cache.remembered(
        "semantic+code" if with_code else "semantic",  # hybrid answers differ by scope
        params,
        lambda: responses.semantic_response(params, with_code=with_code),
    )


def _semantic_available() -> bool:
    from indexing.embeddings import SemanticUnavailable, model_spec

    try:
        model_spec()
    except SemanticUnavailable:
        return False
    return True


TOOLS: tuple[Tool, ...] = (
    Tool(
        name="search_code",
        title="Search code",
        description=(
            "Find lines of code in the indexed repositories: a substring by default, or a "
            "regular expression (RE2 syntax) with regex=true. Case-insensitive unless "
            "case_sensitive=true. Each hit has the repository, path, line number, the line and "
            "two lines of context. When truncated is true, pass next_cursor as cursor for more."
        ),
        properties={
            "query": {
                "type": "string",
                "minLength": 1,
                "maxLength": engine.MAX_QUERY_LENGTH,
                "description": "Text to find, or a regular expression when regex is true.",
            },
            "regex": {"type": "boolean", "default": False, "description": "query is a regex."},
            "case_sensitive": {"type": "boolean", "default": False},
            "repositories": REPOSITORIES,
            "language": LANGUAGE,
            "path": {
                "type": "string",
                "maxLength": 1024,
                "description": "Only files whose path matches this glob, e.g. src/*.py.",
            },
            "limit": {"type": "integer", "minimum": 1, "maximum": 500, "default": 50},
            "cursor": {
                "type": "string",
                "maxLength": 200,
                "description": "next_cursor of the previous page.",
            },
        },
        required=("query",),
        run=_search_code,
        scopes=(scopes.SEARCH_CODE,),
        argument_names={v: k for k, v in SEARCH_ARGUMENTS.items()},
    ),
    Tool(
        name="search_symbols",
        title="Find symbol definitions",
        description=(
            "Find functions, classes, methods and other definitions by name: exact, prefix, "
            "and fuzzy matches that understand camelCase and snake_case (getCurUsr finds "
            "getCurrentUser). Each hit has kind, path, lines and signature; truncated is true "
            "when more symbols match than limit."
        ),
        properties={
            "name": {"type": "string", "minLength": 1, "maxLength": 255},
            "kinds": {
                "type": "array",
                "items": {"type": "string", "maxLength": 20},
                "maxItems": MAX_KIND_FILTERS,
                "description": "Only these kinds, e.g. function, class, method.",
            },
            "repositories": REPOSITORIES,
            "language": LANGUAGE,
            "limit": {
                "type": "integer",
                "minimum": 1,
                "maximum": MAX_SYMBOL_LIMIT,
                "default": 50,
                "description": "At most this many, best first; truncated says if there were more.",
            },
        },
        required=("name",),
        run=_search_symbols,
        scopes=(scopes.SEARCH_CODE,),
        argument_names={v: k for k, v in SYMBOL_ARGUMENTS.items()},
    ),
    Tool(
        name="semantic_search",
        title="Search code by meaning",
        description=(
            'Find code by what it does, described in words ("where are expired sessions '
            'cleaned up"): functions, classes and passages ranked by the similarity of '
            "their embeddings to the query. mode=hybrid also merges literal and symbol "
            "matches. Each hit has a score, path, lines, the symbol and a snippet."
        ),
        properties={
            "query": {
                "type": "string",
                "minLength": 1,
                "maxLength": engine.MAX_QUERY_LENGTH,
                "description": "What the code does, in words.",
            },
            "mode": {"type": "string", "enum": ["semantic", "hybrid"], "default": "semantic"},
            "repositories": REPOSITORIES,
            "language": LANGUAGE,
            "limit": {"type": "integer", "minimum": 1, "maximum": 50, "default": 10},
        },
        required=("query",),
        run=_semantic_search,
        scopes=(scopes.SEARCH_SEMANTIC,),
        available=_semantic_available,
        argument_names={v: k for k, v in SEMANTIC_ARGUMENTS.items()},
    ),
    Tool(
        name="get_file",
        title="Read an indexed file",
        description=(
            "The content of one file as indexed, optionally lines start_line to end_line "
            "(cut at the end of the file; total_lines gives its length, and a start_line past "
            "it is an error). Only files in the index can be read."
        ),
        properties={
            "repository": REPOSITORY,
            "path": {"type": "string", "minLength": 1, "maxLength": 1024},
            "start_line": {"type": "integer", "minimum": 1},
            "end_line": {"type": "integer", "minimum": 1},
        },
        required=("repository", "path"),
        run=_get_file,
        scopes=(scopes.SEARCH_CODE,),
        argument_names={v: k for k, v in FILE_ARGUMENTS.items()},
    ),
    Tool(
        name="list_repositories",
        title="List repositories",
        description="The registered repositories, their state, counts and last indexing job.",
        properties={},
        run=_list_repositories,
        any_scopes=READ_SCOPES,
    ),
    Tool(
        name="index_repository",
        title="Register and index a repository",
        description=(
            "Register a folder on the server (inside the configured index roots) and index it "
            "in the background. Answers at once with the job id; follow it with job_status."
        ),
        properties={
            "path": {
                "type": "string",
                "minLength": 1,
                "maxLength": 1024,
                "description": "Absolute path of the folder on the server.",
            },
            "name": {
                "type": "string",
                "maxLength": 100,
                "description": "Defaults to the folder name.",
            },
            "semantic": {
                "type": "boolean",
                "default": True,
                "description": "Also embed the code for semantic search.",
            },
        },
        required=("path",),
        run=_index_repository,
        scopes=(scopes.INDEX_CREATE,),
        read_only=False,
        argument_names={v: k for k, v in INDEX_ARGUMENTS.items()},
    ),
    Tool(
        name="reindex_repository",
        title="Re-index a repository",
        description=(
            "Index a registered repository again; only changed files are read. Answers at once "
            "with the job id; follow it with job_status."
        ),
        properties={"repository": REPOSITORY},
        required=("repository",),
        run=_reindex_repository,
        scopes=(scopes.INDEX_UPDATE,),
        read_only=False,
    ),
    Tool(
        name="job_status",
        title="Indexing job status",
        description=(
            "State and progress of an indexing job: queued, running, succeeded or failed; "
            "its phase (text: files read and parsed; embedding: chunks through the semantic "
            "model, usually most of the time), the phase's done and total, the estimated "
            "time left in it (eta_seconds) and the time so far (duration_seconds)."
        ),
        properties={"job_id": {"type": "integer", "minimum": 1, "maximum": 2**62}},
        required=("job_id",),
        run=_job_status,
        any_scopes=READ_SCOPES,
    ),
)

BY_NAME: dict[str, Tool] = {tool.name: tool for tool in TOOLS}
