"""The hub's append-only audit log: every routing and authorization decision."""
