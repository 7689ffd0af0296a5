"""``topicflow docs gen`` and ``topicflow docs serve``: the app's AsyncAPI documentation.

Both read the app without starting it: no broker is needed. The options are
FastStream's (``-y/--yaml``, ``-o/--out``, ``-d/--debug``, ``-f/--factory``,
``--host``, ``--port``, ``-r/--reload``), plus ``--asyncapi-version``.
"""

from __future__ import annotations

import json
import signal
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

import click

from topicflow.cli._load import load_app
from topicflow.cli._options import APP_DIR_OPTION, FACTORY_OPTION

if TYPE_CHECKING:
    from types import FrameType

    from topicflow.app import App
    from topicflow.asyncapi import AsyncAPIVersion

__all__ = ["docs"]


@click.group()
def docs() -> None:
    """AsyncAPI documentation of a service: generate it, or serve it as a web page."""


@docs.command()
@click.argument("app_path", metavar="MODULE:APP")
@click.option("-y", "--yaml", "as_yaml", is_flag=True, help="Write YAML instead of JSON.")
@click.option(
    "-o",
    "--out",
    type=click.Path(dir_okay=False, allow_dash=True),
    help="Write the document to FILE ('-': standard output).  [default: asyncapi.json, "
    "or asyncapi.yaml with --yaml]",
)
@click.option("-d", "--debug", is_flag=True, help="Print the document instead of writing a file.")
@click.option(
    "--asyncapi-version",
    type=click.Choice(["3.0.0", "2.6.0"]),
    help="The AsyncAPI version of the document (default: the App's "
    "specification=AsyncAPI(schema_version=...), 3.0.0 unless it says otherwise).",
)
@APP_DIR_OPTION
@FACTORY_OPTION
def gen(
    app_path: str,
    as_yaml: bool,
    out: str | None,
    debug: bool,
    asyncapi_version: str | None,
    app_dir: str,
    factory: bool,
) -> None:
    """Write the AsyncAPI document of the App at MODULE:APP (JSON unless --yaml)."""
    from topicflow.asyncapi import build_document, to_json, to_yaml

    app = load_app(app_path, app_dir, factory=factory)
    if asyncapi_version is None:
        asyncapi_version = app.schema.document_version
    document = build_document(app, cast("AsyncAPIVersion", asyncapi_version))
    text = to_yaml(document) if as_yaml else to_json(document)
    if debug or out == "-":
        click.echo(text, nl=False)
        return
    target = out or ("asyncapi.yaml" if as_yaml else "asyncapi.json")
    try:
        Path(target).write_text(text, encoding="utf-8")
    except OSError as exc:
        raise click.ClickException(f"cannot write {target}: {exc.strerror}") from None
    click.echo(f"wrote AsyncAPI {asyncapi_version} of {app_path} to {target}", err=True)


@docs.command()
@click.argument("source", metavar="MODULE:APP|FILE")
@click.option("--host", default="localhost", show_default=True, help="Address to listen on.")
@click.option(
    "--port", default=8000, show_default=True, type=click.IntRange(0, 65535), help="0: any free."
)
@APP_DIR_OPTION
@FACTORY_OPTION
@click.option(
    "-r", "--reload", is_flag=True, help="Serve again when the app's .py files (or FILE) change."
)
@click.option(
    "--extension",
    "--ext",
    "--reload-extension",
    "--reload-ext",
    "extensions",
    multiple=True,
    metavar="EXT",
    help="With --reload: serve again on changes to files with this extension too.",
)
def serve(
    source: str,
    host: str,
    port: int,
    app_dir: str,
    factory: bool,
    reload: bool,
    extensions: tuple[str, ...],
) -> None:
    """Serve the documentation of the App at MODULE:APP, or of an AsyncAPI FILE
    (.json, .yaml or .yml), as one self-contained web page."""
    if extensions and not reload:
        raise click.UsageError("--extension has no effect without --reload; add --reload")
    is_app = ":" in source
    document = None if is_app else _read_document(Path(source))
    if reload:
        from topicflow.cli._supervise import run_reloading

        command = [sys.executable, "-m", "topicflow", "docs", "serve", source]
        command += ["--host", host, "--port", str(port), "--app-dir", app_dir]
        command += ["--factory"] if factory else []
        watched = Path(app_dir) if is_app else Path(source).resolve().parent
        suffixes = extensions if is_app else (*extensions, Path(source).suffix)
        run_reloading(command, watched, suffixes)
        return
    from topicflow.asyncapi import DocsServer

    what: App | dict[str, Any] = (
        load_app(source, app_dir, factory=factory) if document is None else document
    )
    try:
        server = DocsServer(what, host, port)
    except OSError as exc:
        raise click.ClickException(f"cannot listen on {host}:{port}: {exc.strerror}") from None
    # SIGTERM ends the server as Ctrl-C does: a clean exit, not a kill.
    signal.signal(signal.SIGTERM, _interrupt)
    click.echo(f"serving the docs of {source} at {server.url} (Ctrl-C to stop)", err=True)
    sys.stderr.flush()
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()


def _read_document(path: Path) -> dict[str, Any]:
    """An AsyncAPI 3.0.0 document from a .json or .yaml file, or a one-line error."""
    if path.suffix not in (".json", ".yaml", ".yml"):
        raise click.BadParameter(
            f"{str(path)!r} is neither MODULE:APP nor a .json, .yaml or .yml file",
            param_hint="'MODULE:APP|FILE'",
        )
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise click.ClickException(f"cannot read {path}: {exc.strerror}") from None
    document: Any
    if path.suffix == ".json":
        try:
            document = json.loads(text)
        except ValueError as exc:
            raise click.ClickException(f"{path} is not valid JSON: {exc}") from None
    else:
        import yaml

        try:
            document = yaml.safe_load(text)
        except yaml.YAMLError as exc:
            flat = " ".join(str(exc).split())
            raise click.ClickException(f"{path} is not valid YAML: {flat}") from None
    version = document.get("asyncapi") if isinstance(document, dict) else None
    if version != "3.0.0":
        raise click.ClickException(
            f"{path} is an AsyncAPI {version or '(no version)'} document; the page is drawn "
            "from 3.0.0 ones: regenerate it with topicflow docs gen --asyncapi-version 3.0.0"
        )
    checked: dict[str, Any] = document
    return checked


def _interrupt(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt
