from django.apps import AppConfig


class McpServerConfig(AppConfig):
    name = "mcpserver"
    verbose_name = "MCP server"

    def ready(self) -> None:
        from django.conf import settings
        from django.db.backends.signals import connection_created

        from mcpserver import checks, datadir  # noqa: F401 - checks registers the system checks

        # The SQLite database and its -wal/-shm: 0600, whoever created them.
        connection_created.connect(
            datadir.sqlite_files_tighten, dispatch_uid="mcpserver.sqlite_files_tighten"
        )
        if getattr(settings, "MCP_ENV", "development") != "production":
            # Production writes nothing before its checks pass (and uses PostgreSQL).
            for database in settings.DATABASES.values():
                if str(database.get("ENGINE", "")).endswith("sqlite3"):
                    datadir.sqlite_database_precreate(database.get("NAME"))
