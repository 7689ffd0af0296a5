"""``apply_types``: a handler's casting and ``Depends`` for any function, as FastStream's.

``@apply_types`` over a function validates (and converts) its arguments to
their annotations with pydantic, and fills each ``Depends(...)`` parameter not
given by calling the dependency (itself with ``apply_types``). Handlers do not
need it: topicflow compiles their signatures already.
"""

from __future__ import annotations

import functools
import inspect
from typing import TYPE_CHECKING, Any, TypeVar, overload

from pydantic import ConfigDict, validate_call

from topicflow.exceptions import SetupError
from topicflow.params import DependsMarker

if TYPE_CHECKING:
    from collections.abc import Callable

__all__ = ["DEFAULT_SERIALIZER", "apply_types", "refuse_fast_depends"]

#: The default of ``serializer=`` (FastStream's: pydantic, which is topicflow's only one).
DEFAULT_SERIALIZER: Any = object()

F = TypeVar("F", bound="Callable[..., Any]")


@overload
def apply_types(func: F, *, cast: bool = True) -> F: ...


@overload
def apply_types(func: None = None, *, cast: bool = True) -> Callable[[F], F]: ...


def apply_types(func: Any = None, *, cast: bool = True) -> Any:
    """``func`` with its arguments validated as annotated (unless ``cast=False``) and
    its ``Depends(...)`` parameters filled in; usable as ``@apply_types`` or
    ``@apply_types(cast=False)``."""
    if func is None:
        return functools.partial(apply_types, cast=cast)
    signature = inspect.signature(func)
    depends = {
        name: param.default
        for name, param in signature.parameters.items()
        if isinstance(param.default, DependsMarker)
    }
    config = ConfigDict(arbitrary_types_allowed=True)
    checked = validate_call(config=config)(func) if cast else func

    def missing(args: tuple[Any, ...], kwargs: dict[str, Any]) -> list[str]:
        given = signature.bind_partial(*args, **kwargs).arguments
        return [name for name in depends if name not in given]

    if inspect.iscoroutinefunction(func):

        @functools.wraps(func)
        async def call_async(*args: Any, **kwargs: Any) -> Any:
            for name in missing(args, kwargs):
                value = apply_types(depends[name].dependency)()
                kwargs[name] = (await value) if inspect.isawaitable(value) else value
            return await checked(*args, **kwargs)

        return call_async

    @functools.wraps(func)
    def call(*args: Any, **kwargs: Any) -> Any:
        for name in missing(args, kwargs):
            kwargs[name] = apply_types(depends[name].dependency)()
        return checked(*args, **kwargs)

    return call


def refuse_fast_depends(*, codec: Any, serializer: Any, provider: Any) -> None:
    """Raise SetupError for FastStream's hooks into fast_depends, which topicflow has not:
    a custom ``codec``, a ``serializer`` other than pydantic's, a ``provider``."""
    if codec is not None:
        raise SetupError(
            "codec= is FastStream's custom encoder/decoder, which topicflow does not take: "
            "decode with decoder= (or parser=) and publish bytes you encoded yourself"
        )
    pydantic = type(serializer).__name__ == "PydanticSerializer"
    if serializer is not DEFAULT_SERIALIZER and not pydantic:
        raise SetupError(
            f"serializer={serializer!r}: topicflow validates with pydantic only; leave "
            "serializer out, or pass apply_types=False (the decoded body, unvalidated) or "
            "annotate the parameters you want unvalidated with NoCast[...]"
        )
    if provider is not None:
        raise SetupError(
            "provider= is fast_depends' dependency provider, which topicflow's own "
            "injection does not use; leave it out"
        )
