"""``POST /broker/credentials``: a connector fetches its agency's broker identity, as its agency.

The caller proves it is the agency with an assertion signed by its **current** signing key
(``AgencyCaller``; an unknown key or a suspended agency is refused there, 401, audited; a
retired key still in its grace period is refused by the service, 403 ``agency.key_not_current``,
audited). It names the encryption key it holds; the hub refuses (409
``broker.encryption_key_mismatch``) before provisioning if that is not the agency's current one. The
answer's password is sealed to the agency's current encryption key: only the connector holding
that key can read it, and the hub keeps no copy. Each call rotates the password. When the hub's
broker is TLS (``ONEDOOR_KAFKA__CA_FILE``), the answer also carries the broker's CA certificate (public).
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Body, Request

from hub.auth.agency import AgencyCaller
from hub.auth.deps import request_source
from hub.broker import service
from hub.broker.schemas import BrokerCredentialsIn, BrokerCredentialsOut
from hub.deps import WRITE_ERRORS, error_responses
from hub.network.api import session_factory
from onedoor.kafka.tls import read_ca_pem
from onedoor.settings import Settings

router = APIRouter(prefix="/broker", tags=["broker"])


@router.post(
    "/credentials",
    responses=error_responses(*WRITE_ERRORS, 403, 404, 409, 503),
    summary="Create or rotate the calling agency's broker identity (SCRAM user and ACLs); password sealed to it",
)
async def issue_credentials(
    caller: AgencyCaller, request: Request, body: Annotated[BrokerCredentialsIn, Body()]
) -> BrokerCredentialsOut:
    """Provision ``agency-<id>`` with exactly its ACLs; ``409 broker.provisioning_off``, ``503 broker.unavailable``."""
    settings: Settings = request.app.state.settings
    # Public: the CA the broker's TLS certificate chains to. Read first: a broken file fails before any rotation.
    ca_pem = read_ca_pem(settings.kafka.ca_file) if settings.kafka.ca_file is not None else None
    issued = await service.issue(
        session_factory(request),
        settings,
        caller.agency,
        source=request_source(request, {"agency": caller.agency}),
        signed_with=caller.key_id,
        encryption_key_id=body.encryption_key_id,
    )
    return BrokerCredentialsOut(
        agency=str(issued.candidate.agency),
        username=issued.username,
        mechanism=issued.mechanism,
        sealed_password=issued.sealed_password,
        encryption_key_id=str(issued.candidate.encryption_key_id),
        topic_prefix=issued.topic_prefix,
        acls=[str(binding) for binding in issued.acls],
        ca_certificate_pem=ca_pem,
    )
