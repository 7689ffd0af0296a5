"""``topicflow run module:app``: run a service until SIGINT or SIGTERM.

``topicflow docs ...`` lives in :mod:`topicflow.cli.docs` and is registered here.

Failures that are the user's to fix (a wrong import path, an unreachable
broker) end with one line on stderr and a non-zero exit code, not a traceback.
"""

from __future__ import annotations

import asyncio
import importlib
import logging
import sys
from pathlib import Path
from typing import Any

import click

from topicflow.app import App
from topicflow.cli.docs import docs
from topicflow.exceptions import TopicflowError

__all__ = ["cli", "main"]

LOG_LEVELS = ("critical", "error", "warning", "info", "debug")


@click.group()
@click.version_option(package_name="topicflow")
def cli() -> None:
    """topicflow: declarative Kafka services."""


cli.add_command(docs)


@cli.command()
@click.argument("app_path", metavar="MODULE:APP")
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
def run(app_path: str, log_level: str, app_dir: str) -> None:
    """Run the App at MODULE:APP until SIGINT or SIGTERM, then stop gracefully."""
    level = getattr(logging, log_level.upper())
    logging.basicConfig(level=level, format="%(asctime)s %(levelname)-7s %(name)s: %(message)s")
    # topicflow logs assignments and revokes itself; the client's own chatter is
    # shown from WARNING up unless debugging.
    logging.getLogger("aiokafka").setLevel(max(level, logging.WARNING))
    app = load_app(app_path, app_dir)
    try:
        asyncio.run(app.run())
    except TopicflowError as exc:
        raise click.ClickException(f"{type(exc).__name__}: {exc}") from None


def load_app(app_path: str, app_dir: str = ".") -> App:
    """Import ``module:attribute`` and check that it is an App."""
    module_name, sep, attr = app_path.partition(":")
    if not sep or not module_name or not attr:
        raise click.UsageError(f"{app_path!r} is not MODULE:APP, e.g. 'service:app'")
    sys.path.insert(0, str(Path(app_dir).resolve()))
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        if exc.name is not None and module_name.startswith(exc.name):
            raise click.ClickException(
                f"cannot import {module_name!r}: no such module under {Path(app_dir).resolve()} "
                "(use --app-dir to point at its folder)"
            ) from None
        raise
    app: Any = getattr(module, attr, None)
    if app is None:
        raise click.ClickException(f"module {module_name!r} has no attribute {attr!r}")
    if not isinstance(app, App):
        raise click.ClickException(
            f"{app_path} is a {type(app).__name__}, not a topicflow App; wrap your broker: "
            "app = App(broker)"
        )
    return app


def main() -> None:
    """Console-script entry point."""
    cli(prog_name="topicflow")
