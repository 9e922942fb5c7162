"""RFC 9457 problem details for every error the gateway answers."""
from __future__ import annotations

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.routing import Match

PROBLEM_JSON = "application/problem+json"


class Problem(Exception):
    def __init__(
        self, status: int, slug: str, title: str, detail: str = "", *,
        headers: dict[str, str] | None = None, **extensions,
    ):
        super().__init__(detail or title)
        self.status, self.slug, self.title, self.detail = status, slug, title, detail
        self.headers = headers or {}
        self.extensions = extensions

    def body(self, instance: str) -> dict:
        return {
            "type": f"/problems/{self.slug}",
            "title": self.title,
            "status": self.status,
            "detail": self.detail,
            "instance": instance,
            **self.extensions,
        }


def problem_response(problem: Problem, request: Request) -> JSONResponse:
    return JSONResponse(
        problem.body(request.url.path), status_code=problem.status,
        media_type=PROBLEM_JSON, headers=problem.headers,
    )


def field_path(loc: tuple) -> str:
    """('body', 'reporter', 'phone') -> 'reporter.phone'; the JSON body itself is 'body'."""
    parts = [str(p) for p in loc]
    if parts and parts[0] in ("body", "query", "path", "header") and len(parts) > 1:
        parts = parts[1:]
    return ".".join(parts)


def validation_problem(exc: RequestValidationError) -> Problem:
    errors = [
        {"field": field_path(tuple(e["loc"])), "message": e["msg"], "type": e["type"]}
        for e in exc.errors()
    ]
    detail = "; ".join(f"{e['field']}: {e['message']}" for e in errors)
    return Problem(422, "validation-error", "请求数据有误", detail, errors=errors)


def install(app: FastAPI) -> None:
    @app.exception_handler(Problem)
    async def _problem(request: Request, exc: Problem):
        return problem_response(exc, request)

    @app.exception_handler(RequestValidationError)
    async def _invalid(request: Request, exc: RequestValidationError):
        return problem_response(validation_problem(exc), request)

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException):
        slug, title = HTTP_PROBLEMS.get(exc.status_code, ("http-error", "请求无法处理"))
        headers = dict(exc.headers or {})
        if exc.status_code == 405:
            headers["Allow"] = ", ".join(allowed_methods(request))
        problem = Problem(exc.status_code, slug, title, str(exc.detail), headers=headers)
        return problem_response(problem, request)


HTTP_PROBLEMS = {400: ("bad-request", "请求无法解析"), 404: ("not-found", "资源不存在"),
                 405: ("method-not-allowed", "不支持该请求方法"), 413: ("body-too-large", "请求体过大")}


def allowed_methods(request: Request) -> list[str]:
    """Every method some route takes at this path. Starlette's own 405 names only the first
    route that matched the path, and each route here has one method."""
    methods = set()
    for route in request.app.state.api_routes:
        match, _ = route.matches({**request.scope, "method": "OPTIONS"})
        if match != Match.NONE:
            methods |= route.methods
    return sorted(methods)
