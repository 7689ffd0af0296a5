"""KafkaRouter for FastAPI: a FastAPI ``APIRouter`` that owns a KafkaBroker.

The broker starts and stops with the FastAPI app's lifespan; subscribers and
publishers are declared on the router with the broker's options; the AsyncAPI
page is served under the app at ``schema_url``.
"""

from __future__ import annotations

import inspect
import logging
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING, Any, Literal, Unpack, overload

from fastapi import APIRouter
from fastapi.datastructures import Default
from fastapi.responses import JSONResponse, Response
from fastapi.routing import APIRoute
from fastapi.utils import generate_unique_id

from topicflow.ack import AckPolicy
from topicflow.exceptions import SetupError
from topicflow.kafka._options import PublisherOptions, SubscriberOptions
from topicflow.kafka.broker.broker import KafkaBroker
from topicflow.kafka.broker.registrator import AnySubscriber, KafkaRegistrator
from topicflow.kafka.fastapi._bridge import ROUTER_KEY
from topicflow.kafka.fastapi._docs import asyncapi_router
from topicflow.specification import AsyncAPI

if TYPE_CHECKING:
    from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Sequence
    from enum import Enum

    from fastapi import FastAPI, params
    from starlette.routing import BaseRoute
    from starlette.types import ASGIApp, Lifespan

    from topicflow._context import ContextRepo
    from topicflow._tasks import Backoff, Supervision
    from topicflow.kafka.publisher import DefaultPublisher
    from topicflow.kafka.subscriber import (
        BatchSubscriber,
        ConcurrentBetweenPartitionsSubscriber,
        ConcurrentDefaultSubscriber,
        DefaultSubscriber,
    )
    from topicflow.security import BaseSecurity

__all__ = ["KafkaRouter"]

_DEFAULT_LOGGER: Any = logging.getLogger("topicflow")
# FastAPI's defaults (placeholders that tell "not given" apart), as APIRouter has them.
_JSON_RESPONSE: Any = Default(JSONResponse)
_UNIQUE_ID: Any = Default(generate_unique_id)

#: ``response_model*`` defaults, as FastStream's (and FastAPI's) subscriber takes them.
_RESPONSE_DEFAULTS: dict[str, Any] = {
    "response_model_include": None,
    "response_model_exclude": None,
    "response_model_by_alias": True,
    "response_model_exclude_unset": False,
    "response_model_exclude_defaults": False,
    "response_model_exclude_none": False,
}


class RouterSubscriberOptions(SubscriberOptions, total=False):
    """The broker's subscriber options, plus FastStream's ``response_model*`` ones."""

    response_model: Any
    response_model_include: Any
    response_model_exclude: Any
    response_model_by_alias: bool
    response_model_exclude_unset: bool
    response_model_exclude_defaults: bool
    response_model_exclude_none: bool


class KafkaRouter(APIRouter):
    """A FastAPI router with a Kafka broker: ``app.include_router(router)``.

    The broker (:attr:`broker`) is made of the connection, producer and
    framework arguments, which are :class:`~topicflow.kafka.KafkaBroker`'s; it
    starts when the FastAPI app starts (``app.include_router(router)``, or
    ``FastAPI(lifespan=router.lifespan_context)``) and stops, committing what
    finished, when it stops. Handlers take what broker handlers take (body,
    ``Logger``, ``Context``, ``KafkaMessage``, ``topicflow.Depends``) and FastAPI's
    ``Depends``, ``Header``, ``Request`` and ``BackgroundTasks``.

    Args:
        schema_url: where the app serves the AsyncAPI page (and ``.json``,
            ``.yaml`` beside it); ``None`` serves none.
        setup_state: the lifespan yields ``{"broker": broker, ...}`` as the app's state.
        specification: the AsyncAPI description (title, version, ... are the app's).
        specification_tags: AsyncAPI tags of the broker.
        context: the broker's :class:`~topicflow.context.ContextRepo`.
        prefix, tags, dependencies, default_response_class, responses, callbacks,
            routes, redirect_slashes, default, dependency_overrides_provider,
            route_class, on_startup, on_shutdown, lifespan, deprecated,
            include_in_schema, generate_unique_id_function: FastAPI's ``APIRouter``
            arguments (``dependencies`` run before every subscriber's handler too;
            ``include_in_schema=False`` also hides the AsyncAPI page).

    The other arguments are the broker's, as in ``KafkaBroker(...)``.
    """

    def __init__(
        self,
        bootstrap_servers: str | Iterable[str] = "localhost",
        *,
        request_timeout_ms: int = 40_000,
        retry_backoff_ms: int = 100,
        metadata_max_age_ms: int = 300_000,
        connections_max_idle_ms: int = 540_000,
        sasl_kerberos_service_name: str = "kafka",
        sasl_kerberos_domain_name: str | None = None,
        sasl_oauth_token_provider: Any = None,
        loop: Any = None,
        client_id: str | None = None,
        client_rack: str | None = None,
        allow_auto_create_topics: bool = True,
        acks: Literal[0, 1, -1, "all"] = "all",
        key_serializer: Callable[[Any], bytes] | None = None,
        value_serializer: Callable[[Any], bytes] | None = None,
        compression_type: Literal["gzip", "snappy", "lz4", "zstd"] | None = None,
        max_batch_size: int = 16_384,
        partitioner: Callable[..., Any] | None = None,
        max_request_size: int = 1_048_576,
        linger_ms: int = 0,
        enable_idempotence: bool = True,
        transactional_id: str | None = None,
        transaction_timeout_ms: int = 60_000,
        consumer_only: bool = False,
        graceful_timeout: float = 15.0,
        ack_policy: AckPolicy = AckPolicy.ACK,
        nack_backoff: Backoff | None = None,
        supervision: Supervision | None = None,
        id_generator: Callable[[], str] | None = None,
        decoder: Callable[..., Any] | None = None,
        parser: Callable[..., Any] | None = None,
        middlewares: Sequence[Any] = (),
        specification: AsyncAPI | None = None,
        security: BaseSecurity | None = None,
        specification_url: str | None = None,
        protocol: str | None = None,
        protocol_version: str | None = "auto",
        description: str | None = None,
        specification_tags: Iterable[Any] = (),
        logger: logging.Logger | None = _DEFAULT_LOGGER,
        log_level: int = logging.INFO,
        setup_state: bool = True,
        schema_url: str | None = "/asyncapi",
        context: ContextRepo | None = None,
        prefix: str = "",
        tags: list[str | Enum] | None = None,
        dependencies: Sequence[params.Depends] | None = None,
        default_response_class: type[Response] = _JSON_RESPONSE,
        responses: dict[int | str, dict[str, Any]] | None = None,
        callbacks: list[BaseRoute] | None = None,
        routes: list[BaseRoute] | None = None,
        redirect_slashes: bool = True,
        default: ASGIApp | None = None,
        dependency_overrides_provider: Any | None = None,
        route_class: type[APIRoute] = APIRoute,
        on_startup: Sequence[Callable[[], Any]] | None = None,
        on_shutdown: Sequence[Callable[[], Any]] | None = None,
        lifespan: Lifespan[Any] | None = None,
        deprecated: bool | None = None,
        include_in_schema: bool = True,
        generate_unique_id_function: Callable[[APIRoute], str] = _UNIQUE_ID,
    ) -> None:
        #: The Kafka broker the router's subscribers and publishers belong to.
        self.broker = KafkaBroker(
            bootstrap_servers,
            request_timeout_ms=request_timeout_ms,
            retry_backoff_ms=retry_backoff_ms,
            metadata_max_age_ms=metadata_max_age_ms,
            connections_max_idle_ms=connections_max_idle_ms,
            sasl_kerberos_service_name=sasl_kerberos_service_name,
            sasl_kerberos_domain_name=sasl_kerberos_domain_name,
            sasl_oauth_token_provider=sasl_oauth_token_provider,
            loop=loop,
            client_id=client_id,
            client_rack=client_rack,
            allow_auto_create_topics=allow_auto_create_topics,
            acks=acks,
            key_serializer=key_serializer,
            value_serializer=value_serializer,
            compression_type=compression_type,
            max_batch_size=max_batch_size,
            partitioner=partitioner,
            max_request_size=max_request_size,
            linger_ms=linger_ms,
            enable_idempotence=enable_idempotence,
            transactional_id=transactional_id,
            transaction_timeout_ms=transaction_timeout_ms,
            consumer_only=consumer_only,
            graceful_timeout=graceful_timeout,
            ack_policy=ack_policy,
            nack_backoff=nack_backoff,
            supervision=supervision,
            id_generator=id_generator,
            decoder=decoder,
            parser=parser,
            middlewares=middlewares,
            security=security,
            specification_url=specification_url,
            protocol=protocol,
            protocol_version=protocol_version,
            description=description,
            tags=specification_tags,
            logger=logger,
            log_level=log_level,
            context=context,
        )
        #: The AsyncAPI description served at ``schema_url``.
        self.schema = (specification or AsyncAPI()).add_broker(self.broker)
        self.setup_state = setup_state
        #: The FastAPI app whose lifespan runs the broker (set when it starts).
        self.application: FastAPI | None = None
        self._after_startup_hooks: list[Callable[[Any], Awaitable[Any]]] = []
        self._on_shutdown_hooks: list[Callable[[Any], Awaitable[Any]]] = []
        self._lifespans = 0
        self._documented: list[FastAPI] = []
        super().__init__(
            prefix=prefix,
            tags=tags,
            dependencies=dependencies,
            default_response_class=default_response_class,
            responses=responses,
            callbacks=callbacks,
            routes=routes,
            redirect_slashes=redirect_slashes,
            default=default,
            dependency_overrides_provider=dependency_overrides_provider,
            route_class=route_class,
            on_startup=on_startup,
            on_shutdown=on_shutdown,
            lifespan=self._wrap_lifespan(lifespan),
            deprecated=deprecated,
            include_in_schema=include_in_schema,
            generate_unique_id_function=generate_unique_id_function,
        )
        #: The routes of the AsyncAPI page, added to the app when it starts (None: no page).
        self.docs_router = asyncapi_router(self, schema_url) if include_in_schema else None
        self.broker.context.set_global("app", self)
        self.broker.context.set_global(ROUTER_KEY, self)

    @property
    def context(self) -> ContextRepo:
        """The broker's context (``Context(...)`` parameters read it)."""
        return self.broker.context

    # -- declaring -------------------------------------------------------------

    @overload
    def subscriber(
        self,
        *topics: str,
        batch: Literal[False] = False,
        group_id: str | None = None,
        max_workers: None = None,
        **options: Unpack[RouterSubscriberOptions],
    ) -> DefaultSubscriber: ...

    @overload
    def subscriber(
        self,
        *topics: str,
        batch: Literal[True],
        group_id: str | None = None,
        max_workers: None = None,
        **options: Unpack[RouterSubscriberOptions],
    ) -> BatchSubscriber: ...

    @overload
    def subscriber(
        self,
        *topics: str,
        batch: Literal[False] = False,
        group_id: None = None,
        max_workers: int,
        **options: Unpack[RouterSubscriberOptions],
    ) -> ConcurrentDefaultSubscriber: ...

    @overload
    def subscriber(
        self,
        *topics: str,
        batch: Literal[False] = False,
        group_id: str,
        max_workers: int,
        **options: Unpack[RouterSubscriberOptions],
    ) -> ConcurrentBetweenPartitionsSubscriber: ...

    @overload
    def subscriber(
        self,
        *topics: str,
        batch: bool = False,
        group_id: str | None = None,
        max_workers: int | None = None,
        **options: Unpack[RouterSubscriberOptions],
    ) -> AnySubscriber: ...

    def subscriber(
        self,
        *topics: str,
        batch: bool = False,
        group_id: str | None = None,
        max_workers: int | None = None,
        **options: Unpack[RouterSubscriberOptions],
    ) -> AnySubscriber:
        """Declare a subscriber on the broker: ``KafkaBroker.subscriber``'s options.

        The router's ``dependencies`` run before the subscriber's. FastStream's
        ``response_model*`` options are accepted at their defaults only.
        """
        given = dict(options)
        response_model = given.pop("response_model", None)
        changed = [
            name for name, value in _RESPONSE_DEFAULTS.items() if given.pop(name, value) != value
        ]
        if response_model not in (None, Default(None)) or changed:
            raise SetupError(
                f"subscriber({', '.join(map(repr, topics))}): response_model and its options "
                "are not supported; return the model to publish (annotate the handler's "
                "return type), or give the publisher schema="
            )
        own = tuple(options.get("dependencies", ()))
        given["dependencies"] = (*self.dependencies, *own)
        subscriber_options: SubscriberOptions = given  # type: ignore[assignment]
        return self.broker.subscriber(
            *topics,
            batch=batch,
            group_id=group_id,
            max_workers=max_workers,
            **subscriber_options,
        )

    def publisher(
        self, topic: str, *, batch: bool = False, **options: Unpack[PublisherOptions]
    ) -> DefaultPublisher:
        """Declare a publisher on the broker: a handler decorator, or an object to
        publish with (``KafkaBroker.publisher``)."""
        return self.broker.publisher(topic, batch=batch, **options)

    def include_router(  # type: ignore[override]
        self,
        router: APIRouter | KafkaRegistrator,
        *,
        prefix: str = "",
        tags: list[str | Enum] | None = None,
        dependencies: Sequence[params.Depends] | None = None,
        default_response_class: type[Response] = _JSON_RESPONSE,
        responses: dict[int | str, dict[str, Any]] | None = None,
        callbacks: list[BaseRoute] | None = None,
        deprecated: bool | None = None,
        include_in_schema: bool = True,
        generate_unique_id_function: Callable[[APIRoute], str] = _UNIQUE_ID,
    ) -> None:
        """Include a ``topicflow.kafka.KafkaRouter`` in the broker (its subscribers and
        publishers), or a FastAPI ``APIRouter`` (its HTTP routes).

        Another ``topicflow.kafka.fastapi.KafkaRouter`` is refused, as in FastStream:
        it has a broker of its own; include each in the FastAPI app instead.
        """
        if isinstance(router, KafkaRegistrator):
            self.broker.include_router(router)
            return
        if isinstance(router, KafkaRouter):
            raise TypeError(
                "a topicflow.kafka.fastapi.KafkaRouter cannot include another (each has a "
                "broker of its own): group subscribers in a topicflow.kafka.KafkaRouter and "
                "include that, or include both routers in the FastAPI app"
            )
        super().include_router(
            router,
            prefix=prefix,
            tags=tags,
            dependencies=dependencies,
            default_response_class=default_response_class,
            responses=responses,
            callbacks=callbacks,
            deprecated=deprecated,
            include_in_schema=include_in_schema,
            generate_unique_id_function=generate_unique_id_function,
        )

    # -- lifespan --------------------------------------------------------------

    def after_startup(self, func: Callable[[Any], Any]) -> Callable[[Any], Any]:
        """Run ``func(app)`` once the broker started; a mapping it returns joins the
        lifespan's state."""
        self._after_startup_hooks.append(_as_async(func))
        return func

    def on_broker_shutdown(self, func: Callable[[Any], Any]) -> Callable[[Any], Any]:
        """Run ``func(app)`` when the app stops, before the broker stops."""
        self._on_shutdown_hooks.append(_as_async(func))
        return func

    def _wrap_lifespan(self, lifespan: Lifespan[Any] | None) -> Lifespan[Any]:
        inner = lifespan if lifespan is not None else self._default_lifespan

        @asynccontextmanager
        async def start_broker_lifespan(app: FastAPI) -> AsyncIterator[Any]:
            # FastAPI(lifespan=router.lifespan_context) and app.include_router(router)
            # together enter this twice: only the outermost runs the broker.
            outermost = self._lifespans == 0
            self._lifespans += 1
            try:
                if outermost:
                    self._attach(app)
                async with inner(app) as inner_state:
                    state = {"broker": self.broker, **(inner_state or {})}
                    if not outermost:
                        yield state if self.setup_state else None
                        return
                    await self.broker.start()
                    try:
                        for hook in self._after_startup_hooks:
                            state.update(await hook(app) or {})
                        yield state if self.setup_state else None
                        for hook in self._on_shutdown_hooks:
                            await hook(app)
                    finally:
                        await self.broker.stop()
            finally:
                self._lifespans -= 1

        return start_broker_lifespan

    @asynccontextmanager
    async def _default_lifespan(self, app: Any) -> AsyncIterator[None]:
        # The router's own on_startup / on_shutdown handlers, as FastAPI's default runs them.
        for handler in self.on_startup:
            result = handler()
            if inspect.isawaitable(result):
                await result
        yield None
        for handler in self.on_shutdown:
            result = handler()
            if inspect.isawaitable(result):
                await result

    def _attach(self, app: FastAPI) -> None:
        self.application = app
        if self.dependency_overrides_provider is None:
            self.dependency_overrides_provider = app
        if self.docs_router is not None and app not in self._documented:
            self.schema.title = app.title
            self.schema.description = app.description or None
            self.schema.version = app.version
            self.schema.contact = app.contact
            self.schema.license = app.license_info
            app.include_router(self.docs_router)
            self._documented.append(app)


def _as_async(func: Callable[..., Any]) -> Callable[..., Awaitable[Any]]:
    async def call(*args: Any) -> Any:
        result = func(*args)
        return (await result) if inspect.isawaitable(result) else result

    return call
