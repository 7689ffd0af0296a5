"""TestApp: run an App's lifespan hooks around a test."""

from __future__ import annotations

import asyncio
import threading
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from collections.abc import Mapping
    from types import TracebackType

    from topicflow.app import App

__all__ = ["TestApp"]


class TestApp:
    """Start ``app`` on enter and stop it on exit, hooks included.

    On enter: the ``lifespan``, the ``on_startup`` hooks, every broker's
    ``start()``, the ``after_startup`` hooks. On exit: ``on_shutdown``, the
    brokers' ``stop()``, ``after_shutdown``, the end of the ``lifespan``.
    ``run_extra_options`` stands for the extra ``--name value`` options of
    ``topicflow run``: they go to ``on_startup`` hooks and ``lifespan``.

    Put it inside ``TestKafkaBroker`` to run the app on the in-memory Kafka::

        async with TestKafkaBroker(broker), TestApp(app):
            ...

    There the broker has started before ``on_startup`` runs (starting it again is
    a no-op); outside a ``TestKafkaBroker`` the brokers connect to their real
    cluster.

    A plain ``with TestApp(app):`` (in a sync test, as FastStream allows) runs the
    app on an event loop of its own, in a thread that lives as long as the block;
    its brokers connect to their real cluster (the in-memory Kafka of a
    ``TestKafkaBroker`` lives in the test's own event loop, so it takes
    ``async with``).
    """

    __test__ = False  # not a pytest test class, despite the name

    def __init__(self, app: App, run_extra_options: Mapping[str, Any] | None = None) -> None:
        self.app = app
        self.run_extra_options = dict(run_extra_options or {})
        self._thread: tuple[asyncio.AbstractEventLoop, threading.Thread] | None = None

    def __enter__(self) -> App:
        loop = asyncio.new_event_loop()
        thread = threading.Thread(target=loop.run_forever, name="topicflow TestApp", daemon=True)
        thread.start()
        self._thread = (loop, thread)
        try:
            return asyncio.run_coroutine_threadsafe(self.__aenter__(), loop).result()
        except BaseException:
            self._end_thread()
            raise

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        assert self._thread is not None, "__exit__ without __enter__"
        loop, _ = self._thread
        try:
            asyncio.run_coroutine_threadsafe(self.__aexit__(exc_type, exc, tb), loop).result()
        finally:
            self._end_thread()

    def _end_thread(self) -> None:
        thread, self._thread = self._thread, None
        if thread is not None:
            loop, runner = thread
            loop.call_soon_threadsafe(loop.stop)
            runner.join()
            loop.close()

    async def __aenter__(self) -> App:
        app = self.app
        try:
            await app.start(**self.run_extra_options)
        except BaseException:
            await app._abandon_start()  # as App.run() does
            raise
        return app

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.app.stop()
