"""What the AsyncAPI documents say about an app: channels, operations, messages, info."""

from __future__ import annotations

import json
from typing import Any

import pytest
import yaml
from pydantic import BaseModel, computed_field

from tests.asyncapi import service
from tests.asyncapi.conftest import SERVICE, topicflow
from topicflow import App
from topicflow.asyncapi import build_document, render_html, to_json, to_yaml, versions
from topicflow.asyncapi._collect import pattern_address
from topicflow.kafka import KafkaBroker


class Priced(BaseModel):
    net: float

    @computed_field
    @property
    def gross(self) -> float:
        return self.net * 1.2


class _One:
    class Event(BaseModel):
        a: int


class _Two:
    class Event(BaseModel):
        b: int


def _doc(*brokers: KafkaBroker, version: Any = "3.0.0", **app: Any) -> dict[str, Any]:
    return build_document(App(*brokers, **app), version)


def _op(doc: dict[str, Any], key: str) -> dict[str, Any]:
    operation: dict[str, Any] = doc["operations"][key]
    return operation


def _payload(doc: dict[str, Any], op_key: str) -> dict[str, Any]:
    """The payload schema of an operation's (first) message, following the $refs."""
    ref = _op(doc, op_key)["messages"][0]["$ref"]
    channel, message = ref.split("/")[2], ref.split("/")[4]
    message_ref = doc["channels"][channel]["messages"][message]["$ref"]
    payload: dict[str, Any] = doc["components"]["messages"][message_ref.split("/")[-1]]["payload"]
    return payload


def _refs(node: Any) -> list[str]:
    if isinstance(node, dict):
        found = [node["$ref"]] if isinstance(node.get("$ref"), str) else []
        return found + [ref for value in node.values() for ref in _refs(value)]
    if isinstance(node, list):
        return [ref for value in node for ref in _refs(value)]
    return []


def _resolves(doc: dict[str, Any], ref: str) -> bool:
    node: Any = doc
    for part in ref.removeprefix("#/").split("/"):
        if not isinstance(node, dict) or part not in node:
            return False
        node = node[part]
    return True


# -- channels ----------------------------------------------------------------------


def test_channel_addresses_are_the_real_topics() -> None:
    v3 = build_document(service.app)
    v2 = build_document(service.app, "2.6.0")

    addresses = [channel["address"] for channel in v3["channels"].values()]
    assert sorted(addresses) == sorted(service.DOCUMENTED_TOPICS)
    assert sorted(v2["channels"]) == sorted(service.DOCUMENTED_TOPICS)
    for hidden in service.HIDDEN_TOPICS:
        assert hidden not in addresses
        assert hidden not in v2["channels"]


def test_one_channel_per_topic_shared_by_its_operations() -> None:
    broker = KafkaBroker()

    @broker.subscriber("a", "b", group_id="g1")
    async def first(n: int) -> None: ...

    @broker.subscriber("a", group_id="g2")
    async def second(n: int) -> None: ...

    doc = _doc(broker)
    assert [c["address"] for c in doc["channels"].values()] == ["a", "b"]
    on_a = [k for k, op in doc["operations"].items() if op["channel"]["$ref"] == "#/channels/a"]
    assert on_a == ["a.receive.first", "a.receive.second"]

    # 2.x holds one operation per direction: both groups are in it.
    publish = _doc(broker, version="2.6.0")["channels"]["a"]["publish"]
    assert publish["bindings"]["kafka"]["groupId"] == {"type": "string", "enum": ["g1", "g2"]}


def test_every_ref_resolves_and_no_defs_are_left_behind() -> None:
    for version in versions():
        doc = build_document(service.app, version)
        assert "$defs" not in json.dumps(doc)
        refs = _refs(doc)
        assert refs
        assert [ref for ref in refs if not _resolves(doc, ref)] == []


# -- operations --------------------------------------------------------------------


def test_operations_receive_and_send_with_kafka_bindings() -> None:
    doc = build_document(service.app)
    bill = _op(doc, "orders.receive.bill")
    assert bill["action"] == "receive"
    assert bill["bindings"]["kafka"] == {
        "groupId": {"type": "string", "enum": ["billing"]},
        "clientId": {"type": "string", "enum": ["shop-service"]},
        "bindingVersion": "0.5.0",
    }
    invoices = _op(doc, "invoices.send.bill")
    assert invoices["action"] == "send"
    assert "groupId" not in invoices["bindings"]["kafka"]

    v2 = build_document(service.app, "2.6.0")
    assert v2["channels"]["orders"]["publish"]["bindings"]["kafka"]["bindingVersion"] == "0.4.0"
    assert v2["channels"]["invoices"]["subscribe"]["operationId"] == "invoices.send.bill"


def test_client_id_only_when_the_broker_sets_one() -> None:
    broker = KafkaBroker()

    @broker.subscriber("t")
    async def handle(n: int) -> None: ...

    assert _op(_doc(broker), "t.receive.handle")["bindings"]["kafka"] == {"bindingVersion": "0.5.0"}


def test_title_and_description_default_to_the_docstring() -> None:
    broker = KafkaBroker()

    @broker.subscriber("t", title="Handle it")
    async def documented(n: int) -> None:
        """From the docstring.

        Second paragraph.
        """

    @broker.subscriber("u", description="Given explicitly")
    async def explicit(n: int) -> None:
        """Not this."""

    @broker.subscriber("v")
    async def bare(n: int) -> None: ...

    doc = _doc(broker)
    first = _op(doc, "t.receive.documented")
    assert first["title"] == "Handle it"
    assert first["description"] == "From the docstring.\n\nSecond paragraph."
    assert _op(doc, "u.receive.explicit")["description"] == "Given explicitly"
    assert "description" not in _op(doc, "v.receive.bare")
    assert "title" not in _op(doc, "v.receive.bare")
    assert _doc(broker, version="2.6.0")["channels"]["t"]["publish"]["summary"] == "Handle it"


def test_include_in_schema_false_hides_subscribers_and_publishers() -> None:
    broker = KafkaBroker()
    hidden = broker.publisher("hidden-out", include_in_schema=False)

    @broker.subscriber("in")
    @hidden
    @broker.publisher("out")
    async def handle(n: int) -> int:
        return n

    @broker.subscriber("secret", include_in_schema=False)
    async def secret(n: int) -> None: ...

    doc = _doc(broker)
    assert list(doc["operations"]) == ["in.receive.handle", "out.send.handle"]
    assert [c["address"] for c in doc["channels"].values()] == ["in", "out"]


# -- messages ----------------------------------------------------------------------


def test_payloads_come_from_the_handler_types_with_models_in_components() -> None:
    doc = build_document(service.app)
    assert _payload(doc, "orders.receive.bill") == {"$ref": "#/components/schemas/Order"}
    schemas = doc["components"]["schemas"]
    order = schemas["Order"]
    assert order["required"] == ["id", "customer", "lines", "placed_at"]
    assert order["properties"]["customer"] == {"$ref": "#/components/schemas/Customer"}
    assert schemas["Customer"]["properties"]["address"] == {"$ref": "#/components/schemas/Address"}
    assert schemas["Shipment"]["properties"]["eta"]["format"] == "date-time"  # a dataclass
    assert _payload(doc, "payments.receive.pay") == {"$ref": "#/components/schemas/pay_body"}
    assert schemas["pay_body"]["required"] == ["order_id", "amount"]


def test_content_types_follow_the_wire_format() -> None:
    doc = build_document(service.app)
    messages = doc["components"]["messages"]
    assert messages["NoteMessage"]["contentType"] == "text/plain"
    assert messages["RawMessage"]["contentType"] == "application/octet-stream"
    assert "contentType" not in messages["Order"]  # the default: application/json
    assert doc["defaultContentType"] == "application/json"


def test_messages_say_where_the_correlation_id_is() -> None:
    for version in versions():
        for message in build_document(service.app, version)["components"]["messages"].values():
            assert message["correlationId"]["location"] == "$message.header#/correlation_id"
            assert "correlation_id" in message["headers"]["properties"]


def test_publisher_payload_from_schema_else_return_annotation() -> None:
    doc = build_document(service.app)
    # schema= wins over the handler's `-> dict[str, object]`.
    notices = _payload(doc, "shipment.notices.send.ship")
    assert notices == {"$ref": "#/components/schemas/ShipmentNotice"}
    # `-> Invoice | None`: returning None publishes nothing, so the payload is Invoice.
    assert _payload(doc, "invoices.send.bill") == {"$ref": "#/components/schemas/Invoice"}
    assert _payload(doc, "alerts.send") == {"$ref": "#/components/schemas/Alert"}


def test_published_payloads_use_the_serialised_form() -> None:
    broker = KafkaBroker()

    @broker.subscriber("in")
    @broker.publisher("out")
    async def price(item: Priced) -> Priced:
        return item

    doc = _doc(broker)
    received = doc["components"]["schemas"][_payload(doc, "in.receive.price")["$ref"][21:]]
    sent = doc["components"]["schemas"][_payload(doc, "out.send.price")["$ref"][21:]]
    assert "gross" not in received["properties"]
    assert "gross" in sent["properties"]


def test_unknown_payloads_are_any() -> None:
    broker = KafkaBroker()
    loose = broker.publisher("loose")

    @broker.subscriber("in")
    @loose
    async def untyped(body, other):
        return body

    class Opaque:
        pass

    broker.publisher("opaque", schema=Opaque)
    doc = _doc(broker)
    assert _payload(doc, "loose.send.untyped") == {}
    assert "no JSON Schema" in _payload(doc, "opaque.send")["description"]


def test_models_with_the_same_name_stay_apart() -> None:
    broker = KafkaBroker()

    @broker.subscriber("one")
    async def one(event: _One.Event) -> None: ...

    @broker.subscriber("two")
    async def two(event: _Two.Event) -> None: ...

    doc = _doc(broker)
    one_ref, two_ref = _payload(doc, "one.receive.one"), _payload(doc, "two.receive.two")
    assert one_ref != two_ref
    schemas = doc["components"]["schemas"]
    assert list(schemas[one_ref["$ref"][21:]]["properties"]) == ["a"]
    assert list(schemas[two_ref["$ref"][21:]]["properties"]) == ["b"]


# -- servers and info --------------------------------------------------------------


def test_servers_are_the_bootstrap_servers() -> None:
    v3, v2 = build_document(service.app), build_document(service.app, "2.6.0")
    assert [(s["host"], s["protocol"]) for s in v3["servers"].values()] == [
        ("127.0.0.1:9092", "kafka-secure"),  # SASL over TLS
        ("127.0.0.1:9093", "kafka-secure"),
    ]
    assert [s["url"] for s in v2["servers"].values()] == ["127.0.0.1:9092", "127.0.0.1:9093"]


def test_channels_name_their_cluster_when_the_app_has_two() -> None:
    east, west = KafkaBroker("east:9092"), KafkaBroker(["west-1:9092", "west-2:9092"])

    @east.subscriber("t")
    async def on_east(n: int) -> None: ...

    @west.subscriber("t")
    async def on_west(n: int) -> None: ...

    doc = _doc(east, west)
    assert [s["host"] for s in doc["servers"].values()] == [
        "east:9092",
        "west-1:9092",
        "west-2:9092",
    ]
    servers = [c["servers"] for c in doc["channels"].values()]
    assert servers == [
        [{"$ref": "#/servers/kafka-0"}],
        [{"$ref": "#/servers/kafka-1"}, {"$ref": "#/servers/kafka-2"}],
    ]
    assert [c["address"] for c in doc["channels"].values()] == ["t", "t"]
    # 2.x keys channels by address: one channel, on every server that has it.
    assert _doc(east, west, version="2.6.0")["channels"]["t"]["servers"] == [
        "kafka-0",
        "kafka-1",
        "kafka-2",
    ]


def test_info_has_the_apps_title_version_description_and_tags() -> None:
    tags = [{"name": "orders"}, {"name": "billing", "description": "Invoices and payments"}]
    v3 = build_document(service.app)
    assert v3["info"] == {
        "title": "Shop",
        "version": "2.1.0",
        "description": "Takes orders, bills them and ships them.",
        "tags": tags,
    }
    v2 = build_document(service.app, "2.6.0")
    assert "tags" not in v2["info"]
    assert v2["tags"] == tags


def test_pattern_addresses_name_their_placeholders() -> None:
    address = pattern_address("logs.{level}.{region}")
    assert (address.address, address.parameters) == ("logs.{level}.{region}", ("level", "region"))
    # Regex repetition is not a placeholder.
    assert pattern_address(r"logs\.[a-z]{2,5}").parameters == ()


# -- output and the command line ---------------------------------------------------


def test_yaml_and_json_say_the_same() -> None:
    for version in versions():
        doc = build_document(service.app, version)
        assert yaml.safe_load(to_yaml(doc)) == json.loads(to_json(doc)) == doc
        assert "&id" not in to_yaml(doc)  # no anchors: a plain tree


def test_docs_gen_writes_json_yaml_and_files(tmp_path: Any) -> None:
    as_json = topicflow("docs", "gen", SERVICE, "--out", "-")
    assert as_json.returncode == 0, as_json.stderr
    assert json.loads(as_json.stdout)["asyncapi"] == "3.0.0"

    as_yaml = topicflow("docs", "gen", SERVICE, "-y", "-d", "--asyncapi-version", "2.6.0")
    assert yaml.safe_load(as_yaml.stdout)["asyncapi"] == "2.6.0"

    out = tmp_path / "api.yaml"
    written = topicflow("docs", "gen", SERVICE, "--yaml", "--out", str(out))
    assert written.returncode == 0
    assert written.stdout == ""
    assert str(out) in written.stderr
    assert yaml.safe_load(out.read_text()) == json.loads(as_json.stdout)


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (("no_such_module:app",), "cannot import 'no_such_module'"),
        (("tests.asyncapi.service:nothing",), "has no attribute 'nothing'"),
        (("tests.asyncapi.service:broker",), "not a topicflow App"),
        ((SERVICE, "--asyncapi-version", "1.0.0"), "'1.0.0' is not one of"),
        ((SERVICE, "--out", "/nonexistent-topicflow/api.json"), "cannot write"),
    ],
)
def test_docs_gen_errors_are_one_line(args: tuple[str, ...], expected: str) -> None:
    proc = topicflow("docs", "gen", *args)
    assert proc.returncode != 0
    assert expected in proc.stderr
    assert "Traceback" not in proc.stderr
    assert len([line for line in proc.stderr.splitlines() if line.startswith("Error")]) == 1


def test_the_page_is_rendered_from_a_3_0_document_only() -> None:
    with pytest.raises(ValueError, match=r"3\.0\.0"):
        render_html(build_document(service.app, "2.6.0"))


def test_routers_patterns_batches_and_security_are_documented() -> None:
    from tests.asyncapi.service import app
    from topicflow.asyncapi import build_document

    doc = build_document(app)
    addresses = {channel["address"]: channel for channel in doc["channels"].values()}
    assert "warehouse.stock" in addresses  # the router's prefix
    assert "warehouse.restock" in addresses  # a router publisher gets the prefix too
    pattern = addresses["warehouse.logs.{service}"]
    assert set(pattern["parameters"]) == {"service"}
    # A batch subscriber's message describes one record, not the list.
    [stock_message] = addresses["warehouse.stock"]["messages"].values()
    ref = stock_message.get("$ref") or stock_message["payload"]["$ref"]
    message = doc["components"]["messages"][ref.rsplit("/", 1)[-1]] if "messages/" in ref else {}
    payload_ref = (message.get("payload") or stock_message.get("payload") or {}).get("$ref", "")
    assert payload_ref.endswith("/StockLevel")
    [server] = list(doc["servers"].values())[:1]
    assert server["protocol"] == "kafka-secure"
    assert doc["components"]["securitySchemes"]["sasl-scram-sha-512"]["type"] == "scramSha512"
