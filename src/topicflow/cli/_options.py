"""What ``topicflow run`` reads from its command line besides its own options.

Extra ``--name value`` pairs become keyword arguments of the startup hooks, a
``--log-config FILE`` becomes a :func:`logging.config.dictConfig`, and ``--loop``
names the event loop factory. Each mistake is a one-line usage error.
"""

from __future__ import annotations

import json
import logging.config
import tomllib
from typing import TYPE_CHECKING, Any

import click

if TYPE_CHECKING:
    import asyncio
    from collections.abc import Callable
    from pathlib import Path

__all__ = [
    "APP_DIR_OPTION",
    "FACTORY_OPTION",
    "LOG_LEVELS",
    "level_of",
    "load_log_config",
    "loop_factory",
    "parse_extra_options",
]

#: ``--app-dir``, as every command that imports MODULE:APP takes it.
APP_DIR_OPTION = click.option(
    "--app-dir",
    default=".",
    show_default=True,
    type=click.Path(file_okay=False),
    envvar="TOPICFLOW_APP_DIR",
    help="Folder put first on sys.path before MODULE is imported.",
)
#: ``-f/--factory``, likewise.
FACTORY_OPTION = click.option(
    "-f", "--factory", is_flag=True, help="MODULE:APP is a function that returns the App."
)

#: ``--log-level`` names (FastStream's, with its synonyms) -> logging levels.
#: ``notset`` leaves the default, INFO.
LOG_LEVELS: dict[str, int] = {
    "critical": logging.CRITICAL,
    "fatal": logging.FATAL,
    "error": logging.ERROR,
    "warning": logging.WARNING,
    "warn": logging.WARNING,
    "info": logging.INFO,
    "debug": logging.DEBUG,
    "notset": logging.INFO,
}

#: ``--log-config`` file suffixes -> readers.
_LOG_CONFIG_READERS: dict[str, Callable[[Path], Any]] = {
    ".json": lambda path: json.loads(path.read_text(encoding="utf-8")),
    ".toml": lambda path: tomllib.loads(path.read_text(encoding="utf-8")),
    ".yaml": lambda path: _yaml(path),
    ".yml": lambda path: _yaml(path),
}


def level_of(name: str) -> int:
    """The logging level a ``--log-level`` name stands for."""
    return LOG_LEVELS[name.lower()]


def parse_extra_options(args: list[str]) -> dict[str, Any]:
    """The extra options of ``topicflow run`` as keyword arguments, as FastStream reads them.

    ``--name value`` and ``--name=value`` give a string, ``--flag`` gives True and
    ``--no-flag`` False, ``--name a b`` gives a list, and so does a repeated name.
    Dashes in names become underscores.
    """
    options: dict[str, Any] = {}
    rest = list(args)
    while rest:
        arg = rest.pop(0)
        if not arg.startswith("-") or arg in ("-", "--"):
            raise click.UsageError(
                f"unexpected argument {arg!r}; extra options look like --name value"
            )
        name, eq, inline = arg.lstrip("-").partition("=")
        key = name.replace("-", "_")
        if not key.isidentifier():
            raise click.UsageError(f"option {arg!r} is not a valid name")
        values = [inline] if eq else []
        while not eq and rest and not rest[0].startswith("-"):
            values.append(rest.pop(0))
        value: Any
        if not values:
            value = not key.startswith("no_")
            key = key.removeprefix("no_")
        else:
            value = values[0] if len(values) == 1 else values
        if key in options:
            known = options[key]
            value = [
                *(known if isinstance(known, list) else [known]),
                *(value if isinstance(value, list) else [value]),
            ]
        options[key] = value
    return options


def load_log_config(path: Path) -> None:
    """Configure logging from ``path`` (a dictConfig in JSON, YAML or TOML)."""
    reader = _LOG_CONFIG_READERS.get(path.suffix.lower())
    if reader is None:
        raise click.BadParameter(
            f"{path} is not .json, .yaml, .yml or .toml", param_hint="'--log-config'"
        )
    try:
        config = reader(path)
    except OSError as exc:
        raise click.BadParameter(
            f"cannot read {path}: {exc.strerror}", param_hint="'--log-config'"
        ) from None
    except ValueError as exc:  # JSON, TOML and YAML errors alike
        raise click.BadParameter(
            f"{path} is not valid {path.suffix[1:].upper()}: {exc}", param_hint="'--log-config'"
        ) from None
    if not isinstance(config, dict):
        raise click.BadParameter(
            f"{path} holds a {type(config).__name__}, not a logging dictConfig mapping",
            param_hint="'--log-config'",
        )
    try:
        logging.config.dictConfig(config)
    except (ValueError, TypeError, AttributeError, ImportError) as exc:
        cause = f": {exc.__cause__}" if exc.__cause__ is not None else ""
        raise click.ClickException(f"--log-config {path}: {exc}{cause}") from None


def loop_factory(spec: str) -> Callable[[], asyncio.AbstractEventLoop] | None:
    """The event loop factory named by ``--loop`` (``module:callable``); None for ``auto``."""
    if spec == "auto":
        return None
    import importlib

    module_name, sep, attr = spec.partition(":")
    if not sep or not module_name or not attr:
        raise click.BadParameter(
            f"{spec!r} is not 'auto' or MODULE:FACTORY, e.g. 'uvloop:new_event_loop'",
            param_hint="'--loop'",
        )
    try:
        factory: Any = getattr(importlib.import_module(module_name), attr)
    except (ImportError, AttributeError) as exc:
        raise click.BadParameter(f"cannot load {spec!r}: {exc}", param_hint="'--loop'") from None
    if not callable(factory):
        raise click.BadParameter(f"{spec!r} is not callable", param_hint="'--loop'")
    made: Callable[[], asyncio.AbstractEventLoop] = factory
    return made


def _yaml(path: Path) -> Any:
    import yaml

    try:
        return yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        raise ValueError(str(exc).replace("\n", " ")) from None
