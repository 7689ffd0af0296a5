"""``topicflow docs gen`` and ``topicflow docs serve``: the app's AsyncAPI documentation.

Both read the app without starting it: no broker is needed.
"""

from __future__ import annotations

import signal
import sys
from pathlib import Path
from typing import TYPE_CHECKING, cast

import click

from topicflow.cli._load import load_app

if TYPE_CHECKING:
    from types import FrameType

    from topicflow.app import App
    from topicflow.asyncapi import AsyncAPIVersion

__all__ = ["docs"]

_APP_DIR = click.option(
    "--app-dir",
    default=".",
    show_default=True,
    type=click.Path(file_okay=False),
    help="Folder put first on sys.path before MODULE is imported.",
)


def _load(app_path: str, app_dir: str) -> App:
    return load_app(app_path, app_dir)


@click.group()
def docs() -> None:
    """AsyncAPI documentation of a service: generate it, or serve it as a web page."""


@docs.command()
@click.argument("app_path", metavar="MODULE:APP")
@click.option("--yaml", "as_yaml", is_flag=True, help="Write YAML instead of JSON.")
@click.option(
    "--out",
    type=click.Path(dir_okay=False, writable=True),
    help="Write the document to FILE instead of standard output.",
)
@click.option(
    "--asyncapi-version",
    type=click.Choice(["3.0.0", "2.6.0"]),
    help="The AsyncAPI version of the document (default: the App's "
    "specification=AsyncAPI(schema_version=...), 3.0.0 unless it says otherwise).",
)
@_APP_DIR
def gen(
    app_path: str, as_yaml: bool, out: str | None, asyncapi_version: str | None, app_dir: str
) -> None:
    """Write the AsyncAPI document of the App at MODULE:APP (JSON unless --yaml)."""
    from topicflow.asyncapi import build_document, to_json, to_yaml

    app = _load(app_path, app_dir)
    if asyncapi_version is None:
        asyncapi_version = app.schema.document_version
    document = build_document(app, cast("AsyncAPIVersion", asyncapi_version))
    text = to_yaml(document) if as_yaml else to_json(document)
    if out is None:
        click.echo(text, nl=False)
        return
    try:
        Path(out).write_text(text, encoding="utf-8")
    except OSError as exc:
        raise click.ClickException(f"cannot write {out}: {exc.strerror}") from None
    click.echo(f"wrote AsyncAPI {asyncapi_version} of {app_path} to {out}", err=True)


@docs.command()
@click.argument("app_path", metavar="MODULE:APP")
@click.option("--host", default="localhost", show_default=True, help="Address to listen on.")
@click.option(
    "--port", default=8000, show_default=True, type=click.IntRange(0, 65535), help="0: any free."
)
@_APP_DIR
def serve(app_path: str, host: str, port: int, app_dir: str) -> None:
    """Serve the documentation of the App at MODULE:APP as one self-contained web page."""
    from topicflow.asyncapi import DocsServer

    app = _load(app_path, app_dir)
    try:
        server = DocsServer(app, host, port)
    except OSError as exc:
        raise click.ClickException(f"cannot listen on {host}:{port}: {exc.strerror}") from None
    # SIGTERM ends the server as Ctrl-C does: a clean exit, not a kill.
    signal.signal(signal.SIGTERM, _interrupt)
    click.echo(f"serving the docs of {app_path} at {server.url} (Ctrl-C to stop)", err=True)
    sys.stderr.flush()
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()


def _interrupt(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt
