"""A generated AsyncAPI document, and the protocol every specification object follows."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

if TYPE_CHECKING:
    from topicflow.asyncapi import AsyncAPIVersion
    from topicflow.asyncapi._model import AppInfo

__all__ = ["AsyncAPIDocument", "Specification"]


@runtime_checkable
class Specification(Protocol):
    """What ``to_specification()`` returns: a document with its title and three forms."""

    @property
    def title(self) -> str: ...

    def to_jsonable(self) -> Any: ...

    def to_json(self) -> str: ...

    def to_yaml(self) -> str: ...


class AsyncAPIDocument:
    """One AsyncAPI document of a service, in one version.

    Written once, when made; the three ``to_*`` methods only change its form.
    """

    __slots__ = ("_document", "_info", "version")

    def __init__(self, info: AppInfo, version: AsyncAPIVersion) -> None:
        from topicflow.asyncapi._render import render

        self._info = info
        #: ``"3.0.0"`` or ``"2.6.0"``.
        self.version: AsyncAPIVersion = version
        self._document = render(info, version)

    @property
    def title(self) -> str:
        """The service's title, ``info.title``."""
        return self._info.meta.title

    def to_jsonable(self) -> dict[str, Any]:
        """The document as plain dicts, lists and strings (a fresh copy each call)."""
        import copy

        document: dict[str, Any] = copy.deepcopy(self._document)
        return document

    def to_json(self) -> str:
        """The document as indented JSON text."""
        from topicflow.asyncapi._output import to_json

        return to_json(self._document)

    def to_yaml(self) -> str:
        """The document as block-style YAML text."""
        from topicflow.asyncapi._output import to_yaml

        return to_yaml(self._document)

    def to_html(self) -> str:
        """The self-contained web page of this service (from its 3.0.0 form)."""
        from topicflow.asyncapi._html import render_html
        from topicflow.asyncapi._render import render

        current = self._document if self.version == "3.0.0" else render(self._info, "3.0.0")
        return render_html(current)

    def __repr__(self) -> str:
        return f"<AsyncAPIDocument {self.version} of {self.title!r}>"
