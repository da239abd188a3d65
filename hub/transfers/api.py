"""HTTP routes of case transfers: thin wrappers over ``hub.transfers.service``.

Connectors call them as their agency (``AgencyCaller``). The lead agency offers; a candidate
accepts (the first acceptance wins, the network moves with it, another candidate then gets
``409 transfer.already_accepted``; the acceptor asking again gets the same 200 answer); the
offering agency may withdraw an offer nobody took. A transfer is visible to its offering agency
and its candidates only. Every decision is audited (``transfer.*``).
"""

from __future__ import annotations

from fastapi import APIRouter, Request, status

from hub.auth.agency import AgencyCaller
from hub.deps import WRITE_ERRORS, error_responses
from hub.network.api import session_factory
from hub.transfers import service
from hub.transfers.schemas import AcceptedOut, TransferIn, TransferOut
from onedoor.db import transaction

router = APIRouter(prefix="/transfers", tags=["transfers"])


@router.post(
    "",
    status_code=status.HTTP_201_CREATED,
    responses=error_responses(*WRITE_ERRORS, 409),
    summary="Offer a child's case to candidate agencies in another area (the network's lead only)",
)
def offer(caller: AgencyCaller, body: TransferIn, request: Request) -> TransferOut:
    """Record the offer; the offering connector then sends each candidate a minimal ``TransferOffer``."""
    with transaction(session_factory(request)) as session:
        outcome = service.offer(session, body.subject_token, caller.agency, body.candidates)
    return TransferOut.from_model(outcome.unwrap())


@router.get(
    "/{transfer_id}",
    responses=error_responses(*WRITE_ERRORS, 404),
    summary="A transfer, for its offering agency or one of its candidates",
)
def get_transfer(caller: AgencyCaller, transfer_id: str, request: Request) -> TransferOut:
    """Where the transfer stands; ``404 transfer.not_found`` for anyone else."""
    with transaction(session_factory(request)) as session:
        outcome = service.get(session, transfer_id, caller.agency)
        row = outcome.value
        # The network as it was, for the two agencies that hand over; candidates that lost see no members.
        shown = row is not None and caller.agency in (row.offered_by, row.accepted_by)
        previous = service.previous_network(session, row) if shown and row is not None else None
    return TransferOut.from_model(outcome.unwrap(), previous)


@router.post(
    "/{transfer_id}/accept",
    responses=error_responses(*WRITE_ERRORS, 404, 409),
    summary="Accept a transfer as a candidate: the calling agency becomes the child's lead agency",
)
def accept(caller: AgencyCaller, transfer_id: str, request: Request) -> AcceptedOut:
    """Accept atomically; the answer names the previous lead, to ask for the handover pack."""
    with transaction(session_factory(request)) as session:
        outcome = service.accept(session, transfer_id, caller.agency)
    return AcceptedOut.from_accepted(outcome.unwrap())


@router.post(
    "/{transfer_id}/withdraw",
    responses=error_responses(*WRITE_ERRORS, 404, 409),
    summary="Withdraw an offer nobody has accepted yet (the offering agency only)",
)
def withdraw(caller: AgencyCaller, transfer_id: str, request: Request) -> TransferOut:
    """Withdraw the offer; candidates that accept afterwards get ``409 transfer.withdrawn``."""
    with transaction(session_factory(request)) as session:
        outcome = service.withdraw(session, transfer_id, caller.agency)
    return TransferOut.from_model(outcome.unwrap())
