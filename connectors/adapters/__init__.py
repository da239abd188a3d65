"""Adapters: how a connector plugs into what an agency already runs (a database, a REST system, a folder).

Each adapter is a plugin found through the ``onedoor.adapters`` entry point group
(``connectors.adapters.registry``); ``base`` holds the one interface they all implement.
"""
