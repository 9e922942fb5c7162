"""Every HTTP request counted, timed and, where the log keeps one, audited.

A plain ASGI wrapper rather than ``@app.middleware("http")``: Starlette's BaseHTTPMiddleware runs
each request's app in a task of its own and copies the response through a memory stream, a cost
every request paid. The audit record is written when the response's head is ready and before
it is sent, so a client that has its answer finds the record already there; the latency is the
time to that head (a screen's event stream would otherwise count its whole life).
"""
from __future__ import annotations

import time

from fastapi import Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from gateway import audit


class Observed:
    def __init__(self, app: ASGIApp):
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started, answered = time.perf_counter(), False

        async def observed(message: Message) -> None:
            nonlocal answered
            if message["type"] == "http.response.start" and not answered:
                answered = True
                await _note(Request(scope), message["status"], time.perf_counter() - started)
            await send(message)

        try:
            await self.app(scope, receive, observed)
        except Exception:
            if not answered:  # a command that broke is still recorded
                await audit.write(Request(scope), 500)
            raise


async def _note(request: Request, status: int, seconds: float) -> None:
    await audit.write(request, status)
    route = request.scope.get("route")
    template = route.path if route is not None else "unmatched"
    metrics = request.app.state.metrics
    metrics.requests.labels(request.method, template, str(status)).inc()
    metrics.seconds.labels(request.method, template).observe(seconds)
