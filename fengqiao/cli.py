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
def up() -> None:
    """Run the whole platform on this machine (Ctrl-C stops everything)."""
    from fengqiao.supervisor import run_platform

    sys.exit(run_platform(_settings()))


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
