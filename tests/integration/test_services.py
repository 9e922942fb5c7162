"""Intake, routing and search in nameko containers on the real broker and embedded stores."""
from __future__ import annotations

from nameko.standalone.rpc import ClusterRpcProxy
from nameko.testing.services import entrypoint_waiter, worker_factory

from services.intake.service import IntakeService
from services.routing.service import RoutingService
from services.search.service import SearchService
from tests.factories import case_received, report_submitted
from tests.integration.helpers import publish, service_store


def test_intake_registers_with_injected_dependencies(memory_store, clock):
    from fengqiao.bus.dependencies import Collections, Emit, LocalEmitter
    from fengqiao.directory import Directory
    from fengqiao.settings import DEFAULT_DIRECTORY
    from fengqiao.triage import model
    from services.intake import registration
    from services.intake.places import RegionResolver

    emitted = []
    service = worker_factory(
        IntakeService,
        store=Collections(memory_store, (registration.REPORTS, registration.CASES, registration.POSTINGS)),
        places=RegionResolver(Directory.load(DEFAULT_DIRECTORY)), triage_models=model(), clock=clock,
        emit=Emit(LocalEmitter(memory_store, emitted.append)),
    )
    report = report_submitted(clock.now())
    service.register_report([report.to_message()])
    service.register_report([report.to_message()])  # redelivery
    assert [e.type for e in emitted] == ["case_received", "case_received"]
    assert emitted[0].event_id == emitted[1].event_id
    assert memory_store.collection("cases").count() == 1


def test_a_report_becomes_an_assigned_case_view(runner_factory, config):
    runner = runner_factory(config, IntakeService, RoutingService, SearchService)
    runner.start()
    search = next(c for c in runner.containers if c.service_name == "search")
    report = report_submitted(config["FQ_CLOCK"].now(), region_code=None, address="奈曼旗大沁他拉镇西湖村",
                              text="来电人反映邻居家的树挡住了院子里的阳光，树根把院墙拱裂了。")
    def assigned(worker_ctx, result, exc_info):
        return any(message["type"] == "case_assigned" for message in worker_ctx.args[0])

    with entrypoint_waiter(search, "project_routing_events", callback=assigned, timeout=20):
        publish(config, report)
    with ClusterRpcProxy(config, timeout=10) as rpc:
        view = rpc.search.get_case(report.case_id)
    assert view["status"] == "assigned"
    assert {k: view["assignment"][k] for k in ("level", "unit_id", "unit_name")} == {
        "level": "village", "unit_id": "committee-150525100202", "unit_name": "西湖村人民调解委员会"}
    assert view["category"] == "neighbor" and view["risk"] == 1
    assert [e["type"] for e in view["timeline"]] == ["case_received", "case_triaged", "case_assigned"]


def test_events_wait_in_their_queue_until_the_consumer_starts(container_factory, config):
    # Published while routing is down: `bus setup` already declared its queue, so nothing is lost.
    received = case_received(config["FQ_CLOCK"].now(), region_code=None)
    publish(config, received)
    routing = container_factory(RoutingService, config)
    with entrypoint_waiter(routing, "route_received_case", timeout=20):
        routing.start()
    routings = service_store(config, "routing").collection("routings")
    assert routings.get(received.case_id)["assignment"]["unit_id"] == "triage-desk"


def test_the_same_report_twice_makes_one_case(container_factory, config):
    intake = container_factory(IntakeService, config)
    intake.start()
    report = report_submitted(config["FQ_CLOCK"].now())
    for _ in range(2):
        with entrypoint_waiter(intake, "register_report", timeout=20):
            publish(config, report)
    assert service_store(config, "intake").collection("cases").count() == 1
