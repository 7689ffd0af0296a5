"""Loading the App that ``topicflow run`` and ``topicflow docs`` are pointed at."""

from __future__ import annotations

import importlib
import sys
from pathlib import Path
from typing import Any

import click

from topicflow.app import App
from topicflow.exceptions import TopicflowError

__all__ = ["load_app"]


def load_app(app_path: str, app_dir: str = ".", *, factory: bool = False) -> App:
    """Import ``module:attribute`` (calling it with ``factory``) and check it is an App."""
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
        raise click.ClickException(f"importing {module_name!r} failed: {exc}") from None
    except Exception as exc:
        raise click.ClickException(
            f"importing {module_name!r} failed: {type(exc).__name__}: {exc}"
        ) from None
    app: Any = getattr(module, attr, None)
    if app is None:
        raise click.ClickException(f"module {module_name!r} has no attribute {attr!r}")
    if factory:
        if not callable(app):
            raise click.ClickException(f"{app_path} is not callable; drop --factory")
        try:
            app = app()
        except TopicflowError as exc:
            raise click.ClickException(f"{app_path}() failed: {exc}") from None
    if not isinstance(app, App):
        hint = " (is it a factory? add --factory)" if callable(app) and not factory else ""
        raise click.ClickException(
            f"{app_path} is a {type(app).__name__}, not a topicflow App{hint}; wrap your "
            "broker: app = App(broker)"
        )
    return app
