"""Loading the App that ``topicflow run`` and ``topicflow docs`` are pointed at.

A wrong ``MODULE:APP`` (no such module, no such attribute, not an App) is one
line: the command line is what to fix. An exception raised by the module's own
code while it is imported (or by a factory) is shown with its traceback, cut to
the user's frames, because the file and line are what to fix then.
"""

from __future__ import annotations

import importlib
import sys
import traceback
from pathlib import Path
from typing import IO, Any

import click

from topicflow.app import App
from topicflow.exceptions import TopicflowError

__all__ = ["UserCodeError", "load_app"]


class UserCodeError(click.ClickException):
    """The user's code raised: shown as its traceback, then one ``Error:`` line."""

    def __init__(self, what: str, exc: BaseException) -> None:
        super().__init__(f"{what} raised {type(exc).__name__}: {exc} (traceback above)")
        self.exc = exc

    def show(self, file: IO[Any] | None = None) -> None:
        out = sys.stderr if file is None else file
        out.write("".join(_user_traceback(self.exc)))
        super().show(file)


def load_app(app_path: str, app_dir: str = ".", *, factory: bool = False) -> App:
    """Import ``module:attribute`` (calling it with ``factory``) and check it is an App.

    ``attribute`` may be dotted (``service:container.app``).
    """
    module_name, sep, attrs = app_path.partition(":")
    if not sep or not module_name or not attrs:
        raise click.UsageError(f"{app_path!r} is not MODULE:APP, e.g. 'service:app'")
    sys.path.insert(0, str(Path(app_dir).resolve()))
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        if exc.name is not None and _names_the_module(module_name, exc.name):
            raise click.ClickException(
                f"cannot import {module_name!r}: no such module under {Path(app_dir).resolve()} "
                "(use --app-dir to point at its folder)"
            ) from None
        raise UserCodeError(f"importing {module_name!r}", exc) from None
    except Exception as exc:
        raise UserCodeError(f"importing {module_name!r}", exc) from None
    app: Any = module
    for attr in attrs.split("."):
        app = getattr(app, attr, None)
        if app is None:
            raise click.ClickException(f"module {module_name!r} has no attribute {attrs!r}")
    if factory:
        if not callable(app):
            raise click.ClickException(f"{app_path} is not callable; drop --factory")
        try:
            app = app()
        except TopicflowError as exc:
            raise click.ClickException(f"{app_path}() failed: {exc}") from None
        except Exception as exc:
            raise UserCodeError(f"{app_path}()", exc) from None
    if not isinstance(app, App):
        hint = " (is it a factory? add --factory)" if callable(app) and not factory else ""
        raise click.ClickException(
            f"{app_path} is a {type(app).__name__}, not a topicflow App{hint}; wrap your "
            "broker: app = App(broker)"
        )
    return app


def _names_the_module(module_name: str, missing: str) -> bool:
    """True when the missing module is ``module_name`` or one of its parent packages
    (the command line is wrong), not something the module imports."""
    wanted = module_name.split(".")
    parts = missing.split(".")
    return parts == wanted[: len(parts)]


def _user_traceback(exc: BaseException) -> list[str]:
    """``exc``'s traceback without the frames of importlib and of this module."""
    summary = traceback.TracebackException.from_exception(exc)
    ours = {str(Path(__file__).resolve()), str(Path(importlib.__file__ or "").resolve())}
    kept = [
        frame
        for frame in summary.stack
        if not frame.filename.startswith("<frozen importlib") and frame.filename not in ours
    ]
    summary.stack = traceback.StackSummary.from_list(kept)
    return list(summary.format())
