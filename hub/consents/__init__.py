"""Consent records per young person, stored at the hub by subject token; the engine's ``ConsentState`` per token."""
