"""Who may look and who may act: a viewer token, an operator token, a public read-only mode.

A GET needs the viewer's or the operator's token (or none, in public mode); a request that
changes state needs the operator's. A missing or wrong token is 401, a viewer's token where
the operator's is needed is 403, and every refusal is logged and written to the audit log
(the token itself never is). Tokens are compared with `hmac.compare_digest`, whose time does
not depend on where two strings first differ. With no token configured, nobody can act.
"""

from __future__ import annotations

import hmac
import logging
from enum import StrEnum
from typing import Annotated

from fastapi import Depends, HTTPException
from pydantic import SecretStr
from starlette.requests import HTTPConnection

from coinswarm.api.services import Services, services

__all__ = ["Operator", "Role", "Viewer", "client_of", "operator", "role_of", "viewer"]

logger = logging.getLogger(__name__)


class Role(StrEnum):
    ANONYMOUS = "anonymous"
    VIEWER = "viewer"
    OPERATOR = "operator"


def _presented(connection: HTTPConnection) -> str | None:
    header = connection.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() == "bearer" and token.strip():
        return token.strip()
    # Browsers cannot set headers on a websocket: the dashboards pass the token as a query.
    return connection.query_params.get("token") or None


def _same(presented: str, secret: str | None) -> bool:
    if not secret:
        return False
    return hmac.compare_digest(presented.encode(), secret.encode())


def _secret(value: SecretStr | None) -> str | None:
    return None if value is None else value.get_secret_value()


def role_of(connection: HTTPConnection, found: Services) -> Role | None:
    """Return the role the request's token grants; None for a token that matches nothing."""
    presented = _presented(connection)
    if presented is None:
        return Role.ANONYMOUS
    operator_secret = _secret(found.settings.operator_token)
    viewer_secret = _secret(found.settings.viewer_token)
    # Both comparisons always run, so the time taken does not tell which token was close.
    is_operator = _same(presented, operator_secret)
    is_viewer = _same(presented, viewer_secret)
    if is_operator:
        return Role.OPERATOR
    return Role.VIEWER if is_viewer else None


def client_of(connection: HTTPConnection) -> str:
    """Return the client's address as the audit log names it."""
    return connection.client.host if connection.client else "unknown"


def _refuse(connection: HTTPConnection, found: Services, status: int, why: str) -> HTTPException:
    client = client_of(connection)
    path = connection.url.path
    logger.warning("refused %s from %s: %s", path, client, why)
    auditor = found.parts.get("audit")
    if auditor is not None:
        auditor.refused(path=path, client=client, reason=why)
    headers = {"WWW-Authenticate": "Bearer"} if status == 401 else None
    return HTTPException(status_code=status, detail=why, headers=headers)


def viewer(connection: HTTPConnection, found: Annotated[Services, Depends(services)]) -> Role:
    """Let a viewer or an operator through (anyone in public mode); refuse the rest."""
    role = role_of(connection, found)
    if role is None:
        raise _refuse(connection, found, 401, "the token matches no role")
    if role is Role.ANONYMOUS and not found.settings.public:
        raise _refuse(connection, found, 401, "a viewer or operator token is needed")
    return role


def operator(connection: HTTPConnection, found: Annotated[Services, Depends(services)]) -> Role:
    """Let only the operator through: 401 without a valid token, 403 for a viewer."""
    role = role_of(connection, found)
    if role is None:
        raise _refuse(connection, found, 401, "the token matches no role")
    if role is Role.ANONYMOUS:
        raise _refuse(connection, found, 401, "the operator token is needed")
    if role is Role.VIEWER:
        raise _refuse(connection, found, 403, "a viewer may look but not act")
    return role


Viewer = Annotated[Role, Depends(viewer)]
Operator = Annotated[Role, Depends(operator)]
