"""Settings for bench/auth_bench.py: this project's own settings, unchanged, plus two
bench-only endpoints (twins_urls.py). Nothing is added to the product's URLs.

    DJANGO_SETTINGS_MODULE=bench.auth_servers.twins gunicorn mcpserver.wsgi:application
"""

from mcpserver.settings import *  # noqa: F403 - the real server's settings, whatever they are

ROOT_URLCONF = "bench.auth_servers.twins_urls"
