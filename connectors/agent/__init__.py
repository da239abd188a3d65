"""A running connector process: the agency's connector, its status checker and responder, and a local REST API.

``running_connector(config)`` (``runtime``) starts it; ``create_app(config, process)`` (``api``)
serves it; ``onedoor connector serve`` and ``onedoor status-check`` (``cli``) are the commands.
"""
