"""Connectors: the agency side. The only place a message body exists in plaintext."""
