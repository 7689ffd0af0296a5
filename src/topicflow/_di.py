"""Handler signatures, compiled once at registration into a call plan.

A handler's parameters are read when it is registered and turned into the
cheapest way to build its arguments from a message: a reader that validates
the record bytes directly for the body (``topicflow._body``), plain lookups for
``KafkaMessage``, ``Path``, ``Header`` and ``Context`` parameters, and compiled
specs for ``Depends`` (``topicflow._resolvers``, ``topicflow._spec``). Nothing
is introspected per message, and building the arguments awaits only what has
to be awaited: a custom decoder, and dependencies that are (or depend on)
async functions or async generators.

Plans are frozen. At start, :meth:`HandlerPlan.bind` makes the call to use with
what is only known then: a custom decoder, the broker's, routers' and
subscriber's ``dependencies=``, and the broker's context. It stores nothing in
the plan, so one plan bound twice (a router included twice) gives two
independent calls. With none of those settings and one body parameter only, the
call is one validation and one call of the handler.

Errors while a message is handled are never :class:`~topicflow.exceptions.SetupError`,
which stays for configuration found at registration or start:

* input that does not fit (body, headers, ``Path``) raises
  :class:`~topicflow.exceptions.DecodeError`, so the subscriber can tell a
  poison message from a failing handler or dependency;
* a ``Context("name")`` without ``default=`` that has no value when the message
  is handled raises ``LookupError``, whose message names the fix
  (``broker.context.set_global(name, value)``, or ``default=``). Context values
  are looked up per message, not checked at start: globals may be set after the
  broker started (by ``on_startup`` hooks inside ``TestKafkaBroker``), and
  ``topicflow docs`` resolves subscribers without running any hook;
* a generator dependency that does not yield, or yields a second time, raises
  ``RuntimeError`` naming the fix.

The subscriber treats these two like any exception of the handler.
"""

from __future__ import annotations

import asyncio
import collections.abc
import contextlib
import functools
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, get_args, get_origin

from pydantic import ConfigDict, create_model

from topicflow._body import BODY_ERRORS, decode_error, reader, records_reader
from topicflow._resolvers import (
    body_arg,
    compile_dependency,
    model_args,
    param_arg,
    qualname,
    signature_of,
    split_annotation,
)
from topicflow._spec import Arg, CallKind, State, solver, spec_of
from topicflow.exceptions import SetupError
from topicflow.params import HeaderMarker, PathMarker

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence

    from topicflow._body import Reader
    from topicflow._context import ContextRepo
    from topicflow._spec import Spec
    from topicflow.kafka.message import KafkaMessage

__all__ = ["BatchPlan", "HandlerPlan", "compile_batch_handler", "compile_handler"]


@dataclass(frozen=True, slots=True)
class HandlerPlan:
    """What registration learned about a handler, and how to call it."""

    func: Callable[..., Any]
    #: Takes a message, returns the handler's result (default decoder, no extra
    #: dependencies, no context but the message). Raises DecodeError for input
    #: that does not fit.
    call: Callable[[KafkaMessage], Awaitable[Any]]
    #: The annotation of the body (a synthesised model for several body parameters).
    body_type: Any
    return_type: Any
    #: Names used by ``Path()`` parameters (checked against the subscriber's pattern).
    path_names: tuple[str, ...] = ()
    #: For an ``async def`` handler with one body parameter and nothing else: its
    #: body reader and the function itself, for a caller that inlines ``call``
    #: (read the record, raise DecodeError for what does not fit, await the
    #: function). None for every other handler.
    direct: tuple[Reader, Callable[..., Awaitable[Any]]] | None = None
    _spec: Spec | None = field(default=None, repr=False)
    #: ``call`` is the fast path: one body parameter, nothing else.
    _fast: bool = field(default=False, repr=False)

    def bind(
        self,
        *,
        decoder: Callable[[KafkaMessage], Awaitable[Any]] | None = None,
        dependencies: Iterable[Any] = (),
        context: ContextRepo | None = None,
        apply_types: bool = True,
    ) -> Callable[[KafkaMessage], Awaitable[Any]]:
        """The call to use at run time, given settings resolved at start.

        ``dependencies`` run before the handler's own arguments are built,
        outermost first; ``context`` serves its ``Context(...)`` parameters.
        Without ``apply_types`` the handler gets the decoded body alone, and
        ``dependencies`` do not run.
        """
        if not apply_types:
            return _untyped_call(self.func, decoder)
        extra = tuple(compile_dependency(d) for d in dependencies)
        if decoder is None and not extra and self._fast:
            return self.call
        assert self._spec is not None
        return _general_call(self._spec, extra, decoder, context)


@dataclass(frozen=True, slots=True)
class BatchPlan:
    """A batch handler: one ``list[T]`` parameter; each record is validated as ``T``."""

    func: Callable[..., Any]
    #: One record's body as ``T``; raises DecodeError.
    extract: Callable[[KafkaMessage], Any]
    #: Calls the handler with the list of bodies.
    call: Callable[[list[Any]], Awaitable[Any]]
    body_type: Any
    return_type: Any
    #: The bodies of many records at once, straight from the client's records
    #: (no message objects), when the default parser and decoder apply. Raises
    #: ValueError when any record does not fit: then go record by record to
    #: find it. None for item types read from messages (``Any``, ``str``).
    extract_records: Callable[[Sequence[Any]], list[Any]] | None = None
    #: With parameters beside the list (``Logger``, ``Context``, ``Depends``): the
    #: handler's spec, the list being its ``State.body``; see :meth:`bind_context`.
    _spec: Any = None

    def bind_context(self, context: ContextRepo | None) -> Callable[[list[Any]], Awaitable[Any]]:
        """The call to use at run time, with the broker's context for the parameters
        beside the list (built per batch; a batch has no one message)."""
        spec = self._spec
        if spec is None:
            return self.call

        async def call(bodies: list[Any]) -> Any:
            async with contextlib.AsyncExitStack() as stack:
                state = State(None, context, stack)  # type: ignore[arg-type]
                state.body = bodies
                result = spec.invoke(state)
                return (await result) if spec.awaits else result

        return call


def compile_handler(
    func: Callable[..., Any], localns: Mapping[str, Any] | None = None
) -> HandlerPlan:
    """Analyse ``func``'s signature once and build its call plan.

    ``localns``: the registering frame's locals, for annotations naming classes
    defined there (see :func:`topicflow._resolvers.signature_of`).
    """
    hints, params = signature_of(func, localns)
    args: list[Arg] = []
    body_params: list[tuple[str, Any, Any]] = []
    for param in params:
        annotation, marker = split_annotation(hints.get(param.name, Any), param.default)
        arg = param_arg(param.name, annotation, marker, localns)
        if arg is None:
            default = ... if param.default is param.empty else param.default
            body_params.append((param.name, annotation, default))
        else:
            args.append(arg)
    path_names = tuple(arg.path_name for arg in args if arg.path_name is not None)
    fast_read: Reader | None = None
    body_type: Any = None
    if len(body_params) == 1:
        name, body_type, _ = body_params[0]
        read = reader(body_type)
        if not args:
            fast_read = read
        args.append(body_arg(name, body_type, read))
    elif body_params:
        body_type = create_model(  # type: ignore[call-overload]
            f"{qualname(func)}_body",
            __config__=ConfigDict(arbitrary_types_allowed=True),
            **{name: (tp, default) for name, tp, default in body_params},
        )
        args.extend(model_args([name for name, _, _ in body_params], body_type, reader(body_type)))

    # A plain def handler runs in a worker thread: its blocking calls do not hold the loop.
    target = _in_thread(func) if CallKind.of(func) is CallKind.SYNC else func
    spec = spec_of(target, args)
    direct = None
    if fast_read is not None and spec.kind is CallKind.ASYNC:
        direct = (fast_read, target)
        call = _fast_call(target, fast_read)
    else:
        call = _general_call(spec, (), None, None)
    return HandlerPlan(
        func=func,
        call=call,
        body_type=body_type,
        return_type=hints.get("return", Any),
        path_names=path_names,
        direct=direct,
        _spec=spec,
        _fast=direct is not None,
    )


def compile_batch_handler(
    func: Callable[..., Any], localns: Mapping[str, Any] | None = None
) -> BatchPlan:
    """Plan a batch handler: first the list of bodies, annotated ``list[T]`` (or
    unannotated), then, if any, parameters that need no message (``Logger``,
    ``Context(...)``, ``Depends(...)``)."""
    hints, params = signature_of(func, localns)
    extras: list[Arg] = []
    for param in params[1:]:
        annotation, marker = split_annotation(hints.get(param.name, Any), param.default)
        arg = param_arg(param.name, annotation, marker, localns)
        if arg is None or isinstance(marker, (HeaderMarker, PathMarker)):
            raise SetupError(
                f"batch handler {qualname(func)}: {param.name!r} is neither the list of bodies "
                "nor a Logger, Context(...) or Depends(...) parameter; a batch handler "
                "takes the list first: async def handle(orders: list[Order], logger: "
                "Logger) -> None"
            )
        extras.append(arg)
    if not params:
        raise SetupError(
            f"batch handler {qualname(func)} must take the list of bodies: "
            "async def handle(orders: list[Order]) -> None"
        )
    annotation = hints.get(params[0].name, Any)
    origin = get_origin(annotation)
    if annotation is Any or annotation is list:
        item: Any = Any
    elif origin in (list, collections.abc.Sequence):
        (item,) = get_args(annotation) or (Any,)
    else:
        raise SetupError(
            f"batch handler {qualname(func)} takes {annotation!r}; annotate it as list[T], "
            "e.g. list[Order]: each record is validated as T"
        )
    read = reader(item)

    def extract(msg: KafkaMessage) -> Any:
        try:
            return read(msg.raw_message)
        except BODY_ERRORS as exc:
            raise decode_error(msg, exc) from exc

    spec = None
    if extras:
        target = _in_thread(func) if CallKind.of(func) is CallKind.SYNC else func
        spec = spec_of(target, [Arg(params[0].name, _the_bodies), *extras])
    return BatchPlan(
        func=func,
        extract=extract,
        call=_as_async(func),
        body_type=list[item],
        return_type=hints.get("return", Any),
        extract_records=records_reader(item),
        _spec=spec,
    )


def _the_bodies(state: State) -> Any:
    return state.body


# -- calls -----------------------------------------------------------------------


def _fast_call(func: Callable[..., Any], read: Reader) -> Callable[[KafkaMessage], Awaitable[Any]]:
    """The common case, kept to one validation and one call: a plain function
    returning the (async) handler's own coroutine, which the caller awaits
    directly, with no coroutine of ours wrapped around it per message."""

    def call(msg: KafkaMessage) -> Awaitable[Any]:
        try:
            value = read(msg.raw_message)
        except BODY_ERRORS as exc:
            raise decode_error(msg, exc) from exc
        return func(value)  # type: ignore[no-any-return]

    return call


def _general_call(
    spec: Spec,
    extra: tuple[Spec, ...],
    decoder: Callable[[KafkaMessage], Awaitable[Any]] | None,
    context: ContextRepo | None,
) -> Callable[[KafkaMessage], Awaitable[Any]]:
    """The handler called with every kind of argument; ``extra`` run first, results unused."""
    specs = (*extra, spec)
    # The decoder runs first, and only when something reads the body.
    decode = decoder if any(s.reads_body for s in specs) else None
    before = tuple((solver(dep), dep.awaits) for dep in extra)
    invoke = spec.invoke
    awaits = spec.awaits

    async def run(state: State) -> Any:
        if decode is not None:
            msg = state.msg
            try:
                state.decoded = state.body = await decode(msg)
            except BODY_ERRORS as exc:
                raise decode_error(msg, exc) from exc
        for solve, solve_awaits in before:
            value = solve(state)
            if solve_awaits:
                await value
        result = invoke(state)
        return (await result) if awaits else result

    if not any(s.needs_stack for s in specs):
        # A plain function returning run()'s coroutine: one coroutine per message.
        def call(msg: KafkaMessage) -> Awaitable[Any]:
            return run(State(msg, context))

        return call

    async def call_with_stack(msg: KafkaMessage) -> Any:
        # Closes generator dependencies after the handler, last entered first.
        async with contextlib.AsyncExitStack() as stack:
            return await run(State(msg, context, stack))

    return call_with_stack


def _untyped_call(
    func: Callable[..., Any], decoder: Callable[[KafkaMessage], Awaitable[Any]] | None
) -> Callable[[KafkaMessage], Awaitable[Any]]:
    """``func`` called with the decoded body (the decoder's, else by content type), as is."""
    target = _as_async(func)

    async def call(msg: KafkaMessage) -> Any:
        try:
            body = await (decoder(msg) if decoder is not None else msg.decode())
        except BODY_ERRORS as exc:
            raise decode_error(msg, exc) from exc
        return await target(body)

    return call


def _as_async(func: Callable[..., Any]) -> Callable[..., Awaitable[Any]]:
    return func if CallKind.of(func) is CallKind.ASYNC else _in_thread(func)


def _in_thread(func: Callable[..., Any]) -> Callable[..., Awaitable[Any]]:
    """``func`` (a plain ``def`` handler) as an ``async def`` that runs it in a worker
    thread (``asyncio.to_thread``: the default executor, context variables copied)."""

    @functools.wraps(func)
    async def in_thread(*args: Any, **kwargs: Any) -> Any:
        return await asyncio.to_thread(func, *args, **kwargs)

    return in_thread
