"""The websocket route at `/` (market data and user channels) and its fault control routes.

The official SDK's `WSClient` connects to its `base_url` as given, so the feed lives at the
root path; REST stays under `/api/v3/brokerage`.
"""

from __future__ import annotations

import asyncio
import contextlib
from typing import Annotated

from fastapi import APIRouter, Depends, Request, WebSocket, WebSocketDisconnect
from pydantic import BaseModel, ConfigDict

from coinswarm.exchanges.local_coinbase.control import CONTROL_PREFIX
from coinswarm.exchanges.local_coinbase.deps import Services
from coinswarm.exchanges.local_coinbase.stream import Closing, Outbox, Session, StreamState
from coinswarm.exchanges.local_coinbase.wsfaults import WsFault

__all__ = ["WS_PATH", "control_router", "router"]

WS_PATH = "/"

router = APIRouter()
control_router = APIRouter(prefix=CONTROL_PREFIX)

_GONE = (WebSocketDisconnect, OSError, RuntimeError)
"""What sending to or reading from a connection the client already closed raises."""


class WsFaultList(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    faults: list[WsFault]


async def _read(websocket: WebSocket, session: Session) -> None:
    while True:
        await session.handle(await websocket.receive_text())


@router.websocket(WS_PATH)
async def stream(websocket: WebSocket) -> None:
    """Serve one connection: read (un)subscribe messages, push snapshots, updates, heartbeats."""
    services: Services = websocket.app.state.services
    state: StreamState = websocket.app.state.stream
    await websocket.accept()
    outbox = Outbox(websocket.send_text, state.faults, services.clock)
    session = Session(services.venue, services.verifier, outbox, state.settings)
    tasks = {
        asyncio.create_task(_read(websocket, session)),
        asyncio.create_task(session.push_forever()),
    }
    done, pending = await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
    for task in pending:
        task.cancel()
    await asyncio.gather(*pending, return_exceptions=True)
    for task in done:
        error = task.exception()
        if isinstance(error, Closing):
            with contextlib.suppress(*_GONE):
                await websocket.close(code=error.code, reason=error.reason)
        elif error is not None and not isinstance(error, _GONE):
            raise error


def _stream_state(request: Request) -> StreamState:
    found: StreamState = request.app.state.stream
    return found


StreamStateDep = Annotated[StreamState, Depends(_stream_state)]


@control_router.put("/ws_faults")
async def set_ws_faults(body: WsFaultList, state: StreamStateDep) -> dict[str, int]:
    """Replace the websocket fault plan."""
    state.faults.set(body.faults)
    return {"faults": len(body.faults)}


@control_router.delete("/ws_faults")
async def clear_ws_faults(state: StreamStateDep) -> dict[str, int]:
    """Remove every websocket fault."""
    state.faults.clear()
    return {"faults": 0}
