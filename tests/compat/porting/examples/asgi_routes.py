"""ASGI: an app with HTTP routes beside its broker, called in-process with httpx."""

import httpx
import pytest
from faststream.asgi import AsgiFastStream, AsgiResponse, Header, Request, get, make_ping_asgi, post
from faststream.kafka import KafkaBroker

broker = KafkaBroker("localhost:9092")


@get
async def hello(request: Request, name: str = Header("x-name")) -> AsgiResponse:
    page = request.query_params.get("page", ["1"])[0]
    return AsgiResponse(f"hello {name}, page {page}".encode(), status_code=200)


@post
async def echo(request: Request) -> AsgiResponse:
    return AsgiResponse(await request.body(), status_code=201)


app = AsgiFastStream(
    broker,
    asgi_routes=[
        ("/health", make_ping_asgi(broker, timeout=1.0)),
        ("/hello", hello),
        ("/echo", echo),
    ],
)


@pytest.mark.asyncio
async def test_the_routes_answer() -> None:
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://service") as client:
        response = await client.get("/hello?page=2", headers={"x-name": "kafka"})
        assert response.status_code == 200
        assert response.text == "hello kafka, page 2"
        created = await client.post("/echo", content=b"ping")
        assert (created.status_code, created.content) == (201, b"ping")
        assert (await client.get("/echo")).status_code == 405
        assert (await client.get("/missing")).status_code == 404
        # The broker was never started: not alive.
        assert (await client.get("/health")).status_code == 500
