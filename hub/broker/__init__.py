"""Broker identities: each approved agency's SCRAM user and ACLs, issued to its connector sealed to its key."""
