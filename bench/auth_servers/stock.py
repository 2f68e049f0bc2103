"""The anchor for bench/auth_bench.py: a minimal Django project with stock SimpleJWT.

contenttypes + auth + DRF, Django's default middleware (startproject's list), and
rest_framework_simplejwt.authentication.JWTAuthentication, which decodes the token and
loads the user row from the database on every request. Database from STOCK_DATABASE_URL
(PostgreSQL) or STOCK_SQLITE_PATH; connections kept open between requests as the project
keeps its own (CONN_MAX_AGE 60), so the anchor measures authentication, not connecting.

    DJANGO_SETTINGS_MODULE=bench.auth_servers.stock \\
        gunicorn 'django.core.wsgi:get_wsgi_application()'
"""

import os
from datetime import timedelta

import dj_database_url

SECRET_KEY = os.environ["STOCK_SECRET_KEY"]
DEBUG = False
ALLOWED_HOSTS = ["127.0.0.1", "localhost"]
INSTALLED_APPS = [
    "django.contrib.contenttypes",
    "django.contrib.auth",
    "rest_framework",
]
MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]
ROOT_URLCONF = "bench.auth_servers.stock_urls"
if os.environ.get("STOCK_DATABASE_URL"):
    DATABASES = {
        "default": dj_database_url.parse(
            os.environ["STOCK_DATABASE_URL"], conn_max_age=60, conn_health_checks=True
        )
    }
else:
    DATABASES = {
        "default": {
            "ENGINE": "django.db.backends.sqlite3",
            "NAME": os.environ["STOCK_SQLITE_PATH"],
            "CONN_MAX_AGE": 60,
            "CONN_HEALTH_CHECKS": True,
        }
    }
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
USE_TZ = True
REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "rest_framework_simplejwt.authentication.JWTAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
}
SIMPLE_JWT = {"ACCESS_TOKEN_LIFETIME": timedelta(days=1)}
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"stderr": {"class": "logging.StreamHandler"}},
    "root": {"handlers": ["stderr"], "level": "WARNING"},
}
