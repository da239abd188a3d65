"""Bodies by contract and version: which schema wrote a message, which one this agency reads with."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from contracts import codec
from contracts.catalog import ContractSchema, bundled
from onedoor.errors import NotFound


class ContractCodecs:
    """The contract versions a connector knows; decodes every message into its newest one."""

    def __init__(self, versions: Mapping[tuple[str, int], ContractSchema] | None = None) -> None:
        self._versions: dict[tuple[str, int], ContractSchema] = dict(versions or {})

    @classmethod
    def bundled(cls) -> ContractCodecs:
        """The contracts shipped with OneDoor, each as version 1 (as the hub seeds them)."""
        return cls({(str(name), 1): schema for name, schema in bundled().items()})

    def add(self, contract: str, version: int, schema: ContractSchema) -> None:
        """Learn one more registered version."""
        self._versions[(contract, version)] = schema

    def schema(self, contract: str, version: int) -> ContractSchema:
        """The schema of that contract version.

        Raises:
            NotFound: ``contract.unknown`` or ``contract.version_unknown``.
        """
        schema = self._versions.get((contract, version))
        if schema is None:
            known = any(name == contract for name, _ in self._versions)
            code = "contract.version_unknown" if known else "contract.unknown"
            raise NotFound(code, f"{contract} v{version} is not a contract version this connector knows")
        return schema

    def latest(self, contract: str) -> int:
        """The newest version known of ``contract``."""
        versions = [v for name, v in self._versions if name == contract]
        if not versions:
            raise NotFound("contract.unknown", f"{contract} is not a contract this connector knows")
        return max(versions)

    def encode(self, contract: str, version: int, body: Mapping[str, Any]) -> bytes:
        """Avro-encode ``body`` with that contract version."""
        return codec.encode(self.schema(contract, version), body)

    def decode(self, contract: str, version: int, data: bytes) -> dict[str, Any]:
        """Decode a body written with ``version``, read as the newest version known."""
        writer = self.schema(contract, version)
        reader = self.schema(contract, self.latest(contract))
        return codec.decode(data, writer, reader)
