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

import click

from topicflow.cli._load import load_app
from topicflow.cli._options import (
    APP_DIR_OPTION,
    FACTORY_OPTION,
    LOG_LEVELS,
    level_of,
    load_log_config,
    loop_factory,
    parse_extra_options,
)
from topicflow.cli.dlq import dlq
from topicflow.cli.docs import docs
from topicflow.cli.publish import publish
from topicflow.exceptions import TopicflowError

__all__ = ["cli", "load_app", "main", "parse_extra_options"]


@click.group()
@click.version_option(None, "-v", "--version", package_name="topicflow")
def cli() -> None:
    """topicflow: declarative Kafka services."""


cli.add_command(dlq)
cli.add_command(docs)
cli.add_command(publish)


@cli.command(context_settings={"ignore_unknown_options": True, "allow_extra_args": True})
@click.argument("app_path", metavar="MODULE:APP")
@click.option(
    "-w",
    "--workers",
    type=click.IntRange(min=1),
    default=1,
    show_default=True,
    envvar="TOPICFLOW_WORKERS",
    help="Processes to run; each joins the same consumer groups.",
)
@click.option(
    "-r", "--reload", is_flag=True, help="Restart when a .py file under --app-dir changes."
)
@click.option(
    "--extension",
    "--ext",
    "--reload-extension",
    "--reload-ext",
    "extensions",
    multiple=True,
    metavar="EXT",
    help="With --reload: restart on changes to files with this extension too (repeatable).",
)
@FACTORY_OPTION
@click.option(
    "-l",
    "--log-level",
    type=click.Choice(list(LOG_LEVELS), case_sensitive=False),
    default="info",
    show_default=True,
    envvar="TOPICFLOW_LOG_LEVEL",
    help="Level of topicflow's and the service's log lines.",
)
@click.option(
    "--log-config",
    type=click.Path(dir_okay=False, path_type=Path),
    metavar="FILE",
    help="Configure logging from FILE, a logging dictConfig in .json, .yaml/.yml or .toml.",
)
@APP_DIR_OPTION
@click.option(
    "--loop",
    default="auto",
    show_default=True,
    envvar="TOPICFLOW_LOOP",
    help="Event loop factory as MODULE:FACTORY (e.g. uvloop:new_event_loop); auto: asyncio's.",
)
@click.option(
    "--wait-for-broker",
    type=click.FloatRange(min=0),
    metavar="SECONDS",
    help="Wait up to SECONDS for Kafka to answer at start (default: the App's "
    "wait_for_broker; 0: exit 1 at once when it is unreachable).",
)
@click.option("--worker-id", type=int, hidden=True)
@click.pass_context
def run(
    ctx: click.Context,
    app_path: str,
    workers: int,
    reload: bool,
    extensions: tuple[str, ...],
    factory: bool,
    log_level: str,
    log_config: Path | None,
    app_dir: str,
    loop: str,
    wait_for_broker: float | None,
    worker_id: int | None,
) -> None:
    """Run the App at MODULE:APP until SIGINT or SIGTERM, then stop gracefully.

    Extra options (--name value, --flag, --no-flag) go to the on_startup hooks and
    lifespan as keyword arguments, with worker_id (None, or 0 to N-1 with --workers).
    """
    options = {"worker_id": worker_id, **parse_extra_options(ctx.args)}
    if workers > 1 and reload:
        raise click.UsageError(
            "--reload and --workers cannot be combined: reloading restarts one process "
            "in place; run several workers without --reload"
        )
    if extensions and not reload:
        raise click.UsageError("--extension has no effect without --reload; add --reload")
    if workers > 1 or reload:
        from topicflow.cli._supervise import run_reloading, run_workers

        def command(worker: int | None = None) -> list[str]:
            return worker_command(
                app_path,
                factory,
                log_level,
                app_dir,
                ctx.args,
                wait_for_broker,
                log_config=log_config,
                loop=loop,
                worker_id=worker,
            )

        _configure_logging(log_level, log_config)
        if reload:
            run_reloading(command(), Path(app_dir), extensions)
        else:
            sys.exit(run_workers([command(worker) for worker in range(workers)]))
        return
    _configure_logging(log_level, log_config)
    make_loop = loop_factory(loop)
    app = load_app(app_path, app_dir, factory=factory)
    if wait_for_broker is not None:
        app.wait_for_broker = wait_for_broker
    try:
        with asyncio.Runner(loop_factory=make_loop) as runner:
            runner.run(app.run(**options))
    except TopicflowError as exc:
        raise click.ClickException(f"{type(exc).__name__}: {exc}") from None


def _configure_logging(log_level: str, log_config: Path | None = None) -> None:
    level = level_of(log_level)
    logging.basicConfig(
        level=level, format="%(asctime)s %(levelname)-7s [%(process)d] %(name)s: %(message)s"
    )
    # topicflow logs assignments and revokes itself; the client's own chatter is
    # shown from WARNING up unless debugging.
    logging.getLogger("aiokafka").setLevel(max(level, logging.WARNING))
    if log_config is not None:
        load_log_config(log_config)


def worker_command(
    app_path: str,
    factory: bool,
    log_level: str,
    app_dir: str,
    extra: list[str],
    wait_for_broker: float | None = None,
    *,
    log_config: Path | None = None,
    loop: str = "auto",
    worker_id: int | None = None,
) -> list[str]:
    """The command line of one worker process (a plain ``topicflow run``)."""
    command = [sys.executable, "-m", "topicflow", "run", app_path, "--workers", "1"]
    # Every option is explicit: a TOPICFLOW_WORKERS=N the parent was started with
    # is in the child's environment too, and must not make each worker start N more.
    command += ["--log-level", log_level, "--app-dir", app_dir, "--loop", loop]
    if factory:
        command.append("--factory")
    if wait_for_broker is not None:
        command += ["--wait-for-broker", str(wait_for_broker)]
    if log_config is not None:
        command += ["--log-config", str(log_config)]
    if worker_id is not None:
        command += ["--worker-id", str(worker_id)]
    return command + list(extra)


def main() -> None:
    """Console-script entry point."""
    cli(prog_name="topicflow")
