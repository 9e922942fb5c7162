"""The ``fengqiao`` command."""
from __future__ import annotations

import json
import logging
import sys

import click

from fengqiao.registry import SERVICES
from fengqiao.settings import Settings


def _settings() -> Settings:
    settings = Settings()
    logging.basicConfig(
        level=settings.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    return settings


@click.group()
def main() -> None:
    """Fengqiao: the platform of a municipal dispute-resolution and governance center."""


@main.command()
@click.option("--demo", is_flag=True, help="post simulated traffic, so the screen at /screen comes alive")
@click.option("--demo-rate", type=click.FloatRange(min=0.1, max=100), default=2.0, show_default=True,
              help="simulated actions a second")
def up(demo: bool, demo_rate: float) -> None:
    """Run the whole platform on this machine (Ctrl-C stops everything)."""
    from fengqiao.supervisor import run_platform

    sys.exit(run_platform(_settings(), demo_rate if demo else None))


@main.command()
@click.option("--url", required=True, help="the gateway")
@click.option("--rate", type=click.FloatRange(min=0.1, max=100), default=2.0, show_default=True)
def demo(url: str, rate: float) -> None:
    """Post simulated traffic to a gateway as its bootstrap admin's leader client (FQ_BOOTSTRAP_ADMIN_KEY)."""
    from fengqiao.demo import run

    settings = _settings()
    if not settings.bootstrap_admin_key:
        raise click.UsageError("set FQ_BOOTSTRAP_ADMIN_KEY to the gateway's bootstrap admin key")
    run(url, settings.bootstrap_admin_key, rate)


@main.command()
@click.argument("services", nargs=-1, required=True, type=click.Choice(sorted(SERVICES)))
def run(services: tuple[str, ...]) -> None:
    """Run one or more services in this process (as Kubernetes runs them, one each)."""
    import eventlet

    eventlet.monkey_patch()  # before nameko, kombu and anything else touches sockets
    from fengqiao.service_runner import run_services

    run_services(_settings(), services)


@main.group()
def bus() -> None:
    """RabbitMQ topology."""


@bus.command("setup")
def bus_setup() -> None:
    """Declare every durable queue, binding and dead-letter route. Safe to run again."""
    from fengqiao.bus.topology import declare_topology
    from fengqiao.registry import all_service_classes

    settings = _settings()
    queues = declare_topology(settings.amqp_uri, all_service_classes(), settings.delivery_limit)
    for name in queues:
        click.echo(name)
    click.echo(f"declared {len(queues)} queues", err=True)


@main.command()
def dedupe() -> None:
    """Cluster report JSON lines from stdin (channel, text, reported_at, caller_phone, address)
    with intake's matcher; writes {"index": i, "cluster": k} lines."""
    from fengqiao.directory import Directory
    from services.intake.dedupe import ReportLine, ReportLineError, cluster_lines

    settings = _settings()
    try:
        lines = [ReportLine.parse(i, json.loads(raw)) for i, raw in enumerate(sys.stdin) if raw.strip()]
    except (ValueError, ReportLineError) as exc:
        raise click.ClickException(str(exc)) from exc
    for index, cluster in enumerate(cluster_lines(lines, Directory.load(settings.directory_file))):
        click.echo(json.dumps({"index": index, "cluster": cluster}))


@main.command("import")
@click.argument("file", type=click.Path(exists=True, dir_okay=False))
@click.option("--channel", help="channel of rows that name none (hotline_12345, petition, …)")
@click.option("--gateway", "gateway_url", envvar="FQ_GATEWAY_URL", help="default: this machine's gateway")
@click.option("--api-key", envvar=["FQ_API_KEY", "FQ_BOOTSTRAP_ADMIN_KEY"], required=True,
              help="an API key (FQ_API_KEY)")
def import_ledger(file: str, channel: str | None, gateway_url: str | None, api_key: str) -> None:
    """Import a ledger (.xlsx, .csv, .jsonl) through the running platform, with a progress bar."""
    import time
    from pathlib import Path

    import httpx

    settings = _settings()
    base = gateway_url or f"http://{settings.gateway_host}:{settings.gateway_port}"
    with httpx.Client(base_url=base, headers={"X-API-Key": api_key}, timeout=300) as http:
        path = Path(file)
        response = http.post("/api/v1/imports", files={"file": (path.name, path.read_bytes())},
                             data={"channel": channel} if channel else {})
        if response.status_code != 202:
            raise click.ClickException(f"{response.status_code}: {response.json().get('detail', response.text)}")
        job = response.json()
        with click.progressbar(length=job["rows"], label=f"导入 {path.name}") as bar:
            while job["state"] != "done":
                time.sleep(0.5)  # polling the job's progress for the bar
                previous = job["done"]
                job = http.get(f"/api/v1/imports/{job['id']}").json()
                bar.update(max(0, job["done"] - previous))
    click.echo(f"rows {job['rows']}: created {job['created']}, merged {job['merged']}, "
               f"already imported {job['replayed']}, rejected {job['rejected']}, empty {job['empty_rows']}")
    for error in job["errors"][:20]:
        click.echo(f"  row {error['row']} {error['column']}: {error['reason']}", err=True)
    if job["error_count"] > 20:
        click.echo(f"  … {job['error_count'] - 20} more errors: GET /api/v1/imports/{job['id']}", err=True)


def _read_side(settings: Settings):
    from fengqiao.store import open_store
    from services.search import counters, projection

    store = open_store(settings.resolved_store_uri, "search")
    return store, projection.CASE_VIEWS.open(store), counters.COUNTERS.open(store)


@main.command()
def reindex() -> None:
    """Rebuild the search index from the case views; search answers from the old index until
    the new one is complete, then switches to it."""
    from fengqiao.search import open_index
    from services.search.readmodel import reindex as rebuild

    settings = _settings()
    store, views, _ = _read_side(settings)
    index = open_index(settings.resolved_search_uri)
    try:
        with click.progressbar(length=views.count(), label="重建检索索引") as bar:
            done = rebuild(views, index, lambda done, total: bar.update(done - bar.pos))
    finally:
        index.close()
        store.close()
    click.echo(f"indexed {done} cases", err=True)


@main.command()
@click.option("--check", is_flag=True, help="only compare: print each counter that differs from a fresh count "
              "as a JSON line and exit 1 if any does; writes nothing")
def recount(check: bool) -> None:
    """Count the screen's figures afresh from the case views (a repair; stop the search service first)."""
    from services.search.readmodel import drift
    from services.search.readmodel import recount as count_again

    store, views, screen = _read_side(_settings())
    try:
        if check:
            found = drift(views, screen)
            for doc_id, keys in found.items():
                click.echo(json.dumps({"counter": doc_id, "held_counted": keys}, ensure_ascii=False))
            click.echo(f"{len(found)} counter documents differ from a fresh count", err=True)
            sys.exit(1 if found else 0)
        regions = count_again(views, screen)
    finally:
        store.close()
    click.echo(f"recounted {regions} regions", err=True)


@main.command("triage")
@click.option("--batch", default=1000, show_default=True, help="cases classified together")
def triage_cases(batch: int) -> None:
    """Triage JSON lines {"id","channel","text"} from stdin; writes {"id","category","risk","reasons",
    "confidence","candidates"} (candidates: the top three categories when the category is uncertain)."""
    from fengqiao.triage import Signals, triage_many

    def flush(rows: list[dict]) -> None:
        results = triage_many([(r["text"], Signals(channel=r.get("channel") or "hotline_12345")) for r in rows])
        for row, result in zip(rows, results, strict=True):
            click.echo(json.dumps({"id": row.get("id"), "category": result.category, "risk": result.risk,
                                   "reasons": result.reasons, "confidence": result.confidence,
                                   "candidates": [list(c) for c in result.candidates]}, ensure_ascii=False))

    pending: list[dict] = []
    for number, line in enumerate(sys.stdin, start=1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except ValueError as exc:
            raise click.ClickException(f"line {number}: not JSON ({exc})") from exc
        if not isinstance(row, dict) or not isinstance(row.get("text"), str) or not row["text"].strip():
            raise click.ClickException(f"line {number}: needs an object with a non-blank text")
        pending.append(row)
        if len(pending) >= batch:
            flush(pending)
            pending = []
    if pending:
        flush(pending)


def _accounts(work):
    """Run ``work(state)`` against the gateway's store: its clients, staff, policy and secret."""
    import asyncio
    from types import SimpleNamespace

    from fengqiao.access import Policy
    from fengqiao.store.aio import open_async_store
    from gateway import accounts, audit

    settings = _settings()

    async def run():
        store = open_async_store(settings.resolved_store_uri, "gateway")
        try:
            state = SimpleNamespace(
                clients=await accounts.API_CLIENTS.open_async(store), staff=await accounts.STAFF.open_async(store),
                audit=await audit.AUDIT.open_async(store), policy=Policy.load(settings.access_policy_file),
                keys=await accounts.auth_keys(await accounts.SECRETS.open_async(store), settings.auth_secret))
            return await work(state)
        except (accounts.AccountError, accounts.AccountNotFound) as exc:
            raise click.ClickException(str(exc)) from exc
        finally:
            await store.close()

    return asyncio.run(run())


def _now():
    from fengqiao.clock import SystemClock

    return SystemClock().now()


def _scope_text(account: dict) -> str:
    regions = ",".join(account.get("jurisdiction") or []) or "全部"
    units = ",".join(account.get("units") or [])
    return f"regions={regions}" + (f" units={units}" if units else "")


ROLE_HELP = "a role from the access policy (docs/access.md); repeat for several; pii_reader is a grant on top"


@main.group()
def clients() -> None:
    """API clients of the gateway (systems calling with X-API-Key)."""


@clients.command("add")
@click.argument("name")
@click.option("--role", "roles", multiple=True, required=True, help=ROLE_HELP)
@click.option("--key", help="use this secret (32+ random characters) instead of a generated one")
@click.option("--region", "regions", multiple=True,
              help="limit the client to this region's subtree (repeat for several); none: everywhere")
@click.option("--unit", "units", multiple=True, help="limit the client to cases of these units (repeat)")
def clients_add(name: str, roles: tuple[str, ...], key: str | None, regions: tuple[str, ...],
                units: tuple[str, ...]) -> None:
    """Create an API client; its key is printed last, once (only a keyed digest is stored)."""
    from gateway import accounts

    async def work(state):
        return await accounts.add_client(state.clients, state.policy, state.keys, name, roles, regions, units,
                                         key=key, now=_now())

    client, secret = _accounts(work)
    click.echo(f"client {client['id']}: {name} roles={','.join(client['roles'])} {_scope_text(client)}", err=True)
    click.echo(secret)


@clients.command("list")
def clients_list() -> None:
    """Every API client with its roles, jurisdiction and whether it is active."""
    async def work(state):
        return (await state.clients.find({}, limit=10_000)).items

    for client in _accounts(work):
        active = "active" if client.get("active", True) else "disabled"
        click.echo(f"{client['id']}  {client['name']}  roles={','.join(client['roles'])}  {_scope_text(client)}  "
                   f"{active}")


@clients.command("disable")
@click.argument("client_id")
def clients_disable(client_id: str) -> None:
    """Disable a client: its key stops working at the next request."""
    from gateway import accounts

    async def work(state):
        return await accounts.set_client_active(state.clients, client_id, False)

    _accounts(work)
    click.echo(f"disabled {client_id}", err=True)


@clients.command("rotate")
@click.argument("client_id")
def clients_rotate(client_id: str) -> None:
    """Give a client a new key (printed last); the old key stops working at once."""
    from gateway import accounts

    async def work(state):
        return await accounts.rotate_client(state.clients, state.keys, client_id)

    _, secret = _accounts(work)
    click.echo(secret)


@main.group()
def staff() -> None:
    """Staff accounts: people who sign in with a password (POST /api/v1/auth/token)."""


@staff.command("add")
@click.argument("name")
@click.option("--username", required=True, help="the login name")
@click.option("--role", "roles", multiple=True, required=True, help=ROLE_HELP)
@click.option("--region", "regions", multiple=True, help="region subtrees of the jurisdiction (repeat)")
@click.option("--unit", "units", multiple=True, help="units whose cases this person works (repeat)")
@click.password_option(envvar="FQ_STAFF_PASSWORD", help="the password (asked for when not given)")
def staff_add(name: str, username: str, roles: tuple[str, ...], regions: tuple[str, ...], units: tuple[str, ...],
              password: str) -> None:
    """Create a staff account."""
    from gateway import accounts

    async def work(state):
        return await accounts.add_staff(state.staff, state.policy, username, name, password, roles, regions, units,
                                        now=_now())

    member = _accounts(work)
    click.echo(f"staff {member['id']}: {name} ({username}) roles={','.join(member['roles'])} {_scope_text(member)}")


@staff.command("list")
def staff_list() -> None:
    async def work(state):
        return (await state.staff.find({}, limit=10_000)).items

    for member in _accounts(work):
        active = "active" if member.get("active", True) else "disabled"
        click.echo(f"{member['id']}  {member['username']}  {member['name']}  roles={','.join(member['roles'])}  "
                   f"{_scope_text(member)}  {active}")


@staff.command("set")
@click.argument("username")
@click.option("--role", "roles", multiple=True, help="replace the roles (repeat for several)")
@click.option("--disable", "active", flag_value=False, default=None, help="disable the account")
@click.option("--enable", "active", flag_value=True, help="enable it again")
def staff_set(username: str, roles: tuple[str, ...], active: bool | None) -> None:
    """Change a staff member's roles or disable the account; it takes effect at the next request."""
    from gateway import accounts

    async def work(state):
        member = await state.staff.find_one({"username": username})
        if member is None:
            raise accounts.AccountNotFound(f"no staff member {username!r}")
        return await accounts.change_staff(state.staff, state.policy, member["id"], roles=roles or None,
                                           active=active)

    member = _accounts(work)
    state = "active" if member.get("active", True) else "disabled"
    click.echo(f"{username}: roles={','.join(member['roles'])} {state}")


@main.group()
def audit() -> None:
    """The audit log (append-only)."""


@audit.command("export")
@click.option("--since", help="ISO time, inclusive")
@click.option("--until", help="ISO time, exclusive")
def audit_export(since: str | None, until: str | None) -> None:
    """Write audit records as JSON lines, oldest first (times without a zone are Beijing time).
    The export is itself recorded in the log."""
    import getpass
    from datetime import datetime

    from fengqiao.clock import isoformat, local_time
    from fengqiao.ids import new_id
    from fengqiao.store import Order

    try:
        bounds = {op: isoformat(local_time(datetime.fromisoformat(value)))
                  for op, value in (("$gte", since), ("$lt", until)) if value}
    except ValueError as exc:
        raise click.BadParameter(f"--since/--until: {exc}") from exc
    where = {"at": bounds} if bounds else {}

    async def work(state):
        records, cursor = [], None
        while True:
            page = await state.audit.find(where, order=Order("at"), limit=1000, after=cursor)
            records += page.items
            cursor = page.next_cursor
            if cursor is None:
                break
        await state.audit.insert({
            "id": new_id(), "at": isoformat(_now()), "actor_kind": "operator", "actor_id": None,
            "actor_name": getpass.getuser(), "actor_login": getpass.getuser(), "roles": [],
            "permission": "audit.read", "granted": True, "unmasked": True, "method": "CLI",
            "route": "fengqiao audit export", "path": None, "status": 0, "case_id": None, "resource": None,
            "client_address": None, "reason": None, "query": f"since={since} until={until}", "case_ids": None})
        return records

    for record in _accounts(work):
        click.echo(json.dumps({k: v for k, v in record.items() if k != "version"}, ensure_ascii=False))


@main.group()
def agencies() -> None:
    """Partner agencies reading public events on RabbitMQ (fengqiao.public)."""


@agencies.command("add")
@click.argument("name")
@click.option("--type", "kind", required=True, help="police, court, petition, hr, housing, women or other")
@click.option("--region", "regions", multiple=True, help="region subtrees whose cases it sees (repeat); none: all")
@click.option("--category", "categories", multiple=True,
              help="categories it sees (repeat); none: its type's defaults, or all")
@click.option("--event", "event_types", multiple=True, help="public event types (case.assigned …); none: all")
def agencies_add(name: str, kind: str, regions: tuple[str, ...], categories: tuple[str, ...],
                 event_types: tuple[str, ...]) -> None:
    """Create the agency's RabbitMQ user and its queue; prints the AMQP URI it connects with last."""
    from fengqiao.bus.agencies import AgencyRefused, add_agency, management_url
    from fengqiao.directory import Directory

    settings = _settings()
    try:
        access = add_agency(settings.amqp_uri, management_url(settings.amqp_uri, settings.rabbit_management_url),
                            Directory.load(settings.directory_file), name, kind, list(regions), list(categories),
                            list(event_types))
    except AgencyRefused as exc:
        raise click.ClickException(str(exc)) from exc
    click.echo(f"agency {name}: user {access.user}, queue {access.queue}, {len(access.bindings)} bindings "
               f"({', '.join(access.bindings[:4])}{' …' if len(access.bindings) > 4 else ''})", err=True)
    click.echo(access.amqp_uri)


@main.group()
def access() -> None:
    """The access policy."""


@access.command("table")
def access_table() -> None:
    """The role × permission table (docs/access.md's table), from the policy file."""
    from fengqiao.access import Policy

    click.echo(Policy.load(_settings().access_policy_file).table(), nl=False)


@main.group()
def dlq() -> None:
    """The dead-letter queue: messages that failed too often or could never be handled."""


@dlq.command("list")
@click.option("--json", "as_json", is_flag=True, help="one JSON object per line")
def dlq_list(as_json: bool) -> None:
    """Show dead letters without removing them."""
    from fengqiao.bus.dlq import list_dead_letters

    letters = list_dead_letters(_settings().amqp_uri)
    for letter in letters:
        if as_json:
            click.echo(json.dumps(letter.__dict__, ensure_ascii=False))
        else:
            click.echo(f"{letter.event_id or '-'}  {letter.event_type or '-'}  case={letter.case_id or '-'}  "
                       f"from={letter.origin_queue}  reason={letter.reason}  deaths={letter.deaths}")
    click.echo(f"{len(letters)} dead letters", err=True)


@dlq.command("replay")
@click.argument("event_ids", nargs=-1)
@click.option("--all", "replay_all", is_flag=True, help="replay every dead letter")
def dlq_replay(event_ids: tuple[str, ...], replay_all: bool) -> None:
    """Send dead letters back to the queue they came from (by event id, or --all)."""
    from fengqiao.bus.dlq import replay_dead_letters

    if not event_ids and not replay_all:
        raise click.UsageError("name the event ids to replay, or pass --all")
    replayed = replay_dead_letters(_settings().amqp_uri, None if replay_all else set(event_ids))
    for letter in replayed:
        click.echo(f"replayed {letter.event_id or '-'} to {letter.origin_queue}")
    click.echo(f"{len(replayed)} replayed", err=True)


if __name__ == "__main__":
    main()
