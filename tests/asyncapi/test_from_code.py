"""AsyncAPI from code, as FastStream users write it: ``specification=AsyncAPI(...)``,
``app.schema.to_specification().to_jsonable()``."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.asyncapi import spec_service
from tests.asyncapi.conftest import topicflow
from topicflow import App, SetupError
from topicflow.asyncapi import build_document
from topicflow.kafka import KafkaBroker
from topicflow.specification import AsyncAPI, Specification, Tag, get_asyncapi_html

Validate = Callable[[Path], dict[str, Any]]
SPEC_SERVICE = "tests.asyncapi.spec_service:app"

CONTACT = {
    "name": "Billing team",
    "url": "https://example.com/billing",
    "email": "bill@example.com",
}
LICENSE = {"name": "Apache-2.0", "url": "https://www.apache.org/licenses/LICENSE-2.0"}
TAGS = [
    {
        "name": "billing",
        "description": "Invoices",
        "externalDocs": {"url": "https://example.com/tags"},
    },
    {"name": "orders"},
]
DOCS = {"url": "https://example.com/docs", "description": "The handbook"}


def test_the_public_names_are_where_faststream_has_them() -> None:
    import topicflow
    import topicflow.specification.asyncapi as asyncapi_module
    from topicflow.specification.schema import Contact, ExternalDocs, License

    assert topicflow.AsyncAPI is AsyncAPI
    assert asyncapi_module.AsyncAPI is AsyncAPI
    assert asyncapi_module.get_asyncapi_html is get_asyncapi_html
    assert topicflow.specification.Contact is Contact
    assert topicflow.specification.ExternalDocs is ExternalDocs
    assert topicflow.specification.License is License


def test_to_specification_gives_the_document_in_three_forms() -> None:
    spec = spec_service.app.schema.to_specification()
    assert isinstance(spec, Specification)
    assert spec.title == "Billing"
    document = spec.to_jsonable()
    assert document["asyncapi"] == "3.0.0"
    assert document["id"] == "urn:example:billing"
    assert document["info"] == {
        "title": "Billing",
        "version": "1.2.0",
        "description": "Bills orders.",
        "termsOfService": "https://example.com/terms",
        "contact": CONTACT,
        "license": LICENSE,
        "tags": TAGS,
        "externalDocs": DOCS,
    }
    assert json.loads(spec.to_json()) == document
    assert yaml.safe_load(spec.to_yaml()) == document
    # The same document as build_document() and `topicflow docs gen` write.
    assert build_document(spec_service.app) == document
    assert document["operations"]["orders.receive.bill"]["action"] == "receive"


def test_schema_version_2_6_moves_tags_and_docs_to_the_top() -> None:
    spec = AsyncAPI(spec_service.broker, **_fields(), schema_version="2.6.0")
    document = spec.to_specification().to_jsonable()
    assert document["asyncapi"] == "2.6.0"
    assert document["info"] == {
        "title": "Billing",
        "version": "1.2.0",
        "description": "Bills orders.",
        "termsOfService": "https://example.com/terms",
        "contact": CONTACT,
        "license": LICENSE,
    }
    assert (document["id"], document["tags"], document["externalDocs"]) == (
        "urn:example:billing",
        TAGS,
        DOCS,
    )
    assert "orders" in document["channels"]


def _fields() -> dict[str, Any]:
    spec = spec_service.SPEC
    names = ("title", "version", "description", "terms_of_service", "contact", "license")
    fields = {name: getattr(spec, name) for name in names}
    return fields | {
        "tags": spec.tags,
        "external_docs": spec.external_docs,
        "identifier": spec.identifier,
    }


def test_an_app_adds_its_brokers_to_the_specification() -> None:
    broker = KafkaBroker("a:9092")

    @broker.subscriber("events")
    async def handle(n: int) -> None: ...

    spec = AsyncAPI(title="Events")
    app = App(broker, specification=spec)
    assert app.schema is spec
    assert spec.brokers == [broker]
    assert app.title == "Events"
    document = spec.to_specification().to_jsonable()
    assert list(document["channels"]) == ["events"]
    assert document["servers"]["kafka-0"]["host"] == "a:9092"


def test_without_a_specification_the_apps_own_arguments_describe_it() -> None:
    app = App(KafkaBroker(), title="Shop", version="2.0", description="Sells.", tags=["a"])
    assert isinstance(app.schema, AsyncAPI)
    info = app.schema.to_specification().to_jsonable()["info"]
    assert info == {
        "title": "Shop",
        "version": "2.0",
        "description": "Sells.",
        "tags": [{"name": "a"}],
    }
    assert App().schema.to_specification().to_jsonable()["info"] == {
        "title": "topicflow",
        "version": "0.1.0",
    }


def test_describing_the_app_twice_is_a_setup_error() -> None:
    with pytest.raises(SetupError, match=r"App\(title=\.\.\., version=\.\.\.\) and specification="):
        App(title="A", version="1", specification=AsyncAPI())


@pytest.mark.parametrize(
    ("fields", "expected"),
    [
        ({"tags": [{"description": "nameless"}]}, "tag .* has no 'name'"),
        ({"tags": [Tag(name="")]}, "has no 'name'"),
        ({"contact": {"url": "https://x"}}, "contact .* has no 'name'"),
        ({"external_docs": {"description": "where?"}}, "external_docs .* has no 'url'"),
        ({"license": 3}, "license 3 is a int"),
        ({"schema_version": "4.0.0"}, "schema_version '4.0.0' is not supported"),
    ],
)
def test_faulty_fields_fail_where_they_are_written(fields: dict[str, Any], expected: str) -> None:
    with pytest.raises(SetupError, match=expected):
        AsyncAPI(**fields)


def test_get_asyncapi_html_is_the_self_contained_page() -> None:
    for version in ("3.0.0", "2.6.0"):
        spec = AsyncAPI(spec_service.broker, title="Billing", schema_version=version)
        page = get_asyncapi_html(spec.to_specification(), sidebar=False)
        assert page.startswith("<!DOCTYPE html>") or page.lstrip().lower().startswith("<!doctype")
        assert "Billing" in page
        assert "orders" in page
        assert "<script" not in page


def test_docs_gen_writes_the_version_the_specification_asks_for(tmp_path: Path) -> None:
    (tmp_path / "legacy.py").write_text(
        "from topicflow import App\n"
        "from topicflow.kafka import KafkaBroker\n"
        "from topicflow.specification import AsyncAPI\n"
        "broker = KafkaBroker('k:9092')\n"
        "app = App(broker, specification=AsyncAPI(title='Old', schema_version='2.6.0'))\n"
        "@broker.subscriber('t')\n"
        "async def h(n: int) -> None: ...\n"
    )
    out = tmp_path / "doc.json"
    proc = topicflow("docs", "gen", "legacy:app", "--app-dir", str(tmp_path), "--out", str(out))
    assert proc.returncode == 0, proc.stderr
    assert json.loads(out.read_text())["asyncapi"] == "2.6.0"
    # --asyncapi-version still wins.
    proc = topicflow(
        "docs",
        "gen",
        "legacy:app",
        "--app-dir",
        str(tmp_path),
        "--out",
        str(out),
        "--asyncapi-version",
        "3.0.0",
    )
    assert proc.returncode == 0, proc.stderr
    assert json.loads(out.read_text())["asyncapi"] == "3.0.0"


@pytest.mark.parametrize("version", ["3.0.0", "2.6.0"])
def test_documents_from_code_pass_the_official_parser(
    version: str, tmp_path: Path, asyncapi_parser: Validate, artifacts: Path
) -> None:
    spec = AsyncAPI(spec_service.broker, **_fields(), schema_version=version)
    path = tmp_path / "from-code.json"
    path.write_text(spec.to_specification().to_json())

    report = asyncapi_parser(path)
    (artifacts / f"asyncapi-parser-from-code-{version}.json").write_text(
        json.dumps(report, indent=2)
    )

    errors = [d for d in report["diagnostics"] if d["severity"] == "error"]
    assert errors == []
    assert report["valid"]
    assert report["asyncapi"] == version
    # With id, contact and license given, the parser has nothing left to miss about them.
    warned = " ".join(str(d.get("message", "")) for d in report["diagnostics"])
    assert "contact" not in warned.lower()
    assert "license" not in warned.lower()
