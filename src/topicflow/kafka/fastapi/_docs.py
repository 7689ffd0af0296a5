"""The AsyncAPI routes of a FastAPI KafkaRouter: the page ``topicflow docs serve`` serves,
and the raw documents beside it."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

from fastapi import APIRouter
from fastapi.responses import HTMLResponse, Response

from topicflow.asyncapi import render_html
from topicflow.specification.asyncapi import get_asyncapi_html

if TYPE_CHECKING:
    from topicflow.kafka.fastapi._router import KafkaRouter

__all__ = ["asyncapi_router"]


def asyncapi_router(router: KafkaRouter, schema_url: str | None) -> APIRouter | None:
    """``GET schema_url`` (the self-contained HTML page), ``schema_url.json`` and
    ``schema_url.yaml``, built from ``router.schema`` at each request; None without a URL."""
    if not schema_url:
        return None
    name = schema_url.rstrip("/").rsplit("/", 1)[-1]
    links = (("JSON", f"{name}.json"), ("YAML", f"{name}.yaml"))

    def serve_asyncapi_schema() -> HTMLResponse:
        document = router.schema.to_specification()
        if router.schema.document_version != "3.0.0":  # the page is drawn from 3.0.0
            return HTMLResponse(get_asyncapi_html(document))
        return HTMLResponse(render_html(document.to_jsonable(), links=links))

    def download_app_json_schema() -> Response:
        document = router.schema.to_specification().to_jsonable()
        return Response(json.dumps(document, indent=2), media_type="application/json")

    def download_app_yaml_schema() -> Response:
        text = router.schema.to_specification().to_yaml()
        return Response(text, media_type="application/octet-stream")

    docs = APIRouter(prefix=router.prefix, tags=["asyncapi"], deprecated=router.deprecated)
    docs.get(schema_url)(serve_asyncapi_schema)
    docs.get(f"{schema_url}.json")(download_app_json_schema)
    docs.get(f"{schema_url}.yaml")(download_app_yaml_schema)
    return docs
