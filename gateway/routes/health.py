"""Liveness, readiness and metrics."""
from __future__ import annotations

import asyncio

from fastapi import APIRouter, Request, Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from fengqiao.bus.broker import reachable
from gateway.auth import PUBLIC
from gateway.problems import Problem

router = APIRouter(tags=["operations"], dependencies=[PUBLIC])


@router.get("/healthz")
async def healthz() -> dict:
    return {"status": "ok"}


@router.get("/readyz")
async def readyz(request: Request) -> dict:
    state = request.app.state
    checks = {}
    checks["broker"] = "ok" if await asyncio.to_thread(reachable, state.settings.amqp_uri, 2.0) else "unreachable"
    try:
        await asyncio.wait_for(state.store.ping(), 3)
        checks["store"] = "ok"
    except Exception as exc:  # any failure of the store makes us unready; say which
        checks["store"] = f"unreachable: {exc}"
    failing = sorted(name for name, result in checks.items() if result != "ok")
    if failing:
        raise Problem(503, "not-ready", "服务尚未就绪", f"not reachable: {', '.join(failing)}",
                      headers={"Retry-After": "5"}, checks=checks)
    return {"status": "ready", "checks": checks}


@router.get("/metrics")
async def metrics(request: Request) -> Response:
    return Response(generate_latest(request.app.state.metrics.registry), media_type=CONTENT_TYPE_LATEST)
