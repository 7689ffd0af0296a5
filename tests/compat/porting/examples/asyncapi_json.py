"""AsyncAPI from code: the document as JSON text, and an AsyncAPI 2.6 document."""

import json

from faststream import FastStream
from faststream.kafka import KafkaBroker
from faststream.specification import AsyncAPI

broker = KafkaBroker("localhost:9092")


@broker.subscriber("events")
async def on_event(body: str) -> None:
    pass


def test_json_text_of_both_versions() -> None:
    app3 = FastStream(broker, specification=AsyncAPI(title="Events"))
    doc3 = json.loads(app3.schema.to_specification().to_json())
    assert doc3["asyncapi"].startswith("3.")
    app2 = FastStream(broker, specification=AsyncAPI(title="Events", schema_version="2.6.0"))
    doc2 = app2.schema.to_specification().to_jsonable()
    assert doc2["asyncapi"] == "2.6.0"
    assert doc2["info"]["title"] == "Events"
