"""The command center's large screen: the page, and the live figures it draws.

``GET /api/v1/screen/stream`` is server-sent events: a ``snapshot`` frame first, an ``update``
frame whenever an event changes a figure of the caller's scope, and a keep-alive comment when
nothing changed for ``FQ_SCREEN_KEEPALIVE_SECONDS``. A frame's id is a digest of its figures, so a
client that reconnects with ``Last-Event-ID`` and has seen the current figures gets no snapshot
again, and one that missed changes gets the figures as they are now. Frames carry counts and,
for open grade-3 cases, number, category, place, unit and age: no text, no people.
"""
from __future__ import annotations

import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Annotated

from fastapi import APIRouter, Header, Query, Request
from fastapi.responses import FileResponse
from fastapi.sse import EventSourceResponse, format_sse_event
from starlette.background import BackgroundTask

from fengqiao.directory import REGION_CODE
from fengqiao.screen import OutOfScope
from gateway.auth import PUBLIC, Allowed
from gateway.problems import Problem
from gateway.screen import Frame, ScreenHub, Viewer, Wall

STATIC = Path(__file__).resolve().parent.parent / "static" / "screen"
KEEPALIVE = b": keep-alive\n\n"
RETRY_MILLISECONDS = 3000
# The page loads and talks to nothing but this gateway (walls sit on isolated networks); ECharts
# writes inline styles on its tooltips, hence 'unsafe-inline' for styles only.
PAGE_POLICY = ("default-src 'none'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; "
               "connect-src 'self'; font-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'")

router = APIRouter(tags=["screen"])


@router.get("/screen", dependencies=[PUBLIC], response_class=FileResponse,
            responses={200: {"content": {"text/html": {}}, "description": "the wall's page (大屏)"}})
async def page() -> FileResponse:
    """The wall's page; it asks for a key or a staff sign-in and keeps it in sessionStorage."""
    return FileResponse(STATIC / "index.html", media_type="text/html", headers={"Content-Security-Policy": PAGE_POLICY})


# Not ``response_class=EventSourceResponse``: FastAPI would take the route for a generator, and
# the route must refuse (403, 503) before the stream starts.
@router.get("/api/v1/screen/stream", response_model=None,
            responses={200: {"content": {"text/event-stream": {}}, "description": "snapshot, updates, keep-alives"},
                       403: {"description": "the region is outside the caller's jurisdiction"}})
async def stream(request: Request, caller: Allowed("stats.read"),
                 region: Annotated[str | None, Query(pattern=REGION_CODE.pattern,
                                                     description="a region code: its whole subtree; "
                                                                 "none: the caller's whole jurisdiction")] = None,
                 last_event_id: Annotated[str | None, Header(description="the id of the last frame seen")] = None):
    """The screen's figures for the caller's jurisdiction (or a region inside it), live."""
    hub: ScreenHub = request.app.state.screen
    try:
        wall, viewer = await hub.join(caller.scope, region)
    except OutOfScope as exc:  # the bus's failures arrive as problems already (gateway.calls)
        raise Problem(403, "out-of-scope", "超出管辖范围", str(exc)) from exc
    keepalive = request.app.state.settings.screen_keepalive_seconds
    # The viewer also leaves after the response, should the client go before the stream begins
    # (the generator's own ``finally`` then never runs); leaving twice is harmless.
    return EventSourceResponse(_frames(hub, wall, viewer, last_event_id, keepalive),
                               headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"},
                               background=BackgroundTask(_leave, hub, wall, viewer))


async def _leave(hub: ScreenHub, wall: Wall, viewer: Viewer) -> None:
    """A coroutine, so Starlette runs it on the event loop with the hub, not in a thread."""
    hub.leave(wall, viewer)


def _encode(kind: str, frame: Frame) -> bytes:
    return format_sse_event(data_str=json.dumps(frame.data, ensure_ascii=False), event=kind, id=frame.id,
                            retry=RETRY_MILLISECONDS)


async def _frames(hub: ScreenHub, wall: Wall, viewer: Viewer, last_seen: str | None,
                  keepalive: float) -> AsyncIterator[bytes]:
    try:
        if wall.frame.id != last_seen:
            last_seen = wall.frame.id
            yield _encode("snapshot", wall.frame)
        while True:
            frame = await viewer.next(keepalive)
            if frame is None:
                yield KEEPALIVE
            elif frame.id != last_seen:
                last_seen = frame.id
                yield _encode("update", frame)
    finally:
        hub.leave(wall, viewer)
