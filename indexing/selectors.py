from __future__ import annotations

from indexing import plugins
from indexing.models import IndexJob, PluginSetting, Repository


def repository_list():
    return Repository.objects.select_related("last_job")


def job_get(*, job_id: int) -> IndexJob | None:
    return IndexJob.objects.filter(pk=job_id).first()


def plugin_list() -> list[dict]:
    disabled = set(PluginSetting.objects.filter(enabled=False).values_list("name", flat=True))
    return [
        {
            "name": plugin.name,
            "language": plugin.language,
            "extensions": list(plugin.extensions),
            "enabled": plugin.name not in disabled,
        }
        for plugin in plugins.registry().values()
    ]
