"""The admin pages' role guard: ``shell.console_user`` plus the API's agency scope, in one audited decision.

An agency admin acts for its own agency only. Which agency a page acts on comes from the path
(``agency_id``) or, for an agreement, from its parties (``acting_for``); the decision is the
API's own (``hub.auth.policy.authorize``), and the one ``console.authz`` row says permit or deny.
A refusal is the console's 403 page, the same whether or not the target exists.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from fastapi import Request
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool

from hub.auth.policy import authorize
from hub.auth.roles import Role
from hub.auth.tokens import Principal
from hub.console import shell
from hub.console.shell import ConsoleUser
from onedoor.errors import Forbidden
from onedoor.ids import AgencyId

ActingFor = Callable[[Session, Request, AgencyId], AgencyId | None]
"""Given the user's agency: that agency if the page's target belongs to it, else ``None``."""


def by_path(_session: Session, request: Request, agency: AgencyId) -> AgencyId | None:
    """The agency named by the ``agency_id`` path parameter, if it is the user's."""
    return agency if request.path_params.get("agency_id") == agency else None


def scoped_user(*allowed: Role, acting_for: ActingFor = by_path) -> Callable[[Request], Awaitable[ConsoleUser]]:
    """A dependency like ``shell.console_user`` that also keeps an agency admin to its own agency."""
    wanted = frozenset(allowed)

    async def check(request: Request) -> ConsoleUser:
        live = await shell.current_session(request)
        if live is None:
            await shell.audit(
                request, shell.AUTHZ, "deny", actor=None, reason_code=shell.NOT_SIGNED_IN, why="no live console session"
            )
            raise shell.SignInRequired(shell.NOT_SIGNED_IN, "sign in to the console to open this page")
        user = shell.user_of(live)
        request.state.console_user = user
        target: AgencyId | None = None
        if user.agency is not None and Role.AGENCY_ADMIN in user.roles & wanted:
            own = user.agency

            def find() -> AgencyId | None:
                with shell.db_factory(request)() as session:
                    return acting_for(session, request, own)

            target = await run_in_threadpool(find)
        principal = Principal(user.subject, user.roles, user.agency, token_id=None, expires_at=live.expires_at)
        decision = authorize(principal, wanted, target)
        why = f"roles={','.join(sorted(user.roles))}; {decision.explanation}"
        if not decision.permitted:
            await shell.audit(
                request, shell.AUTHZ, "deny", actor=user.subject, reason_code=shell.FORBIDDEN_PAGE, why=why
            )
            raise Forbidden(shell.FORBIDDEN_PAGE, "your role does not give you access to this page")
        await shell.audit(request, shell.AUTHZ, "permit", actor=user.subject, why=why)
        return user

    return check
