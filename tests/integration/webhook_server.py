"""A real HTTP server standing in for an agency's case system: Starlette served by uvicorn on a local port.

It checks each request's signature with the public ``verify_signature`` exactly as an agency
would, records what it got, and answers what a test tells it to.
"""

from __future__ import annotations

import asyncio
import json
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from connectors.adapters.signing import (
    MESSAGE_ID_HEADER,
    SIGNATURE_HEADER,
    SignatureInvalid,
    create_secret_file,
    verify_signature,
)


@dataclass
class CaseSystem:
    """The agency's webhook receiver: what it got, and what it will answer next."""

    secret: bytes
    answers: list[int] = field(default_factory=list)
    """Statuses to answer, in order; 200 once they run out."""
    delay_s: float = 0.0
    got: list[tuple[str, dict[str, object]]] = field(default_factory=list)
    """(message id header, parsed body) of each request whose signature verified."""
    refused: list[str] = field(default_factory=list)
    """Codes of requests whose signature did not verify."""
    requests: list[tuple[dict[str, str], bytes]] = field(default_factory=list)
    """(headers, raw body) of every request, verified or not: what an eavesdropper could replay."""

    async def inbox(self, request: Request) -> Response:
        raw = await request.body()
        self.requests.append((dict(request.headers), raw))
        try:
            verify_signature(
                self.secret, request.headers.get(SIGNATURE_HEADER), raw, request.headers.get(MESSAGE_ID_HEADER)
            )
        except SignatureInvalid as exc:
            self.refused.append(exc.code)
            return JSONResponse({"error": exc.code}, status_code=401)
        if self.delay_s:
            await asyncio.sleep(self.delay_s)
        self.got.append((request.headers[MESSAGE_ID_HEADER], json.loads(raw)))
        return Response(status_code=self.answers.pop(0) if self.answers else 200)


@dataclass
class Served:
    system: CaseSystem
    url: str
    secret_file: Path


def webhook_adapter(served: Served) -> dict[str, Any]:
    """The ``adapters.yaml`` entry of a webhook adapter that posts MasterReferrals to ``served``."""
    return {
        "kind": "webhook",
        "name": "case-system",
        "options": {
            "url": served.url,
            "secret_file": str(served.secret_file),
            "contracts": ["onedoor.referral.MasterReferral"],
        },
    }


@contextmanager
def serving(tmp_path: Path) -> Iterator[Served]:
    """A case system on 127.0.0.1 with a new shared secret in ``tmp_path/webhook.secret``."""
    secret_file = tmp_path / "webhook.secret"
    system = CaseSystem(create_secret_file(secret_file))
    app = Starlette(routes=[Route("/onedoor/inbox", system.inbox, methods=["POST"])])
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", lifespan="off"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        assert time.monotonic() < deadline, "the test webhook server did not start"
        time.sleep(0.01)
    try:
        yield Served(system, f"http://127.0.0.1:{port}/onedoor/inbox", secret_file)
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        sock.close()
