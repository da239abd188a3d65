"""The SQL adapter: the agency's own database, mapped to contract fields by a YAML mapping (no code).

``factory`` is the ``sql`` entry point of the ``onedoor.adapters`` group; see
``connectors.adapters.sql.mapping`` for the mapping's format.
"""

from connectors.adapters.sql.adapter import SqlAdapter, factory

__all__ = ["SqlAdapter", "factory"]
