"""Compiled callables: how a handler or a dependency is called once its arguments resolve.

A callable's parameters become :class:`Arg` objects (see ``topicflow._resolvers``):
each a function of the per-message :class:`State` that returns the argument, or,
when ``Arg.awaits``, an awaitable of it. :func:`spec_of` turns a callable and
its args into a :class:`Spec` whose ``invoke(state)`` calls it. When no argument
awaits, the arguments are built by one dict comprehension of plain calls, and a
sync function or generator is called without any coroutine: only async
functions, async generators and what depends on them are awaited.

Generator dependencies yield their value once; the code after the ``yield``
runs when the handler is done (also when it raised: the exception is not thrown
into the generator), last entered first, through the call's exit stack.
"""

from __future__ import annotations

import enum
import inspect
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import contextlib
    from collections.abc import Awaitable, Callable, Iterable

    from topicflow._context import ContextRepo
    from topicflow.kafka.message import KafkaMessage

__all__ = ["UNSET", "Arg", "CallKind", "Spec", "State", "solver", "spec_of"]

#: A State slot not filled yet.
UNSET: Any = object()


class CallKind(enum.Enum):
    """How a handler or a dependency is called."""

    SYNC = "sync"  #: ``f(...)`` is the value
    ASYNC = "async"  #: ``await f(...)`` is the value
    GENERATOR = "generator"  #: the one value it yields; the rest runs after the handler
    ASYNC_GENERATOR = "async generator"  #: likewise, with ``async for`` semantics

    @classmethod
    def of(cls, func: Callable[..., Any]) -> CallKind:
        """The kind of ``func`` (an object with an async ``__call__`` is async)."""
        if inspect.isasyncgenfunction(func):
            return cls.ASYNC_GENERATOR
        if inspect.isgeneratorfunction(func):
            return cls.GENERATOR
        if inspect.iscoroutinefunction(func):
            return cls.ASYNC
        if not inspect.isroutine(func) and inspect.iscoroutinefunction(type(func).__call__):
            return cls.ASYNC
        return cls.SYNC


class State:
    """One message while its arguments are built; the bound call makes it."""

    __slots__ = ("body", "cache", "context", "decoded", "model", "msg", "stack")

    def __init__(
        self,
        msg: KafkaMessage,
        context: ContextRepo | None,
        stack: contextlib.AsyncExitStack | None = None,
    ) -> None:
        self.msg = msg
        self.context = context
        #: Where generator dependencies register what runs after the handler.
        self.stack = stack
        #: Results of cached dependencies, by function.
        self.cache: dict[Any, Any] = {}
        #: The custom decoder's result.
        self.decoded: Any = UNSET
        #: The body as dependencies' body fields read it: the decoder's result,
        #: else the body decoded by content type.
        self.body: Any = UNSET
        #: The model of several body parameters, validated once.
        self.model: Any = UNSET


@dataclass(frozen=True, slots=True)
class Arg:
    """How to get one argument from a message's :class:`State`."""

    name: str
    get: Callable[[State], Any]
    #: ``get`` returns an awaitable of the argument.
    awaits: bool = False
    #: A generator dependency at some depth: the call needs an exit stack.
    needs_stack: bool = False
    #: It reads the body (with a custom decoder: the decoder's result).
    reads_body: bool = False
    #: The placeholder a ``Path()`` parameter takes.
    path_name: str | None = None


@dataclass(frozen=True, slots=True)
class Spec:
    """A compiled callable: a handler or one dependency."""

    func: Callable[..., Any]
    kind: CallKind
    args: tuple[Arg, ...]
    #: Calls ``func`` with its arguments: the result, or an awaitable of it when ``awaits``.
    invoke: Callable[[State], Any]
    awaits: bool
    needs_stack: bool
    reads_body: bool


def spec_of(func: Callable[..., Any], args: Iterable[Arg]) -> Spec:
    """The spec of ``func`` called with ``args``."""
    args = tuple(args)
    kind = CallKind.of(func)
    return Spec(
        func=func,
        kind=kind,
        args=args,
        invoke=_invoker(func, kind, args),
        awaits=kind in (CallKind.ASYNC, CallKind.ASYNC_GENERATOR) or any(a.awaits for a in args),
        needs_stack=kind in (CallKind.GENERATOR, CallKind.ASYNC_GENERATOR)
        or any(a.needs_stack for a in args),
        reads_body=any(a.reads_body for a in args),
    )


def solver(spec: Spec) -> Callable[[State], Any]:
    """``spec``'s value, computed once per message (cached by its function)."""
    key = spec.func
    invoke = spec.invoke
    if spec.awaits:

        async def solve_awaiting(state: State) -> Any:
            cache = state.cache
            if key in cache:
                return cache[key]
            value = cache[key] = await invoke(state)
            return value

        return solve_awaiting

    def solve(state: State) -> Any:
        cache = state.cache
        if key in cache:
            return cache[key]
        value = cache[key] = invoke(state)
        return value

    return solve


# -- calling ---------------------------------------------------------------------


def _invoker(
    func: Callable[..., Any], kind: CallKind, args: tuple[Arg, ...]
) -> Callable[[State], Any]:
    if any(arg.awaits for arg in args):
        return _awaiting_invoker(func, kind, args)
    pairs = tuple((arg.name, arg.get) for arg in args)
    if kind is CallKind.GENERATOR:

        def enter(state: State) -> Any:
            return _enter_generator(func(**{name: get(state) for name, get in pairs}), state)

        return enter
    if kind is CallKind.ASYNC_GENERATOR:

        def enter_async(state: State) -> Awaitable[Any]:
            gen = func(**{name: get(state) for name, get in pairs})
            return _enter_async_generator(gen, state)

        return enter_async

    # Sync: the value. Async: the function's own coroutine, awaited by the caller.
    def invoke(state: State) -> Any:
        return func(**{name: get(state) for name, get in pairs})

    return invoke


def _awaiting_invoker(
    func: Callable[..., Any], kind: CallKind, args: tuple[Arg, ...]
) -> Callable[[State], Awaitable[Any]]:
    steps = tuple((arg.name, arg.get, arg.awaits) for arg in args)

    async def invoke(state: State) -> Any:
        kwargs: dict[str, Any] = {}
        for name, get, awaits in steps:  # in parameter order, as generators must be entered
            value = get(state)
            kwargs[name] = (await value) if awaits else value
        result = func(**kwargs)
        if kind is CallKind.SYNC:
            return result
        if kind is CallKind.ASYNC:
            return await result
        if kind is CallKind.GENERATOR:
            return _enter_generator(result, state)
        return await _enter_async_generator(result, state)

    return invoke


# A generator dependency's code after its ``yield`` runs once the handler is done, also
# when it raised: the handler's exception is not thrown into the generator.
def _enter_generator(gen: Any, state: State) -> Any:
    try:
        value = next(gen)
    except StopIteration:
        raise _no_yield(gen) from None
    assert state.stack is not None  # Spec.needs_stack made the call open one
    state.stack.callback(_finish_generator, gen)
    return value


def _finish_generator(gen: Any) -> None:
    try:
        next(gen)
    except StopIteration:
        return
    gen.close()
    raise _second_yield(gen)


async def _enter_async_generator(gen: Any, state: State) -> Any:
    try:
        value = await gen.__anext__()
    except StopAsyncIteration:
        raise _no_yield(gen) from None
    assert state.stack is not None
    state.stack.push_async_callback(_finish_async_generator, gen)
    return value


async def _finish_async_generator(gen: Any) -> None:
    try:
        await gen.__anext__()
    except StopAsyncIteration:
        return
    await gen.aclose()
    raise _second_yield(gen)


def _no_yield(gen: Any) -> RuntimeError:
    return RuntimeError(
        f"dependency {gen.__qualname__} returned without yielding a value; a generator "
        "dependency yields exactly once (use return in a plain function instead)"
    )


def _second_yield(gen: Any) -> RuntimeError:
    return RuntimeError(
        f"dependency {gen.__qualname__} yielded a second time; a generator dependency "
        "yields exactly once: put the cleanup after that yield, without another one"
    )
