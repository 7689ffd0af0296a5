"""The public surface: complete, sorted ``__all__`` lists that import cleanly."""

from __future__ import annotations

import importlib

import pytest

MODULES = [
    "topicflow",
    "topicflow.annotations",
    "topicflow.asgi",
    "topicflow.asyncapi",
    "topicflow.context",
    "topicflow.exceptions",
    "topicflow.kafka",
    "topicflow.kafka.annotations",
    "topicflow.kafka.broker",
    "topicflow.kafka.exceptions",
    "topicflow.kafka.fastapi",
    "topicflow.kafka.message",
    "topicflow.kafka.opentelemetry",
    "topicflow.kafka.prometheus",
    "topicflow.kafka.publisher",
    "topicflow.kafka.response",
    "topicflow.kafka.schemas",
    "topicflow.kafka.security",
    "topicflow.message",
    "topicflow.middlewares",
    "topicflow.opentelemetry",
    "topicflow.params",
    "topicflow.prometheus",
    "topicflow.response",
    "topicflow.security",
    "topicflow.types",
]


@pytest.mark.parametrize("name", MODULES)
def test_all_is_sorted_and_importable(name: str) -> None:
    module = importlib.import_module(name)
    exported = module.__all__
    assert exported == sorted(exported)
    for item in exported:
        assert hasattr(module, item), item


def test_only_the_transport_imports_aiokafka() -> None:
    import pathlib

    import topicflow

    root = pathlib.Path(topicflow.__file__).parent
    importers = sorted(
        str(path.relative_to(root))
        for path in root.rglob("*.py")
        if "import aiokafka" in path.read_text() or "from aiokafka" in path.read_text()
    )
    assert importers == ["kafka/_transport.py"]
