from django.contrib import admin, messages

from indexing import services
from indexing.models import IndexJob, PluginSetting, Repository


@admin.display(description="progress")
def job_progress(job: IndexJob) -> str:
    """The phase, its done/total and the time left: "embedding 120/900 chunks, ~42 s left"."""
    return job.progress_text() or "-"


@admin.display(description="duration")
def job_duration(job: IndexJob) -> str:
    seconds = job.duration_seconds()
    return "-" if seconds is None else f"{seconds:.1f} s"


class JobInline(admin.TabularInline):
    model = IndexJob
    fields = ["state", job_progress, job_duration, "created_at", "finished_at", "error"]
    readonly_fields = fields
    extra = 0
    max_num = 0
    show_change_link = True
    ordering = ["-created_at"]


@admin.register(Repository)
class RepositoryAdmin(admin.ModelAdmin):
    list_display = [
        "name",
        "path",
        "state",
        "semantic_enabled",
        "file_count",
        "byte_count",
        "last_indexed_at",
    ]
    list_filter = ["state", "semantic_enabled"]
    search_fields = ["name", "path"]
    readonly_fields = [
        "path",
        "state",
        "generation",
        "file_count",
        "byte_count",
        "symbol_counts",
        "created_at",
        "last_indexed_at",
        "last_job",
        "lease_job",
        "lease_until",
    ]
    fields = ["name", "semantic_enabled", *readonly_fields]
    inlines = [JobInline]
    actions = ["reindex"]

    def save_model(self, request, obj, form, change) -> None:
        super().save_model(request, obj, form, change)
        if change and "semantic_enabled" in form.changed_data:
            # Through the service: switching off removes the embeddings, as the API does.
            services.repository_set_semantic(repository=obj, enabled=obj.semantic_enabled)

    def has_add_permission(self, request) -> bool:
        return False  # paths are checked against MCP_INDEX_ROOTS by the API and the command

    # Deletes go through the service: refused while a job holds the repository, and
    # recorded in the audit trail. Django logs a deletion and announces success before
    # and after delete_model whatever it did, so both wait for the service here.
    def delete_model(self, request, obj) -> None:
        self._delete(request, obj)

    def delete_queryset(self, request, queryset) -> None:
        repositories = list(queryset)
        deleted = sum(self._delete(request, repository) for repository in repositories)
        if deleted < len(repositories):
            self.message_user(request, f"Deleted {deleted} of {len(repositories)}.", messages.INFO)

    def _delete(self, request, repository: Repository) -> bool:
        try:
            services.repository_delete(repository=repository)
        except services.Conflict as exc:
            request._repository_delete_refused = True
            self.message_user(request, f"{repository}: {exc.detail}", messages.ERROR)
            return False
        super().log_deletions(request, [repository])
        return True

    def log_deletions(self, request, queryset):
        return []  # _delete logs what the service really deleted

    def message_user(self, request, message, level=messages.INFO, *args, **kwargs) -> None:
        if level == messages.SUCCESS and getattr(request, "_repository_delete_refused", False):
            return
        super().message_user(request, message, level, *args, **kwargs)

    @admin.action(description="Re-index selected repositories")
    def reindex(self, request, queryset):
        queued, busy = 0, 0
        services.jobs_reap_stale()
        for repository in queryset:
            try:
                services.job_enqueue(repository=repository, user=request.user)
                queued += 1
            except services.Conflict:
                busy += 1
        self.message_user(request, f"Queued {queued} job(s); {busy} already busy.", messages.INFO)


@admin.register(IndexJob)
class IndexJobAdmin(admin.ModelAdmin):
    list_display = [
        "pk",
        "repository",
        "state",
        job_progress,
        job_duration,
        "created_at",
        "finished_at",
    ]
    list_filter = ["state", "phase"]
    search_fields = ["repository__name"]
    readonly_fields = [job_progress, job_duration, *(f.name for f in IndexJob._meta.fields)]

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False


@admin.register(PluginSetting)
class PluginSettingAdmin(admin.ModelAdmin):
    """Rows appear when a plugin is switched (PATCH /api/plugins/{name}); flip them here."""

    list_display = ["name", "enabled", "updated_at"]
    list_editable = ["enabled"]

    def save_model(self, request, obj, form, change) -> None:
        # Through the service, so the switch is recorded in the audit trail.
        services.plugin_set_enabled(name=obj.name, enabled=obj.enabled)

    def has_add_permission(self, request) -> bool:
        return False
