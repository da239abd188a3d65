"""OneDoor: shared foundations (identifiers, errors, settings, logging, Kafka runtime, CLI)."""

__version__ = "0.1.0"
