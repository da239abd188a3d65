"""The agency registry: who may exchange messages through the hub, and their public keys.

The hub holds only public keys. ``directory.AgencyDirectory`` is the frozen, database-free
view of the registry that the router and the connectors look keys up in.
"""
