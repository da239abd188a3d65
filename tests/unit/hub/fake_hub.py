"""A fake hub API for CLI tests: canned answers by (method, path), every request recorded."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import httpx


@dataclass
class FakeHub:
    """Answers each (method, path) from ``responses``; records every request."""

    responses: dict[tuple[str, str], tuple[int, Any]] = field(default_factory=dict)
    seen: list[httpx.Request] = field(default_factory=list)

    def client(self, base: str, token: str) -> httpx.Client:
        """A client factory for a CLI module's ``client_factory``."""

        def handle(request: httpx.Request) -> httpx.Response:
            self.seen.append(request)
            status, body = self.responses[(request.method, request.url.path)]
            return httpx.Response(status, json=body)

        headers = {"Authorization": f"Bearer {token}"}
        return httpx.Client(base_url=base, headers=headers, transport=httpx.MockTransport(handle))
