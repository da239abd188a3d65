"""Shared fixtures: one real broker per session, one real PostgreSQL per session."""

pytest_plugins = ["tests.fixtures.kafka", "tests.fixtures.postgres"]
