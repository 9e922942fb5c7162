"""What a request body may be, enforced before the body is parsed: its size while it is read
(413), and its media type against what the route declares (415).

The size limit is an ASGI wrapper around ``receive``: a declared Content-Length over the limit
is refused before a byte is read, and a body without one (chunked) is refused as soon as the
bytes read pass it, so a 120 MB batch never sits whole in memory.
"""
from __future__ import annotations

from fastapi import Request, params
from fastapi.routing import APIRoute
from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from gateway.problems import Problem, problem_response

FORM_TYPES = ("application/x-www-form-urlencoded", "multipart/form-data")


def too_large(limit: int) -> Problem:
    return Problem(413, "body-too-large", "请求体过大", f"a request body may be at most {limit >> 20} MB here",
                   limit_bytes=limit)


class BodyLimit:
    """Refuses bodies over ``default`` bytes, or over ``larger[path]`` on the routes given more."""

    def __init__(self, app: ASGIApp, default: int, larger: dict[str, int]):
        self.app, self.default, self.larger = app, default, larger

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit = self.larger.get(scope["path"], self.default)
        declared = dict(scope["headers"]).get(b"content-length", b"")
        if declared.isdigit() and int(declared) > limit:
            await problem_response(too_large(limit), Request(scope))(scope, receive, send)
            return
        await self.app(scope, _counting(receive, limit), send)


def _counting(receive: Receive, limit: int) -> Receive:
    seen = 0

    async def counted() -> Message:
        nonlocal seen
        message = await receive()
        seen += len(message.get("body", b""))
        if seen > limit:
            # Raised inside the route's body read, where FastAPI lets only an HTTPException through.
            raise HTTPException(413, too_large(limit).detail)
        return message

    return counted


async def declared_media_type(request: Request) -> None:
    """A global dependency: a body in a media type the route does not read is refused (415),
    instead of being misread as something else (FastAPI reads no JSON from a body without one)."""
    route = request.scope.get("route")
    if not isinstance(route, APIRoute) or route.body_field is None or not _has_body(request):
        return
    given = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if isinstance(route.body_field.field_info, params.Form):  # File is a Form too
        if given not in FORM_TYPES:
            raise _unsupported(given, "multipart/form-data")
    elif given != "application/json" and not given.endswith("+json"):
        raise _unsupported(given, "application/json")


def _has_body(request: Request) -> bool:
    length = request.headers.get("content-length")
    return request.headers.get("transfer-encoding") is not None or (length is not None and length != "0")


def _unsupported(given: str, wanted: str) -> Problem:
    return Problem(415, "unsupported-media-type", "不支持的请求体类型",
                   f"this operation reads {wanted}, not {given or 'a body without Content-Type'}", accepted=[wanted])
