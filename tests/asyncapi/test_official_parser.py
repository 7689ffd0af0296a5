"""The generated documents pass the official AsyncAPI parser, which can also say no."""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tests.asyncapi import service
from tests.asyncapi.conftest import SERVICE, topicflow
from topicflow import App
from topicflow.asyncapi import build_document, to_json
from topicflow.asyncapi._collect import collect
from topicflow.asyncapi._model import ChannelInfo, OperationInfo, SecurityScheme
from topicflow.asyncapi._render import render
from topicflow.kafka import KafkaBroker, Retry

Validate = Callable[[Path], dict[str, Any]]


def _report(report: dict[str, Any], artifacts: Path, name: str) -> None:
    """Print the parser's verdict and keep it next to the other artifacts."""
    text = json.dumps(report, indent=2)
    (artifacts / f"asyncapi-parser-{name}.json").write_text(text + "\n")
    print(f"\n@asyncapi/parser on {name}:\n{text}")


def _errors(report: dict[str, Any]) -> list[dict[str, Any]]:
    return [d for d in report["diagnostics"] if d["severity"] == "error"]


@pytest.mark.parametrize("version", ["3.0.0", "2.6.0"])
@pytest.mark.parametrize("fmt", ["json", "yaml"])
def test_generated_documents_are_valid(
    version: str, fmt: str, tmp_path: Path, asyncapi_parser: Validate, artifacts: Path
) -> None:
    out = tmp_path / f"asyncapi.{fmt}"
    args = ["docs", "gen", SERVICE, "--asyncapi-version", version, "--out", str(out)]
    proc = topicflow(*args, *(["--yaml"] if fmt == "yaml" else []))
    assert proc.returncode == 0, proc.stderr

    report = asyncapi_parser(out)
    _report(report, artifacts, f"{version}-{fmt}")

    assert _errors(report) == []
    assert report["valid"]
    assert report["asyncapi"] == version


def test_a_broken_document_is_reported_invalid(
    tmp_path: Path, asyncapi_parser: Validate, artifacts: Path
) -> None:
    """The check can fail: a document with known faults is rejected, naming them."""
    proc = topicflow("docs", "gen", SERVICE, "--out", "-")
    document = json.loads(proc.stdout)
    del document["info"]["version"]  # required
    document["operations"]["orders.receive.bill"]["action"] = "consume"  # not send/receive
    broken = tmp_path / "broken.json"
    broken.write_text(json.dumps(document))

    report = asyncapi_parser(broken)
    _report(report, artifacts, "broken")

    assert not report["valid"]
    paths = {d["path"] for d in _errors(report)}
    assert "info" in paths
    assert "operations/orders.receive.bill/action" in paths


@pytest.mark.parametrize("version", ["3.0.0", "2.6.0"])
def test_security_and_pattern_shapes_are_valid(
    version: Any, tmp_path: Path, asyncapi_parser: Validate, artifacts: Path
) -> None:
    """SASL over TLS and a ``{placeholder}`` address, as the writers emit them.

    Brokers take no ``security=`` and subscribers no ``pattern=`` yet; this
    checks the documents' side of both ahead of them, through the collector's
    model (see the seams in topicflow/asyncapi/_collect.py).
    """
    info = collect(service.app)
    sasl = (
        SecurityScheme("sasl-scram", "scramSha512", "SCRAM-SHA-512 over TLS"),
        SecurityScheme("sasl-plain", "plain"),
    )
    info.servers = [
        dataclasses.replace(server, protocol="kafka-secure", security=sasl)
        for server in info.servers
    ]
    logs = ChannelInfo("logs._level_", "logs.{level}", ("level",))
    logs.messages.append(info.channels[0].messages[0])
    info.channels.append(logs)
    info.operations.append(
        OperationInfo(
            "logs._level_.receive.collect",
            "receive",
            logs.key,
            (logs.messages[0].key,),
            group_id="collector",
        )
    )
    document = render(info, version)
    path = tmp_path / "secure.json"
    path.write_text(to_json(document))

    report = asyncapi_parser(path)
    _report(report, artifacts, f"{version}-security-pattern")

    assert _errors(report) == []
    schemes = document["components"]["securitySchemes"]
    assert {key: scheme["type"] for key, scheme in schemes.items()} == {
        "sasl-scram": "scramSha512",
        "sasl-plain": "plain",
    }
    if version == "3.0.0":
        channel = document["channels"]["logs._level_"]
        assert channel["address"] == "logs.{level}"
    else:
        channel = document["channels"]["logs.{level}"]
    assert list(channel["parameters"]) == ["level"]


@pytest.mark.parametrize("version", ["3.0.0", "2.6.0"])
def test_retry_and_dead_letter_channels_are_valid(
    version: Any, tmp_path: Path, asyncapi_parser: Validate, artifacts: Path
) -> None:
    """A subscriber with ``retry=`` and ``dead_letter=``: its retry topics and its
    dead-letter topic are channels of their own."""
    broker = KafkaBroker()

    @broker.subscriber("orders", group_id="billing", retry=Retry(delays=(1, 60)), dead_letter="dlq")
    async def bill(order: service.Order) -> None:
        """Bill an order."""

    document = build_document(App(broker), version)
    path = tmp_path / "retries.json"
    path.write_text(to_json(document))

    report = asyncapi_parser(path)
    _report(report, artifacts, f"{version}-retries")

    assert _errors(report) == []
    assert report["valid"]
    assert {"orders.billing.retry-1", "orders.billing.retry-2", "dlq"} <= set(document["channels"])
