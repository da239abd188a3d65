"""Ops data: the dashboard snapshot, consumer lag, Prometheus metrics and the tracing switch."""
