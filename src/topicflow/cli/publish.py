"""``topicflow publish MODULE:APP MESSAGE --topic T``: send one message with the app's broker.

As FastStream's command: the message is JSON when it parses as JSON, else text;
the extra options (``--topic``, ``--key``, ``--partition``, ``--correlation-id``,
``--reply-to``, ``--timeout``) go to ``broker.publish()``, or to
``broker.request()`` with ``--rpc``, which prints the reply's body. Only the
producer is connected: the app's subscribers do not start.
"""

from __future__ import annotations

import asyncio
import json
from typing import TYPE_CHECKING, Any

import click
from pydantic import TypeAdapter, ValidationError

from topicflow.cli._load import load_app
from topicflow.cli._options import parse_extra_options
from topicflow.exceptions import TopicflowError
from topicflow.kafka import PublishOptions, RequestOptions

if TYPE_CHECKING:
    from topicflow.kafka import KafkaBroker

__all__ = ["publish"]


@click.command(context_settings={"ignore_unknown_options": True, "allow_extra_args": True})
@click.argument("app_path", metavar="MODULE:APP")
@click.argument("message")
@click.option("--rpc", is_flag=True, help="Send it as a request; print the reply's body.")
@click.option(
    "--app-dir",
    default=".",
    show_default=True,
    type=click.Path(file_okay=False),
    envvar="TOPICFLOW_APP_DIR",
    help="Folder put first on sys.path before MODULE is imported.",
)
@click.option(
    "-f", "--factory", is_flag=True, help="MODULE:APP is a function that returns the App."
)
@click.pass_context
def publish(
    ctx: click.Context, app_path: str, message: str, rpc: bool, app_dir: str, factory: bool
) -> None:
    """Publish MESSAGE (JSON, else text) with the broker of the App at MODULE:APP.

    Extra options: --topic T (required), --key, --partition, --timestamp-ms,
    --correlation-id, --reply-to (not with --rpc), --timeout SECONDS (5 by default).
    """
    extra = parse_extra_options(ctx.args)
    topic = extra.pop("topic", None)
    if not isinstance(topic, str):
        raise click.UsageError("name the topic: --topic TOPIC")
    try:
        timeout = float(extra.pop("timeout", 5.0))
    except (TypeError, ValueError):
        raise click.BadParameter("--timeout takes seconds, e.g. 5") from None
    options = _options(extra, rpc=rpc)
    app = load_app(app_path, app_dir, factory=factory)
    if not app.brokers:
        raise click.ClickException(f"{app_path} has no broker to publish with")
    body = _body(message)
    try:
        reply = asyncio.run(_send(app.brokers[0], body, topic, rpc, timeout, options))
    except TopicflowError as exc:
        raise click.ClickException(f"{type(exc).__name__}: {exc}") from None
    except TimeoutError:
        raise click.ClickException(
            f"no confirmation from Kafka within --timeout {timeout:g} s"
        ) from None
    if reply is not None:
        click.echo(reply)


#: The publish options a command line can give, and the type each is read as.
_CLI_OPTIONS: dict[str, type] = {
    "key": str,
    "partition": int,
    "timestamp_ms": int,
    "correlation_id": str,
    "reply_to": str,
}


def _options(extra: dict[str, Any], *, rpc: bool) -> dict[str, Any]:
    """``extra`` checked against the options of ``publish()`` (``request()`` with ``rpc``)."""
    allowed = RequestOptions.__annotations__ if rpc else PublishOptions.__annotations__
    known = {name: kind for name, kind in _CLI_OPTIONS.items() if name in allowed}
    options: dict[str, Any] = {}
    for name, value in extra.items():
        flag = f"--{name.replace('_', '-')}"
        if name not in known:
            names = ", ".join(f"--{key.replace('_', '-')}" for key in ("topic", *known, "timeout"))
            raise click.UsageError(f"{flag} is not an option of this publish ({names})")
        try:
            options[name] = TypeAdapter(known[name]).validate_python(value)
        except ValidationError as exc:
            raise click.UsageError(f"{flag} {value!r}: {exc.errors()[0]['msg']}") from None
    return options


def _body(message: str) -> Any:
    try:
        return json.loads(message)
    except ValueError:
        return message


async def _send(
    broker: KafkaBroker, body: Any, topic: str, rpc: bool, timeout: float, options: Any
) -> str | None:
    async with broker:
        if rpc:
            reply = await broker.request(body, topic, timeout=timeout, **options)
            return bytes(reply.body).decode("utf-8", "replace")
        async with asyncio.timeout(timeout):
            await broker.publish(body, topic, **options)
        return None
