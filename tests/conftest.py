"""Shared fixtures: one real broker and one real PostgreSQL per session, in-memory databases per test."""

import os

from hypothesis import settings

pytest_plugins = ["tests.fixtures.kafka", "tests.fixtures.postgres", "tests.fixtures.database"]

# CI must not go red on a slow machine or on a search path no developer saw: fixed seed, no
# per-example deadline. Developers keep hypothesis' random exploration.
settings.register_profile("ci", derandomize=True, deadline=None, print_blob=True)
if os.environ.get("CI"):
    settings.load_profile("ci")
