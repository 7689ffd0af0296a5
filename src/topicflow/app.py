"""App: runs brokers between lifecycle hooks, and stops them on a signal."""

from __future__ import annotations

import asyncio
import inspect
import logging
import signal
import typing
from typing import TYPE_CHECKING, Any, TypeVar

from pydantic import TypeAdapter, ValidationError

from topicflow._apply import DEFAULT_SERIALIZER, refuse_fast_depends
from topicflow._asgi._serving import AsgiServing
from topicflow._context import ContextRepo
from topicflow.exceptions import (
    KafkaAuthenticationError,
    KafkaConnectTimeout,
    KafkaUnavailableError,
    SetupError,
)
from topicflow.specification.asyncapi import AsyncAPI

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable, Mapping, Sequence
    from contextlib import AbstractAsyncContextManager

    from topicflow._asgi._routes import AsyncAPIRoute
    from topicflow.exceptions import SubscriberFailed
    from topicflow.kafka.broker.broker import KafkaBroker
    from topicflow.specification._extra import TagDict

__all__ = ["App", "AsgiFastStream", "FastStream"]

H = TypeVar("H", bound="Callable[..., Any]")

_DEFAULT_LOGGER = logging.getLogger("topicflow")
#: While waiting for the cluster: seconds between two log lines, and at most between
#: two attempts (the first retries come sooner: 0.5, 1, 2, 4 s).
_WAIT_LINE_EVERY = 5.0


class _StopRequested(Exception):
    """A signal came while the app waited for its cluster: it stops without starting."""


class App:
    """A service: brokers plus hooks around their start and stop.

    Hooks may be sync or async functions. Order on start: ``lifespan`` is
    entered, ``on_startup`` hooks, brokers start, ``after_startup`` hooks. On
    stop: ``on_shutdown`` hooks, brokers stop (gracefully), ``after_shutdown``
    hooks, ``lifespan`` is exited. ``on_startup`` hooks and ``lifespan`` receive
    the extra ``--name value`` options of ``topicflow run`` as keyword arguments
    (those their signature takes, validated against its annotations).

    ``wait_for_broker`` (seconds, default 0: fail at once) lets a start wait for a
    cluster that cannot be reached yet (one still starting beside the service):
    each broker is connected again until it answers, with a log line every 5 s,
    and the last error is raised once the time is up. Refused credentials are
    raised at once. ``topicflow run --wait-for-broker SECONDS`` sets it.

    ``specification=AsyncAPI(title=..., version=..., ...)`` describes the service
    in its AsyncAPI documents (:mod:`topicflow.specification`); ``app.schema`` is
    that object, and ``app.schema.to_specification()`` the document. ``title``,
    ``version``, ``description`` and ``tags`` (names, or mappings with ``name`` and
    ``description``) are a shorter way to say the same, without ``specification``.

    ``context=ContextRepo()``: its global values are set in every broker's context.
    ``provider`` and ``serializer`` are FastStream's hooks into fast_depends, which
    topicflow does not use: only their defaults are accepted.
    """

    def __init__(
        self,
        *brokers: KafkaBroker,
        logger: logging.Logger | None = _DEFAULT_LOGGER,
        lifespan: Callable[..., AbstractAsyncContextManager[Any]] | None = None,
        on_startup: Iterable[Callable[..., Any]] = (),
        after_startup: Iterable[Callable[..., Any]] = (),
        on_shutdown: Iterable[Callable[..., Any]] = (),
        after_shutdown: Iterable[Callable[..., Any]] = (),
        wait_for_broker: float = 0,
        title: str | None = None,
        version: str | None = None,
        description: str | None = None,
        tags: Iterable[str | TagDict | Mapping[str, str]] | None = None,
        specification: AsyncAPI | None = None,
        context: ContextRepo | None = None,
        provider: Any = None,
        serializer: Any = DEFAULT_SERIALIZER,
    ) -> None:
        refuse_fast_depends(codec=None, serializer=serializer, provider=provider)
        self.brokers = list(brokers)
        for name, value in (context.context if context is not None else {}).items():
            for broker in self.brokers:  # FastStream's app context, as the brokers' globals
                if name != "context":
                    broker.context.set_global(name, value)
        self.logger = logger
        self.lifespan = lifespan
        if not wait_for_broker >= 0:
            raise SetupError(
                f"wait_for_broker must be 0 (fail at once) or more seconds, got {wait_for_broker!r}"
            )
        #: Seconds a start waits for each broker's cluster to answer (0: not at all).
        self.wait_for_broker = wait_for_broker
        for broker in self.brokers:
            broker.context.set_global("app", self)
        described = {"title": title, "version": version, "description": description, "tags": tags}
        given = [name for name, value in described.items() if value is not None]
        if specification is not None and given:
            raise SetupError(
                f"App({', '.join(f'{name}=...' for name in given)}) and specification= both "
                "describe the service; give them to AsyncAPI(...) instead"
            )
        if specification is None:
            fields: dict[str, Any] = {k: v for k, v in described.items() if v is not None}
            specification = AsyncAPI(**fields)
        #: The service's AsyncAPI description; ``schema.to_specification()`` is its document.
        self.schema = specification
        for broker in self.brokers:
            self.schema.add_broker(broker)
        self._on_startup = list(on_startup)
        self._after_startup = list(after_startup)
        self._on_shutdown = list(on_shutdown)
        self._after_shutdown = list(after_shutdown)
        self._exit: asyncio.Event | None = None
        self._lifespan: AbstractAsyncContextManager[Any] | None = None

    @property
    def broker(self) -> KafkaBroker | None:
        """The first broker (FastStream's ``app.broker``); None without one."""
        return self.brokers[0] if self.brokers else None

    @property
    def context(self) -> ContextRepo | None:
        """The first broker's context (FastStream's ``app.context``): what
        ``set_global`` puts there, that broker's handlers and hooks see."""
        return self.brokers[0].context if self.brokers else None

    @property
    def title(self) -> str:
        """The service's name, as its documents and log lines give it."""
        return self.schema.title

    @property
    def version(self) -> str:
        return self.schema.version

    @property
    def description(self) -> str:
        return self.schema.description or ""

    @property
    def tags(self) -> tuple[Any, ...]:
        return tuple(self.schema.tags)

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

    async def start(self, **options: Any) -> None:
        """Enter the lifespan, run the startup hooks and start the brokers.

        ``options`` (the CLI's extra ``--name value`` pairs) go to ``on_startup``
        hooks and ``lifespan``.
        """
        if self.lifespan is not None:
            self._lifespan = self.lifespan(**_accepted(self.lifespan, options, self.context))
            await self._lifespan.__aenter__()
        await _run_hooks(self._on_startup, self.context, options)
        for broker in self.brokers:
            if self.wait_for_broker:
                await self._connect_waiting(broker, self.wait_for_broker)
            await broker.start()
            _log_endpoints(broker)
        await _run_hooks(self._after_startup, self.context)
        if self.logger is not None:
            self.logger.info("%s started", self.title)

    async def stop(self) -> None:
        """Run the shutdown hooks, stop the brokers gracefully, exit the lifespan."""
        await _run_hooks(self._on_shutdown, self.context)
        for broker in reversed(self.brokers):
            await broker.stop()
        await _run_hooks(self._after_shutdown, self.context)
        lifespan, self._lifespan = self._lifespan, None
        if lifespan is not None:
            await lifespan.__aexit__(None, None, None)
        if self.logger is not None:
            self.logger.info("%s stopped", self.title)

    def exit(self) -> None:
        """Ask a running :meth:`run` to stop gracefully."""
        if self._exit is not None:
            self._exit.set()

    def as_asgi(
        self,
        asgi_routes: Sequence[tuple[str, Any]] = (),
        asyncapi_path: str | AsyncAPIRoute | None = None,
    ) -> AsgiFastStream:
        """This app served over HTTP too, with ``asgi_routes`` (``(path, asgi_app)``
        pairs) and the AsyncAPI page at ``asyncapi_path``: see :mod:`topicflow.asgi`."""
        return AsgiFastStream.from_app(self, asgi_routes, asyncapi_path)

    async def run(self, **options: Any) -> None:
        """Start, wait for SIGINT/SIGTERM or :meth:`exit`, then stop gracefully.

        When a broker gives up a crashing background task (see
        :class:`~topicflow.kafka.Supervision`), the app stops as on a signal and
        then raises that broker's :class:`~topicflow.SubscriberFailed`:
        ``topicflow run`` prints its one-line reason and exits with code 1.
        """
        self._exit = asyncio.Event()
        loop = asyncio.get_running_loop()
        signals = (signal.SIGINT, signal.SIGTERM)
        for sig in signals:
            loop.add_signal_handler(sig, self.exit)
        try:
            try:
                await self.start(**options)
            except _StopRequested:
                await self._abandon_start()
                return
            except BaseException:
                await self._abandon_start()
                raise
            failure = await self._wait_for_exit(self._exit)
            if self.logger is not None:
                why = (
                    "a subscriber failed" if failure is not None else "finishing in-flight messages"
                )
                self.logger.info("%s stopping: %s", self.title, why)
            await self.stop()
            if failure is not None:
                raise failure
        finally:
            for sig in signals:
                loop.remove_signal_handler(sig)
            self._exit = None

    async def _abandon_start(self) -> None:
        """After a start that failed or was cut short: stop what started and leave the
        lifespan (no shutdown hooks: the app never ran)."""
        for broker in reversed(self.brokers):
            await broker.stop()
        lifespan, self._lifespan = self._lifespan, None
        if lifespan is not None:
            await lifespan.__aexit__(None, None, None)

    async def _connect_waiting(self, broker: KafkaBroker, seconds: float) -> None:
        """Connect ``broker``, trying again until its cluster answers or ``seconds`` pass.

        Raises the last connection error after the deadline, ``_StopRequested`` when
        :meth:`exit` (a signal) comes first.
        """
        clock = asyncio.get_running_loop().time
        began = clock()
        deadline, next_line, attempts = began + seconds, began, 0
        servers = broker.options.servers_text
        last: KafkaUnavailableError | None = None
        while True:
            attempt = asyncio.ensure_future(broker.connect())
            if not await self._until(attempt, deadline):
                break
            try:
                attempt.result()
            except KafkaAuthenticationError:
                raise  # wrong credentials do not heal with time
            except KafkaUnavailableError as exc:
                last = exc
            else:
                if attempts and self.logger is not None:
                    self.logger.info("Kafka at %s answered after %.0f s", servers, clock() - began)
                return
            attempts += 1
            if clock() >= next_line and self.logger is not None:
                self.logger.warning(
                    "waiting for Kafka at %s (%.0f s of %g s): %s",
                    servers,
                    clock() - began,
                    seconds,
                    _reason(last),
                )
                next_line = clock() + _WAIT_LINE_EVERY
            pause = asyncio.ensure_future(asyncio.sleep(min(0.25 * 2**attempts, _WAIT_LINE_EVERY)))
            if not await self._until(pause, deadline):
                break
        if self._exit is not None and self._exit.is_set():
            if self.logger is not None:
                self.logger.info("%s stopping before it started: a signal came", self.title)
            raise _StopRequested
        if last is not None:
            raise last
        raise KafkaConnectTimeout(
            f"cannot reach Kafka at {servers}: no answer within wait_for_broker={seconds:g} s. "
            "Check that the broker is running and that bootstrap_servers names its "
            "advertised host:port.",
            bootstrap_servers=servers,
        )

    async def _until(self, task: asyncio.Future[Any], deadline: float) -> bool:
        """Wait for ``task`` until ``deadline`` or :meth:`exit`; False (and ``task``
        cancelled) when one of them came first."""
        waits: set[asyncio.Future[Any]] = {task}
        if self._exit is not None:
            waits.add(asyncio.ensure_future(self._exit.wait()))
        timeout = max(deadline - asyncio.get_running_loop().time(), 0)
        done, _ = await asyncio.wait(waits, timeout=timeout, return_when=asyncio.FIRST_COMPLETED)
        for wait in waits - {task}:
            wait.cancel()
        if task in done:
            return True
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        return False

    async def _wait_for_exit(self, exit: asyncio.Event) -> SubscriberFailed | None:
        """Until :meth:`exit` (a signal) or a broker's failure; the failure, if any."""
        waits: list[asyncio.Future[object]] = [asyncio.ensure_future(exit.wait())]
        waits += [asyncio.ensure_future(broker.wait_failed()) for broker in self.brokers]
        try:
            await asyncio.wait(waits, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for wait in waits:
                wait.cancel()
            await asyncio.gather(*waits, return_exceptions=True)
        return next((b.failure for b in self.brokers if b.failure is not None), None)


def _log_endpoints(broker: KafkaBroker) -> None:
    """One line per subscriber the broker started (handlers, topics, group) and per
    publisher (topic, and the handlers whose results it sends), as FastStream lists
    the subscribers it starts."""
    logger = broker.logger
    if logger is None:
        return
    sent: dict[str, list[str]] = {}
    for sub in broker.resolve():
        names = [getattr(plan.func, "__name__", repr(plan.func)) for plan in sub.handlers]
        if sub.config.pattern is not None:
            where = f"pattern {sub.prefix}{sub.config.pattern}"
        elif sub.topics:
            where = ", ".join(sub.topics)
        else:
            where = ", ".join(f"{tp.topic}[{tp.partition}]" for tp in sub.partitions)
        group = f" (group {sub.group_id})" if sub.group_id else ""
        logger.info(
            "subscriber %s: %s%s waiting for messages", ", ".join(names) or "-", where, group
        )
        for plan, publishers in sub.handler_publishers():
            for pub in publishers:
                sent.setdefault(pub.topic, []).append(getattr(plan.func, "__name__", "?"))
    for pub in broker.resolved_publishers():
        sent.setdefault(pub.topic, [])
    for topic, handlers in sent.items():
        results = f" (results of {', '.join(dict.fromkeys(handlers))})" if handlers else ""
        logger.info("publisher to %s%s", topic, results)


def _reason(exc: KafkaUnavailableError) -> str:
    """Why the cluster could not be reached: the client's words, or the timeout."""
    if exc.__cause__ is None:
        return str(exc)
    return str(exc.__cause__) or "no answer within request_timeout_ms"


async def _run_hooks(
    hooks: Iterable[Callable[..., Any]],
    context: ContextRepo | None,
    options: Mapping[str, Any] = {},
) -> None:
    for hook in hooks:
        result = hook(**_accepted(hook, options, context))
        if inspect.isawaitable(result):
            await result


def _accepted(
    func: Callable[..., Any], options: Mapping[str, Any], context: ContextRepo | None = None
) -> dict[str, Any]:
    """The ``options`` that ``func`` takes, validated against its annotations; and the
    context for a parameter annotated ``ContextRepo``, as FastStream gives hooks."""
    signature = inspect.signature(func)
    wants_context = [
        p.name for p in signature.parameters.values() if _names_context_repo(p.annotation)
    ]
    if not options and not (wants_context and context is not None):
        return {}
    takes_any = any(p.kind is p.VAR_KEYWORD for p in signature.parameters.values())
    try:
        hints = typing.get_type_hints(func)
    except (NameError, TypeError):
        hints = {}
    accepted: dict[str, Any] = {}
    for name, value in options.items():
        if name not in signature.parameters and not takes_any:
            continue
        annotation = hints.get(name)
        if annotation is not None and annotation is not Any:
            try:
                value = TypeAdapter(annotation).validate_python(value)
            except ValidationError as exc:
                raise SetupError(f"option --{name.replace('_', '-')}: {exc}") from exc
        accepted[name] = value
    if context is not None:
        accepted.update(dict.fromkeys(wants_context, context))
    return accepted


def _names_context_repo(annotation: Any) -> bool:
    """True for ``ContextRepo`` (the class, the annotation, or either as a string)."""
    if isinstance(annotation, str):
        return annotation.rsplit(".", 1)[-1] == "ContextRepo"
    if typing.get_origin(annotation) is typing.Annotated:
        annotation = typing.get_args(annotation)[0]
    return annotation is ContextRepo


class AsgiFastStream(App, AsgiServing):
    """An :class:`App` that is also an ASGI application (:mod:`topicflow.asgi`): the
    ASGI lifespan starts and stops it; HTTP requests go to its routes.

    Args:
        brokers: as for ``App``.
        asgi_routes: ``(path, asgi_app)`` pairs: ``@get``/``@post`` handlers,
            ``make_ping_asgi(broker)``, ``make_ready_asgi(broker)``, or any ASGI app
            (served at its path and below it).
        asyncapi_path: serve the AsyncAPI page there (a path or an ``AsyncAPIRoute``),
            with the JSON and YAML documents beside it.
        options: ``App``'s other arguments.
    """

    def __init__(
        self,
        *brokers: KafkaBroker,
        asgi_routes: Sequence[tuple[str, Any]] = (),
        asyncapi_path: str | AsyncAPIRoute | None = None,
        **options: Any,
    ) -> None:
        super().__init__(*brokers, **options)
        self._init_routes(asgi_routes, asyncapi_path)

    @classmethod
    def from_app(
        cls,
        app: App,
        asgi_routes: Sequence[tuple[str, Any]] = (),
        asyncapi_path: str | AsyncAPIRoute | None = None,
    ) -> AsgiFastStream:
        """``app``'s brokers, hooks and description, served with ``asgi_routes``."""
        asgi = cls(
            *app.brokers,
            logger=app.logger,
            lifespan=app.lifespan,
            wait_for_broker=app.wait_for_broker,
            specification=app.schema,
        )
        asgi._on_startup = app._on_startup
        asgi._after_startup = app._after_startup
        asgi._on_shutdown = app._on_shutdown
        asgi._after_shutdown = app._after_shutdown
        asgi._init_routes(asgi_routes, asyncapi_path)
        return asgi

    def exit(self) -> None:
        """Ask the server (or a running :meth:`run`) to stop gracefully."""
        self._stop_serving()
        super().exit()

    async def run(self, **options: Any) -> None:
        """Serve HTTP with uvicorn until SIGINT/SIGTERM or :meth:`exit`; the ASGI
        lifespan starts and stops the app. ``host`` (default 127.0.0.1), ``port``
        (8000) and uvicorn's other connection options come from ``options`` (the
        extra options of ``topicflow run``); the rest go to the app's hooks.
        """
        await self.serve(**options)


FastStream = App
"""FastStream's name of :class:`App`."""
