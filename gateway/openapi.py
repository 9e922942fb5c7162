"""The OpenAPI document as the gateway answers, not as FastAPI guesses.

FastAPI documents a 422 with its own body, JSON for every answer and no security. Here every
operation declares how callers authenticate (X-API-Key or a staff bearer token; none on public
routes), and each error it can give as RFC 9457 problem+json: 401/403 behind an access check,
404 where a path names a resource, 413/415 where it takes a body, 422 for invalid input and
503 when the bus is down. Open311 answers in its own error list, in JSON or XML, and takes
form-encoded bodies; ``/metrics`` is Prometheus text.
"""
from __future__ import annotations

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi
from fastapi.routing import APIRoute

from gateway.problems import PROBLEM_JSON

PROBLEM = {"$ref": "#/components/schemas/Problem"}
OPEN311_ERRORS = {"$ref": "#/components/schemas/Open311Errors"}
XML = {"schema": {"type": "string"}}
SCHEMAS = {
    "Problem": {
        "type": "object", "title": "Problem", "required": ["type", "title", "status"],
        "description": "RFC 9457 problem details; some problems add members (errors, needed, retry_after_seconds …)",
        "properties": {
            "type": {"type": "string"}, "title": {"type": "string"}, "status": {"type": "integer"},
            "detail": {"type": "string"}, "instance": {"type": "string"},
            "errors": {"type": "array", "items": {
                "type": "object", "required": ["field", "message", "type"],
                "properties": {"field": {"type": "string"}, "message": {"type": "string"}, "type": {"type": "string"}},
            }},
        },
    },
    "Open311Errors": {
        "type": "array", "title": "Open311Errors", "items": {
            "type": "object", "required": ["code", "description"],
            "properties": {"code": {"type": "integer"}, "description": {"type": "string"}},
        },
    },
}
SECURITY_SCHEMES = {
    "ApiKey": {"type": "apiKey", "in": "header", "name": "X-API-Key", "description": "系统接入密钥（API key）"},
    "StaffToken": {"type": "http", "scheme": "bearer", "bearerFormat": "JWT",
                   "description": "工作人员令牌：POST /api/v1/auth/token 获取"},
    "Open311ApiKey": {"type": "apiKey", "in": "query", "name": "api_key",
                      "description": "Open311's api_key: in the query string or as a form field"},
}
CALLER = [{"ApiKey": []}, {"StaffToken": []}]
ERRORS = {400: "the body cannot be parsed", 401: "no valid API key or staff token",
          403: "the caller's role or jurisdiction does not allow it", 404: "no such resource for this caller",
          409: "refused: the resource's state or an earlier submission does not allow it",
          413: "the body is larger than this operation takes", 415: "the body is not in a media type this "
          "operation reads", 422: "the input is invalid; errors name each field", 503: "a service or the broker "
          "is unavailable; retry after Retry-After seconds"}
# Public routes that answer from the gateway alone, without the bus.
NO_BUS = {"/healthz", "/metrics", "/open311/v2/discovery.{fmt}", "/open311/v2/services.{fmt}",
          "/open311/v2/services/{code}.{fmt}", "/openapi.json", "/asyncapi.json"}
OPEN311_FIELDS = ["api_key", "service_code", "description", "lat", "long", "address_string", "address_id",
                  "attribute[source_id]", "email", "device_id", "account_id", "first_name", "last_name", "phone",
                  "media_url"]

LIST_PARAMETERS = {"service_request_id": "comma-separated ids (at most 100); the other filters are ignored",
                   "service_code": "comma-separated service codes", "start_date": "ISO 8601 date-time",
                   "end_date": "ISO 8601 date-time (default: now, or start_date + 90 days)",
                   "status": "open, closed or open,closed", "page": "1 to 10000", "page_size": "1 to 1000"}


def install(app: FastAPI) -> None:
    def document() -> dict:
        if app.openapi_schema is None:
            doc = get_openapi(title=app.title, version=app.version, description=app.description, routes=app.routes)
            refine(doc, app)
            app.openapi_schema = doc
        return app.openapi_schema

    app.openapi = document


def refine(doc: dict, app: FastAPI) -> None:
    components = doc.setdefault("components", {})
    schemas = components.setdefault("schemas", {})
    for default in ("HTTPValidationError", "ValidationError"):
        schemas.pop(default, None)
    schemas.update(SCHEMAS)
    components["securitySchemes"] = SECURITY_SCHEMES
    for route in app.state.api_routes:
        if route.include_in_schema:
            for method in route.methods:
                operation = doc["paths"][route.path_format][method.lower()]
                if route.path.startswith("/open311/"):
                    _open311(operation, route, method)
                else:
                    _api(operation, route)


def _public(route: APIRoute) -> bool:
    return not next((d.call.permissions for d in _dependencies(route) if hasattr(d.call, "permissions")), ())


def _dependencies(route: APIRoute):
    pending = list(route.dependant.dependencies)
    while pending:
        dependency = pending.pop()
        yield dependency
        pending.extend(dependency.dependencies)


def _errors(operation: dict, route: APIRoute) -> set[int]:
    """The error statuses an operation can answer, with those its route declares itself."""
    codes = {int(code) for code in operation.get("responses", {}) if code.isdigit() and int(code) >= 400}
    if not _public(route):
        codes |= {401, 403}
    if route.param_convertors or any(p.name == "case_id" for p in route.dependant.query_params):
        codes.add(404)  # a resource named in the path, or a case in the query
    if route.body_field is not None:
        codes |= {400, 413, 415, 422}
    if route.param_convertors and route.methods - {"GET"}:
        codes.add(409)  # a command on a resource in a state that does not allow it
    if route.dependant.query_params or route.dependant.path_params or route.body_field is not None:
        codes.add(422)
    if route.path not in NO_BUS:
        codes.add(503)
    return codes


def _api(operation: dict, route: APIRoute) -> None:
    operation["security"] = [] if _public(route) else CALLER
    responses = operation.setdefault("responses", {})
    for code in sorted(_errors(operation, route)):
        entry = responses.setdefault(str(code), {})
        entry["description"] = entry.get("description") or ERRORS.get(code, "refused")
        if entry["description"] == "Validation Error":
            entry["description"] = ERRORS[422]
        entry["content"] = {PROBLEM_JSON: {"schema": PROBLEM}}
    if route.path == "/metrics":
        responses["200"]["content"] = {"text/plain": {"schema": {"type": "string"}}}


def _open311(operation: dict, route: APIRoute, method: str) -> None:
    """Open311 answers JSON or XML by the path's format, and its errors in Open311's list."""
    public = _public(route)
    operation["security"] = [] if public else [{"Open311ApiKey": []}, {"ApiKey": []}]
    responses = operation.setdefault("responses", {})
    responses.pop("422", None)  # its path parameters are plain strings: nothing for FastAPI to refuse
    success = "201" if method == "POST" else "200"
    responses.pop("200", None)
    responses[success] = {"description": "in the format the path names",
                          "content": {"application/json": {"schema": {}}, "text/xml": XML}}
    codes = {404} | ({400, 403, 409, 415, 503} if method == "POST" else set())
    if route.path.endswith(("/requests.{fmt}", "/requests/{request_id}.{fmt}")):
        codes |= {400, 503}
    for code in sorted(codes):
        responses[str(code)] = {"description": ERRORS.get(code, "refused"),
                                "content": {"application/json": {"schema": OPEN311_ERRORS}, "text/xml": XML}}
    if method == "POST":
        # The form's own parse errors and an oversized body are answered before Open311's code runs.
        responses["400"]["content"][PROBLEM_JSON] = {"schema": PROBLEM}
        responses["413"] = {"description": ERRORS[413], "content": {PROBLEM_JSON: {"schema": PROBLEM}}}
        form = {"type": "object", "required": ["service_code", "description"],
                "properties": {name: {"type": "string"} for name in OPEN311_FIELDS}}
        operation["requestBody"] = {"required": True, "content": {
            "application/x-www-form-urlencoded": {"schema": form}, "multipart/form-data": {"schema": form}}}
    if route.path.endswith("/requests.{fmt}") and method == "GET":
        operation.setdefault("parameters", []).extend(
            {"name": name, "in": "query", "required": False, "schema": {"type": "string"}, "description": text}
            for name, text in LIST_PARAMETERS.items())
    for parameter in operation.get("parameters", []):
        if parameter["name"] == "fmt":
            parameter["schema"] = {"type": "string", "enum": ["json", "xml"]}
