"""OneDoor data contracts: Avro schemas with sensitivity tags, their codec and their registry.

Modules: ``parsing`` (the one place that parses schemas), ``sensitivity`` (field tags),
``fingerprint`` (canonical form and digests), ``compatibility`` (pure checks between versions),
``codec`` (message bodies to and from bytes), ``catalog`` (the schemas bundled with OneDoor) and
``registry`` (the hub's versioned record of every contract).
"""
