"""The FastAPI application: ``uvicorn gateway.app:create_app --factory``."""
from __future__ import annotations

import asyncio
import warnings
from contextlib import asynccontextmanager
from dataclasses import dataclass, field

from fastapi import Depends, FastAPI
from fastapi.routing import APIRoute
from fastapi.staticfiles import StaticFiles
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, PlatformCollector, ProcessCollector

from fengqiao.access import Policy
from fengqiao.clock import Clock
from fengqiao.directory import Directory
from fengqiao.settings import Settings
from fengqiao.store.aio import open_async_store
from gateway import accounts, audit, imports, openapi, problems, submissions
from gateway.calls import call
from gateway.import_feed import ImportProgressFeed
from gateway.limits import BodyLimit, declared_media_type
from gateway.observe import Observed
from gateway.routes import accounts as account_routes
from gateway.routes import (
    audit_log,
    cases,
    followup,
    health,
    intake,
    ledgers,
    mediation,
    open311,
    screen,
    stats,
    subscriptions,
)
from gateway.screen import ScreenFeed, ScreenHub, refresh_every
from gateway.throttle import SignInThrottle

warnings.filterwarnings("ignore", message=".*Eventlet is deprecated.*")
# Every router of the API, in the order they are matched; a test checks each route's access declaration.
ROUTERS = (cases.router, intake.router, open311.router, open311.public, account_routes.router, audit_log.router,
           ledgers.router, mediation.router, followup.router, stats.router, screen.router, subscriptions.router,
           subscriptions.documents, health.router)


@dataclass
class GatewayMetrics:
    registry: CollectorRegistry = field(default_factory=CollectorRegistry)

    def __post_init__(self):
        ProcessCollector(registry=self.registry)
        PlatformCollector(registry=self.registry)
        self.requests = Counter("fengqiao_http_requests_total", "HTTP requests answered",
                                ["method", "route", "status"], registry=self.registry)
        self.seconds = Histogram("fengqiao_http_request_duration_seconds", "HTTP request latency",
                                 ["method", "route"], registry=self.registry)
        self.screen_streams = Gauge("fengqiao_screen_streams", "Walls' event streams open on this gateway",
                                    registry=self.registry)
        self.submissions = Counter("fengqiao_cases_submitted_total", "Case submissions accepted",
                                   ["channel", "outcome"], registry=self.registry)


def _import_runner(state):
    """Start an import job's runner as one of the gateway's background tasks."""
    def start(job_id: str) -> None:
        # The runner retries its own failures; it ends when the job is queued or the gateway stops.
        task = asyncio.create_task(imports.run_until_queued(state.imports, job_id))
        state.background.add(task)
        task.add_done_callback(state.background.discard)

    return start


def create_app(settings: Settings | None = None, clock: Clock | None = None) -> FastAPI:
    settings = settings or Settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        from gateway.bridge import EventPublisher, RpcBridge  # imports nameko: keep it off import time

        state = app.state
        state.store = open_async_store(settings.resolved_store_uri, "gateway")
        state.api_clients = await accounts.API_CLIENTS.open_async(state.store)
        state.staff = await accounts.STAFF.open_async(state.store)
        state.audit = await audit.AUDIT.open_async(state.store)
        state.receipts = await submissions.RECEIPTS.open_async(state.store)
        state.keys = await accounts.auth_keys(await accounts.SECRETS.open_async(state.store), settings.auth_secret)
        state.background = set()
        if settings.bootstrap_admin_key:
            accounts.check_bootstrap_key(settings.bootstrap_admin_key, settings.gateway_host)
            await accounts.bootstrap_admin(state.api_clients, state.keys, settings.bootstrap_admin_key,
                                           state.clock.now())
        state.publisher = EventPublisher(settings.nameko_config(), settings.publish_timeout_seconds)
        state.rpc = RpcBridge(settings.nameko_config(), settings.rpc_timeout_seconds)
        state.imports = await imports.open_imports(state.store, state.receipts, state.publisher, state.clock,
                                                    settings.import_chunk_rows)
        state.start_import = _import_runner(state)
        import_feed = ImportProgressFeed(settings.amqp_uri, asyncio.get_running_loop(), state.imports)
        import_feed.start()
        await imports.resume(state.imports, state.start_import)
        state.screen = ScreenHub(lambda method, *args: call(state, "search", method, *args), state.clock,
                                 app.state.directory)
        app.state.metrics.screen_streams.set_function(lambda: state.screen.viewers)
        feed = ScreenFeed(settings.amqp_uri, asyncio.get_running_loop(), state.screen)
        feed.start()
        state.background.add(asyncio.create_task(refresh_every(state.screen, settings.screen_refresh_seconds)))
        try:
            yield
        finally:
            feed.stop()
            import_feed.stop()
            state.screen.close()
            for task in state.background:
                task.cancel()
            state.rpc.close()
            state.publisher.close()
            await state.store.close()

    app = FastAPI(
        title="Fengqiao 枫桥 API",
        version="0.1.0",
        description="One window for people's demands and disputes: 一窗受理、分流交办、调解回访。",
        lifespan=lifespan,
        dependencies=[Depends(declared_media_type)],
    )
    app.state.settings = settings
    app.state.clock = clock or settings.clock()
    app.state.metrics = GatewayMetrics()
    app.state.policy = Policy.load(settings.access_policy_file)
    app.state.sign_ins = SignInThrottle(app.state.clock)
    # Units' and mediators' regions, so a command cannot send a case outside the caller's jurisdiction.
    app.state.directory = Directory.load(settings.directory_file)
    problems.install(app)
    open311.install(app)
    for router in ROUTERS:
        app.include_router(router)
    app.mount("/static/screen", StaticFiles(directory=screen.STATIC), name="screen-assets")
    # The routes themselves: FastAPI keeps included routers nested, each behind its own matcher.
    app.state.api_routes = [route for router in ROUTERS for route in router.routes if isinstance(route, APIRoute)]
    openapi.install(app)
    # Multipart overhead on top of the largest ledger file.
    app.add_middleware(BodyLimit, default=settings.max_body_mb << 20,
                       larger={"/api/v1/imports": ledgers.MAX_FILE_BYTES + (1 << 20)})

    app.add_middleware(Observed)
    return app
