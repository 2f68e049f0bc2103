from django.apps import AppConfig


class SearchConfig(AppConfig):
    name = "search"
    verbose_name = "Search"

    def ready(self) -> None:
        from django.db import transaction
        from django.db.models.signals import post_delete, post_save

        from indexing.models import Repository
        from indexing.signals import index_changed
        from search import results_cache

        def after_commit(**_kwargs) -> None:
            # A version published before the commit would let a request cache what it
            # read from the old state under the new version.
            transaction.on_commit(results_cache.index_changed)

        index_changed.connect(after_commit, dispatch_uid="search.index_changed", weak=False)
        post_save.connect(
            after_commit, sender=Repository, dispatch_uid="search.repo_saved", weak=False
        )
        post_delete.connect(
            after_commit, sender=Repository, dispatch_uid="search.repo_deleted", weak=False
        )
