"""``topicflow run module:app``: run a service until SIGINT or SIGTERM.

``topicflow docs ...`` lives in :mod:`topicflow.cli.docs` and is registered here.

Failures that are the user's to fix (a wrong import path, an unreachable
broker) end with one line on stderr and a non-zero exit code, not a traceback.
"""

from __future__ import annotations

import asyncio
import logging
import sys
from pathlib import Path
from typing import Any

import click

from topicflow.cli._load import load_app
from topicflow.cli.docs import docs
from topicflow.exceptions import TopicflowError

__all__ = ["cli", "load_app", "main"]

LOG_LEVELS = ("critical", "error", "warning", "info", "debug")


@click.group()
@click.version_option(package_name="topicflow")
def cli() -> None:
    """topicflow: declarative Kafka services."""


cli.add_command(docs)


@cli.command(context_settings={"ignore_unknown_options": True, "allow_extra_args": True})
@click.argument("app_path", metavar="MODULE:APP")
@click.option(
    "--workers",
    type=click.IntRange(min=1),
    default=1,
    show_default=True,
    help="Processes to run; each joins the same consumer groups.",
)
@click.option("--reload", is_flag=True, help="Restart when a .py file under --app-dir changes.")
@click.option("--factory", is_flag=True, help="MODULE:APP is a function that returns the App.")
@click.option(
    "--log-level",
    type=click.Choice(LOG_LEVELS, case_sensitive=False),
    default="info",
    show_default=True,
    help="Level of topicflow's and the service's log lines.",
)
@click.option(
    "--app-dir",
    default=".",
    show_default=True,
    type=click.Path(file_okay=False),
    help="Folder put first on sys.path before MODULE is imported.",
)
@click.option(
    "--wait-for-broker",
    type=click.FloatRange(min=0),
    metavar="SECONDS",
    help="Wait up to SECONDS for Kafka to answer at start (default: the App's "
    "wait_for_broker; 0: exit 1 at once when it is unreachable).",
)
@click.pass_context
def run(
    ctx: click.Context,
    app_path: str,
    workers: int,
    reload: bool,
    factory: bool,
    log_level: str,
    app_dir: str,
    wait_for_broker: float | None,
) -> None:
    """Run the App at MODULE:APP until SIGINT or SIGTERM, then stop gracefully.

    Extra options (--name value, --flag) go to the on_startup hooks as keyword
    arguments.
    """
    options = parse_extra_options(ctx.args)
    if workers > 1 and reload:
        raise click.UsageError(
            "--reload and --workers cannot be combined: reloading restarts one process "
            "in place; run several workers without --reload"
        )
    if workers > 1 or reload:
        from topicflow.cli._supervise import run_reloading, run_workers

        command = worker_command(app_path, factory, log_level, app_dir, ctx.args, wait_for_broker)
        _configure_logging(log_level)
        if reload:
            run_reloading(command, Path(app_dir))
        else:
            sys.exit(run_workers(command, workers))
        return
    _configure_logging(log_level)
    app = load_app(app_path, app_dir, factory=factory)
    if wait_for_broker is not None:
        app.wait_for_broker = wait_for_broker
    try:
        asyncio.run(app.run(**options))
    except TopicflowError as exc:
        raise click.ClickException(f"{type(exc).__name__}: {exc}") from None


def _configure_logging(log_level: str) -> None:
    level = getattr(logging, log_level.upper())
    logging.basicConfig(
        level=level, format="%(asctime)s %(levelname)-7s [%(process)d] %(name)s: %(message)s"
    )
    # topicflow logs assignments and revokes itself; the client's own chatter is
    # shown from WARNING up unless debugging.
    logging.getLogger("aiokafka").setLevel(max(level, logging.WARNING))


def worker_command(
    app_path: str,
    factory: bool,
    log_level: str,
    app_dir: str,
    extra: list[str],
    wait_for_broker: float | None = None,
) -> list[str]:
    """The command line of one worker process (a plain ``topicflow run``)."""
    command = [sys.executable, "-m", "topicflow", "run", app_path]
    command += ["--log-level", log_level, "--app-dir", app_dir]
    if factory:
        command.append("--factory")
    if wait_for_broker is not None:
        command += ["--wait-for-broker", str(wait_for_broker)]
    return command + list(extra)


def parse_extra_options(args: list[str]) -> dict[str, Any]:
    """``--name value``, ``--name=value`` and ``--flag`` pairs as keyword arguments."""
    options: dict[str, Any] = {}
    rest = list(args)
    while rest:
        arg = rest.pop(0)
        if not arg.startswith("--") or arg == "--":
            raise click.UsageError(
                f"unexpected argument {arg!r}; extra options look like --name value"
            )
        name, eq, value = arg[2:].partition("=")
        key = name.replace("-", "_")
        if not key.isidentifier():
            raise click.UsageError(f"option {arg!r} is not a valid name")
        if eq:
            options[key] = value
        elif rest and not rest[0].startswith("--"):
            options[key] = rest.pop(0)
        else:
            options[key] = True
    return options


def main() -> None:
    """Console-script entry point."""
    cli(prog_name="topicflow")
