"""``AsyncAPI(...)``: describe a service once, get its AsyncAPI document from code.

Example::

    broker = KafkaBroker("kafka:9092")
    app = App(broker, specification=AsyncAPI(title="Billing", version="1.2.0"))
    document = app.schema.to_specification().to_jsonable()
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Literal

from topicflow.exceptions import SetupError
from topicflow.specification._document import AsyncAPIDocument

if TYPE_CHECKING:
    from collections.abc import Sequence

    from topicflow.asyncapi import AsyncAPIVersion
    from topicflow.asyncapi._model import AppMeta
    from topicflow.kafka.broker.broker import KafkaBroker
    from topicflow.specification._document import Specification
    from topicflow.specification._extra import (
        Contact,
        ContactDict,
        ExternalDocs,
        ExternalDocsDict,
        License,
        LicenseDict,
        Tag,
        TagDict,
    )

__all__ = ["AsyncAPI", "get_asyncapi_html"]


class AsyncAPI:
    """The AsyncAPI description of a service: its brokers plus what describes it.

    Give it to ``App(broker, specification=AsyncAPI(...))`` (the app adds its
    brokers), or name the brokers here: ``AsyncAPI(broker, title=...)``.
    ``schema_version`` is the version :meth:`to_specification` writes: ``"3.0.0"``
    (the default) or ``"2.6.0"``. Contact, license, tags and external docs are the
    dataclasses of :mod:`topicflow.specification` or mappings with the same keys;
    a tag may also be a plain name. A missing required field (a tag's or contact's
    ``name``, a link's ``url``) or an unknown version is a :class:`SetupError` here.
    """

    def __init__(
        self,
        /,
        *brokers: KafkaBroker,
        title: str = "topicflow",
        version: str = "0.1.0",
        description: str | None = None,
        terms_of_service: str | None = None,
        license: License | LicenseDict | dict[str, Any] | None = None,
        contact: Contact | ContactDict | dict[str, Any] | None = None,
        tags: Sequence[Tag | TagDict | dict[str, Any] | str] = (),
        external_docs: ExternalDocs | ExternalDocsDict | dict[str, Any] | None = None,
        identifier: str | None = None,
        schema_version: Literal["3.0.0", "2.6.0"] | str = "3.0.0",
    ) -> None:
        self.title = title
        self.version = version
        self.description = description
        self.terms_of_service = terms_of_service
        self.license = license
        self.contact = contact
        self.tags = tuple(tags)
        self.external_docs = external_docs
        self.identifier = identifier
        self.schema_version = schema_version
        self.meta()  # a faulty field fails here, where it was written
        self.brokers: list[KafkaBroker] = []
        for broker in brokers:
            self.add_broker(broker)

    def add_broker(self, broker: KafkaBroker, /) -> AsyncAPI:
        """Document ``broker`` too (once, however often it is added)."""
        if broker not in self.brokers:
            self.brokers.append(broker)
        return self

    @property
    def document_version(self) -> AsyncAPIVersion:
        """The AsyncAPI version :meth:`to_specification` writes: "3.0.0" or "2.6.0"."""
        return _version(self.schema_version)

    def to_specification(self) -> Specification:
        """The document of the brokers as they are declared now, in ``schema_version``.

        Nothing is started or connected.
        """
        from topicflow.asyncapi._collect import collect

        return AsyncAPIDocument(collect(self), self.document_version)

    def meta(self) -> AppMeta:
        """What describes the service, in the document's shape (validated)."""
        from topicflow.asyncapi._model import AppMeta, TagInfo
        from topicflow.specification._extra import jsonable

        _version(self.schema_version)
        tags = []
        for tag in self.tags:
            fields = jsonable("tag", tag)
            tags.append(
                TagInfo(fields["name"], fields.get("description", ""), fields.get("externalDocs"))
            )
        return AppMeta(
            title=self.title,
            version=self.version,
            description=self.description or "",
            tags=tuple(tags),
            terms_of_service=str(self.terms_of_service) if self.terms_of_service else None,
            contact=jsonable("contact", self.contact) if self.contact is not None else None,
            license=jsonable("license", self.license) if self.license is not None else None,
            external_docs=(
                jsonable("external_docs", self.external_docs)
                if self.external_docs is not None
                else None
            ),
            identifier=self.identifier,
        )

    def __repr__(self) -> str:
        return f"AsyncAPI(title={self.title!r}, schema_version={self.schema_version!r})"


def _version(schema_version: str) -> AsyncAPIVersion:
    """The version topicflow writes for ``schema_version`` ("3.0"/"3.0.0", "2.6"/"2.6.0")."""
    if schema_version in ("3.0.0", "3.0", "3"):
        return "3.0.0"
    if schema_version in ("2.6.0", "2.6"):
        return "2.6.0"
    raise SetupError(
        f"AsyncAPI schema_version {schema_version!r} is not supported; use '3.0.0' or '2.6.0'"
    )


def get_asyncapi_html(
    schema: Specification,
    sidebar: bool = True,
    info: bool = True,
    servers: bool = True,
    operations: bool = True,
    messages: bool = True,
    schemas: bool = True,
    errors: bool = True,
    expand_message_examples: bool = True,
    asyncapi_js_url: str = "",
    asyncapi_css_url: str = "",
    try_it_out_plugin_url: str = "",
    try_it_out_path: str | None = None,
) -> str:
    """The web page of ``schema`` (a document from :meth:`AsyncAPI.to_specification`).

    The page is rendered here, self-contained: no scripts, styles or fonts are loaded
    from anywhere, so the keyword arguments that choose a viewer's sections and its
    script URLs are accepted and have no effect.
    """
    if not isinstance(schema, AsyncAPIDocument):
        from topicflow.asyncapi._html import render_html

        return render_html(schema.to_jsonable())
    return schema.to_html()
