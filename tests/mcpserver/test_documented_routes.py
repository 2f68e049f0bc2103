"""The endpoints the configuration files name exist.

The bug: .env.example and the settings said tokens are issued at /auth/token, a 404; they
are issued at /auth/login.
"""

from __future__ import annotations

import re

import pytest
from django.urls import Resolver404, resolve

from tests.processes import ROOT

AUTH_PATH = re.compile(r"(?<![\w.])/auth/[\w-]+")


@pytest.mark.parametrize("name", [".env.example", "mcpserver/settings.py"])
def test_every_auth_endpoint_a_configuration_file_names_exists(name):
    named = set(AUTH_PATH.findall((ROOT / name).read_text()))
    assert named, f"{name} names no /auth/ endpoint: the test has nothing to check"
    for path in sorted(named):
        try:
            resolve(path)
        except Resolver404:
            pytest.fail(f"{name} names {path}, which does not exist")


def test_the_token_endpoint_they_name_is_the_login():
    assert "/auth/login" in (ROOT / ".env.example").read_text()
    assert resolve("/auth/login").url_name == "login"
