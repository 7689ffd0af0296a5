"""``topicflow dlq show|replay MODULE:APP --topic T``: look at and replay a dead-letter topic.

``show`` prints each record (offset, original topic/partition/offset, attempts,
exception) one per line and commits nothing. ``replay`` publishes each record
not replayed yet to its original topic (``--to`` another), with its key, value
and user headers (the ``topicflow-*`` ones dropped), and commits its progress in
its own consumer group (``--group``, ``topicflow-dlq-replay`` by default), so a
second run replays nothing twice. Both use the app's broker, whose subscribers
do not start, and stop after ``--limit`` records or ``--idle`` seconds without one.
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Any

import click

from topicflow.cli._load import load_app
from topicflow.cli._options import APP_DIR_OPTION, FACTORY_OPTION
from topicflow.exceptions import TopicflowError
from topicflow.kafka._dlq import REPLAY_GROUP, replay, show

if TYPE_CHECKING:
    from collections.abc import Coroutine

    from topicflow.kafka import KafkaBroker

__all__ = ["dlq"]

_APP = click.argument("app_path", metavar="MODULE:APP")
_TOPIC = click.option("--topic", required=True, help="The dead-letter topic.")
_LIMIT = click.option(
    "--limit", type=click.IntRange(min=1), default=None, help="At most this many records."
)
_IDLE = click.option(
    "--idle",
    type=click.FloatRange(min=0.1),
    default=3.0,
    show_default=True,
    help="Stop once no record came for this many seconds.",
)


@click.group()
def dlq() -> None:
    """Show or replay the records of a dead-letter topic."""


@dlq.command("show")
@_APP
@_TOPIC
@_LIMIT
@_IDLE
@APP_DIR_OPTION
@FACTORY_OPTION
def show_command(
    app_path: str, topic: str, limit: int | None, idle: float, app_dir: str, factory: bool
) -> None:
    """Print the records of a dead-letter topic, one per line (commits nothing)."""
    broker = _broker(app_path, app_dir, factory)
    _run(show(broker, topic, limit=limit, idle=idle, echo=click.echo))


@dlq.command("replay")
@_APP
@_TOPIC
@click.option("--to", default=None, help="Publish to this topic instead of the original one.")
@click.option(
    "--group", default=REPLAY_GROUP, show_default=True, help="The group that keeps the progress."
)
@_LIMIT
@_IDLE
@APP_DIR_OPTION
@FACTORY_OPTION
def replay_command(
    app_path: str,
    topic: str,
    to: str | None,
    group: str,
    limit: int | None,
    idle: float,
    app_dir: str,
    factory: bool,
) -> None:
    """Publish the records not replayed yet to their original topic (or --to)."""
    broker = _broker(app_path, app_dir, factory)
    count = _run(replay(broker, topic, to=to, limit=limit, idle=idle, group=group, echo=click.echo))
    click.echo(f"{count} replayed")


def _broker(app_path: str, app_dir: str, factory: bool) -> KafkaBroker:
    app = load_app(app_path, app_dir, factory=factory)
    if not app.brokers:
        raise click.ClickException(f"{app_path} has no broker")
    return app.brokers[0]


def _run(work: Coroutine[Any, Any, int]) -> int:
    try:
        return asyncio.run(work)
    except TopicflowError as exc:
        raise click.ClickException(f"{type(exc).__name__}: {exc}") from None
