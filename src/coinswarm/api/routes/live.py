"""`WS /api/ws`: the live events as they happen, after a replay of what a client missed.

`?after=SEQ` replays every buffered event after SEQ first (a reconnecting client loses
nothing still buffered; a `gap` notice says when it did); `?kinds=bar,equity` and `?run=ID`
narrow the stream; `?token=` carries the viewer's token (browsers cannot set a header on a
websocket). Every message is one event's JSON. A client that falls too far behind is closed
with 1013 (try again later), and reconnects with the last `seq` it saw.
"""

from __future__ import annotations

import asyncio
import contextlib

from fastapi import APIRouter, HTTPException, WebSocket, WebSocketDisconnect
from starlette.websockets import WebSocketState

from coinswarm.api.auth import viewer
from coinswarm.api.live import GAP, Client, hub_of
from coinswarm.api.services import services
from coinswarm.infra.telemetry import KINDS

__all__ = ["POLICY_VIOLATION", "TRY_AGAIN_LATER", "router"]

router = APIRouter(prefix="/api", tags=["live"])

TRY_AGAIN_LATER = 1013
POLICY_VIOLATION = 1008
_KNOWN_KINDS = frozenset({*KINDS, "alert", GAP})


def _after(text: str | None) -> int | None:
    if text is None or text == "":
        return None
    if not text.isdigit():
        raise ValueError(f"after: expected a sequence number (0 or more), found {text!r}")
    return int(text)


def _kinds(text: str | None) -> frozenset[str] | None:
    if not text:
        return None
    kinds = frozenset(k.strip() for k in text.split(",") if k.strip())
    unknown = sorted(kinds - _KNOWN_KINDS)
    if unknown:
        known = ", ".join(sorted(_KNOWN_KINDS))
        raise ValueError(f"kinds: unknown {', '.join(unknown)} (known: {known})")
    return kinds or None


@router.websocket("/ws")
async def live_events(websocket: WebSocket) -> None:
    """Stream live events to a viewer (anyone in public mode), after a replay."""
    found = services(websocket)
    try:
        viewer(websocket, found)
    except HTTPException as refused:
        await websocket.close(code=POLICY_VIOLATION, reason=str(refused.detail))
        return
    query = websocket.query_params
    try:
        after = _after(query.get("after"))
        kinds = _kinds(query.get("kinds"))
    except ValueError as error:
        await websocket.close(code=POLICY_VIOLATION, reason=str(error)[:120])
        return
    await websocket.accept()
    hub = hub_of(found)
    client, first = hub.join(after=after, kinds=kinds, run_id=query.get("run") or None)
    try:
        await _serve(websocket, client, first)
    finally:
        hub.leave(client)


async def _serve(websocket: WebSocket, client: Client, first: list[str]) -> None:
    """Send until the client leaves or is dropped; read meanwhile, to hear it leave."""
    sending = asyncio.create_task(_send(websocket, client, first))
    reading = asyncio.create_task(_read(websocket))
    dropped = asyncio.create_task(client.closed.wait())
    done, pending = await asyncio.wait(
        {sending, reading, dropped}, return_when=asyncio.FIRST_COMPLETED
    )
    for task in pending:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await task
    for task in done:
        with contextlib.suppress(asyncio.CancelledError, WebSocketDisconnect, RuntimeError):
            task.result()
    if client.dropped:
        await _close(websocket, TRY_AGAIN_LATER, "too far behind: reconnect with ?after=")


async def _send(websocket: WebSocket, client: Client, first: list[str]) -> None:
    for text in first:
        await websocket.send_text(text)
        client.sent += 1
    while True:
        queued = await client.queue.get()
        if queued is None:  # dropped by the hub
            return
        await websocket.send_text(queued)
        client.sent += 1


async def _read(websocket: WebSocket) -> None:
    # Nothing a client says matters; reading lets the server see a close or a dead peer.
    while True:
        message = await websocket.receive()
        if message.get("type") == "websocket.disconnect":
            return


async def _close(websocket: WebSocket, code: int, reason: str) -> None:
    if websocket.application_state is WebSocketState.DISCONNECTED:
        return
    with contextlib.suppress(Exception):
        await asyncio.wait_for(websocket.close(code=code, reason=reason), 2.0)
