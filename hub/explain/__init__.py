"""Explain a decision from the audit trail: why a message or an API request was let through or refused."""
