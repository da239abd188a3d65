"""Shared fixtures: one real broker and one real PostgreSQL per session, in-memory databases per test."""

pytest_plugins = ["tests.fixtures.kafka", "tests.fixtures.postgres", "tests.fixtures.database"]
