"""The hub: routes sealed envelopes between agencies, keeps the registry and the audit log.

It never holds a private key of an agency, never decrypts a body and keeps no case data.
"""
