"""App: runs brokers between lifecycle hooks, and stops them on a signal."""

from __future__ import annotations

import asyncio
import inspect
import logging
import signal
from typing import TYPE_CHECKING, Any, TypeVar

from topicflow.exceptions import SetupError

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable, Mapping

    from topicflow.kafka.broker.broker import KafkaBroker

__all__ = ["App"]

H = TypeVar("H", bound="Callable[..., Any]")

_DEFAULT_LOGGER = logging.getLogger("topicflow")


class App:
    """A service: brokers plus hooks around their start and stop.

    Hooks may be sync or async functions without arguments. Order on start:
    ``on_startup`` hooks, brokers start, ``after_startup`` hooks. On stop:
    ``on_shutdown`` hooks, brokers stop (gracefully), ``after_shutdown`` hooks.

    ``title``, ``version``, ``description`` and ``tags`` (names, or mappings with
    ``name`` and ``description``) describe the service in its AsyncAPI documents.
    """

    def __init__(
        self,
        *brokers: KafkaBroker,
        logger: logging.Logger | None = _DEFAULT_LOGGER,
        on_startup: Iterable[Callable[..., Any]] = (),
        after_startup: Iterable[Callable[..., Any]] = (),
        on_shutdown: Iterable[Callable[..., Any]] = (),
        after_shutdown: Iterable[Callable[..., Any]] = (),
        title: str = "topicflow",
        version: str = "0.1.0",
        description: str = "",
        tags: Iterable[str | Mapping[str, str]] = (),
    ) -> None:
        self.brokers = list(brokers)
        self.logger = logger
        self.title = title
        self.version = version
        self.description = description
        self.tags = tuple(tags)
        for tag in self.tags:
            if not isinstance(tag, str) and "name" not in tag:
                raise SetupError(f"tag {tag!r} has no 'name'; give a string or {{'name': ...}}")
        self._on_startup = list(on_startup)
        self._after_startup = list(after_startup)
        self._on_shutdown = list(on_shutdown)
        self._after_shutdown = list(after_shutdown)
        self._exit: asyncio.Event | None = None

    # Decorator forms: each returns the function unchanged.
    def on_startup(self, func: H) -> H:
        """Run ``func`` before the brokers start."""
        self._on_startup.append(func)
        return func

    def after_startup(self, func: H) -> H:
        """Run ``func`` once every broker has started."""
        self._after_startup.append(func)
        return func

    def on_shutdown(self, func: H) -> H:
        """Run ``func`` before the brokers stop."""
        self._on_shutdown.append(func)
        return func

    def after_shutdown(self, func: H) -> H:
        """Run ``func`` after the brokers stopped."""
        self._after_shutdown.append(func)
        return func

    async def start(self) -> None:
        """Run the startup hooks and start the brokers."""
        await _run_hooks(self._on_startup)
        for broker in self.brokers:
            await broker.start()
        await _run_hooks(self._after_startup)
        if self.logger is not None:
            self.logger.info("%s started", self.title)

    async def stop(self) -> None:
        """Run the shutdown hooks and stop the brokers gracefully."""
        await _run_hooks(self._on_shutdown)
        for broker in reversed(self.brokers):
            await broker.stop()
        await _run_hooks(self._after_shutdown)
        if self.logger is not None:
            self.logger.info("%s stopped", self.title)

    def exit(self) -> None:
        """Ask a running :meth:`run` to stop gracefully."""
        if self._exit is not None:
            self._exit.set()

    async def run(self) -> None:
        """Start, wait for SIGINT/SIGTERM or :meth:`exit`, then stop gracefully."""
        self._exit = asyncio.Event()
        loop = asyncio.get_running_loop()
        signals = (signal.SIGINT, signal.SIGTERM)
        for sig in signals:
            loop.add_signal_handler(sig, self.exit)
        try:
            try:
                await self.start()
            except BaseException:
                for broker in reversed(self.brokers):
                    await broker.stop()
                raise
            await self._exit.wait()
            if self.logger is not None:
                self.logger.info("%s stopping: finishing in-flight messages", self.title)
            await self.stop()
        finally:
            for sig in signals:
                loop.remove_signal_handler(sig)
            self._exit = None


async def _run_hooks(hooks: Iterable[Callable[..., Any]]) -> None:
    for hook in hooks:
        result = hook()
        if inspect.isawaitable(result):
            await result
