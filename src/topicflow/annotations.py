"""Ready-made handler annotations (FastStream's ``faststream.annotations`` names).

Each is an ``Annotated`` alias: a parameter annotated with it gets a value of the
broker's context instead of a field of the body::

    async def handle(order: Order, logger: Logger, context: ContextRepo) -> None: ...

A parameter annotated with plain ``logging.Logger`` gets the logger too.
"""

from __future__ import annotations

import logging
from typing import Annotated

from topicflow._context import ContextRepo as _ContextRepo
from topicflow.app import App
from topicflow.params import Context, NoCast

__all__ = ["ContextRepo", "FastStream", "Logger", "NoCast"]

Logger = Annotated[logging.Logger, Context("logger")]
"""The broker's logger (``KafkaBroker(logger=...)``)."""

ContextRepo = Annotated[_ContextRepo, Context("context")]
"""The broker's context (``broker.context``): ``set_global``, ``get``, ..."""

FastStream = Annotated[App, Context("app")]
"""The application running the broker."""
