"""Channel endpoints: each channel posts in its own shape, one at a time or in batches.

Routes are made per adapter so each has its own body model in the OpenAPI document.
(No ``from __future__ import annotations`` here: FastAPI reads the adapter classes from the
annotations of the generated functions.)
"""
from fastapi import APIRouter, Request, Response
from pydantic import ValidationError

from fengqiao.channels import ADAPTERS, ChannelPayload
from gateway import submissions
from gateway.auth import Allowed
from gateway.bridge import BusUnavailable
from gateway.calls import RETRY_AFTER_SECONDS, replay_visible
from gateway.problems import Problem, field_path
from gateway.routes.cases import accept_one
from gateway.schemas import Accepted, BatchBody, BatchItem, BatchResult, ItemError

router = APIRouter(prefix="/api/v1/intake", tags=["intake"])


def _errors(exc: ValidationError) -> list[ItemError]:
    return [ItemError(field=field_path(tuple(e["loc"])) or "item", message=e["msg"], type=e["type"])
            for e in exc.errors()]


def _single_route(adapter: type[ChannelPayload]):
    async def submit(payload: adapter, request: Request, response: Response,
                     caller: Allowed("case.submit")) -> Accepted:
        return await accept_one(request, response, caller, payload.to_report())

    submit.__name__ = f"submit_{adapter.channel}"
    return submit


def _batch_route(adapter: type[ChannelPayload]):
    async def submit_batch(body: BatchBody, request: Request, caller: Allowed("case.submit")) -> BatchResult:
        state = request.app.state
        items: list[BatchItem] = []
        reports, positions = [], []
        for index, raw in enumerate(body.items):
            try:
                reports.append(adapter.model_validate(raw).to_report())
                positions.append(index)
                items.append(BatchItem(index=index, status="pending"))
            except ValidationError as exc:
                items.append(BatchItem(index=index, status="rejected", errors=_errors(exc)))
        outcomes = await submissions.accept_many(state.receipts, state.store, state.publisher, caller.principal,
                                                 reports, state.clock.now())
        for index, outcome in zip(positions, outcomes, strict=True):
            if isinstance(outcome, BusUnavailable):
                items[index] = BatchItem(index=index, status="unavailable",
                                         errors=[ItemError(field="", message=str(outcome), type="bus_unavailable")])
            elif outcome.replayed and not await replay_visible(request, caller, outcome):
                items[index] = BatchItem(index=index, status="duplicate")
            else:
                items[index] = BatchItem(index=index, status="replayed" if outcome.replayed else "accepted",
                                         id=outcome.case_id, number=outcome.number)
        result = BatchResult(items=items, **{
            name: sum(1 for i in items if i.status == name)
            for name in ("accepted", "replayed", "duplicate", "rejected", "unavailable")
        })
        for status in ("accepted", "replayed"):
            state.metrics.submissions.labels(adapter.channel, status).inc(getattr(result, status))
        if result.unavailable:
            raise Problem(503, "service-unavailable", "服务暂不可用，请稍后重试",
                          f"{result.unavailable} items could not be queued; resend the batch (accepted items "
                          "are not duplicated)", headers={"Retry-After": RETRY_AFTER_SECONDS},
                          **result.model_dump())
        return result

    submit_batch.__name__ = f"submit_{adapter.channel}_batch"
    return submit_batch


for _channel, _adapter in ADAPTERS.items():
    router.add_api_route(
        f"/{_channel}", _single_route(_adapter), methods=["POST"], status_code=202, response_model=Accepted,
        summary=f"提交{_adapter.title}", description=f"One {_adapter.title}; see docs/channels/{_channel}.schema.json.",
    )
    router.add_api_route(
        f"/{_channel}/batch", _batch_route(_adapter), methods=["POST"], response_model=BatchResult,
        summary=f"批量提交{_adapter.title}", description="Up to 1,000 items, answered item by item.",
    )
