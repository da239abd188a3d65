"""Liveness and readiness probes of the hub's HTTP API."""
