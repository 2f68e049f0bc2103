"""/api/index, /api/repositories, /api/jobs, /api/plugins.

Thin: parse, call a service, serialize."""

from __future__ import annotations

from django.shortcuts import get_object_or_404
from drf_spectacular.utils import extend_schema
from rest_framework import status
from rest_framework.exceptions import NotFound
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts import scopes
from accounts.serializers import ErrorSerializer
from indexing import selectors, services
from indexing.serializers import (
    IndexRequestSerializer,
    JobSerializer,
    PluginSerializer,
    PluginUpdateSerializer,
    RepositorySerializer,
    RepositoryUpdateSerializer,
)

READ_SCOPES = [scopes.SEARCH_CODE, scopes.INDEX_CREATE, scopes.INDEX_UPDATE, scopes.INDEX_DELETE]


def _accepted(repository, job) -> Response:
    repository.refresh_from_db()
    return Response(
        {"repository": RepositorySerializer(repository).data, "job_id": job.pk},
        status=status.HTTP_202_ACCEPTED,
    )


class IndexView(APIView):
    required_scopes = [scopes.INDEX_CREATE]

    @extend_schema(
        request=IndexRequestSerializer,
        responses={202: RepositorySerializer, 400: ErrorSerializer, 409: ErrorSerializer},
        tags=["indexing"],
    )
    def post(self, request):
        serializer = IndexRequestSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        repository, job = services.repository_register(
            raw_path=serializer.validated_data["repo_path"],
            name=serializer.validated_data.get("name"),
            user=request.user,
            semantic_enabled=serializer.validated_data["semantic_enabled"],
        )
        return _accepted(repository, job)


class RepositoryListView(APIView):
    any_scopes = READ_SCOPES

    @extend_schema(responses={200: RepositorySerializer(many=True)}, tags=["indexing"])
    def get(self, request):
        services.jobs_reap_stale()
        return Response(RepositorySerializer(selectors.repository_list(), many=True).data)


class RepositoryDetailView(APIView):
    any_scopes = {"GET": READ_SCOPES}
    required_scopes = {"DELETE": [scopes.INDEX_DELETE], "PATCH": [scopes.INDEX_UPDATE]}

    @extend_schema(responses={200: RepositorySerializer, 404: ErrorSerializer}, tags=["indexing"])
    def get(self, request, repository_id: int):
        services.jobs_reap_stale(repository_id=repository_id)
        repository = get_object_or_404(selectors.repository_list(), pk=repository_id)
        return Response(RepositorySerializer(repository).data)

    @extend_schema(
        request=RepositoryUpdateSerializer,
        responses={200: RepositorySerializer, 400: ErrorSerializer, 404: ErrorSerializer},
        tags=["indexing"],
    )
    def patch(self, request, repository_id: int):
        serializer = RepositoryUpdateSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        repository = get_object_or_404(selectors.repository_list(), pk=repository_id)
        services.repository_set_semantic(
            repository=repository, enabled=serializer.validated_data["semantic_enabled"]
        )
        repository.refresh_from_db()
        return Response(RepositorySerializer(repository).data)

    @extend_schema(responses={204: None, 404: ErrorSerializer}, tags=["indexing"])
    def delete(self, request, repository_id: int):
        services.repository_delete(
            repository=get_object_or_404(selectors.repository_list(), pk=repository_id)
        )
        return Response(status=status.HTTP_204_NO_CONTENT)


class ReindexView(APIView):
    required_scopes = [scopes.INDEX_UPDATE]

    @extend_schema(
        request=None,
        responses={202: RepositorySerializer, 404: ErrorSerializer, 409: ErrorSerializer},
        tags=["indexing"],
    )
    def post(self, request, repository_id: int):
        repository = get_object_or_404(selectors.repository_list(), pk=repository_id)
        services.jobs_reap_stale(repository_id=repository.pk)
        job = services.job_enqueue(repository=repository, user=request.user)
        return _accepted(repository, job)


class JobDetailView(APIView):
    any_scopes = READ_SCOPES

    @extend_schema(responses={200: JobSerializer, 404: ErrorSerializer}, tags=["indexing"])
    def get(self, request, job_id: int):
        job = selectors.job_get(job_id=job_id)
        if job is None:
            raise NotFound("No such job.")
        services.jobs_reap_stale(repository_id=job.repository_id)
        job.refresh_from_db()
        return Response(JobSerializer(job).data)


class PluginListView(APIView):
    @extend_schema(responses={200: PluginSerializer(many=True)}, tags=["indexing"])
    def get(self, request):
        return Response(PluginSerializer(selectors.plugin_list(), many=True).data)


class PluginDetailView(APIView):
    required_scopes = [scopes.PLUGIN_MANAGE]

    @extend_schema(
        request=PluginUpdateSerializer,
        responses={200: PluginSerializer, 400: ErrorSerializer, 404: ErrorSerializer},
        tags=["indexing"],
    )
    def patch(self, request, name: str):
        serializer = PluginUpdateSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        services.plugin_set_enabled(name=name, enabled=serializer.validated_data["enabled"])
        plugin = next(p for p in selectors.plugin_list() if p["name"] == name)
        return Response(PluginSerializer(plugin).data)
