"""App settings that describe the service (its AsyncAPI title, version, tags)."""

from __future__ import annotations

import pytest

from topicflow import App, SetupError


def test_tags_are_names_or_mappings_with_a_name() -> None:
    app = App(tags=["orders", {"name": "billing", "description": "Invoices"}])
    assert app.tags == ("orders", {"name": "billing", "description": "Invoices"})
    assert App().tags == ()


def test_a_tag_without_a_name_is_a_setup_error() -> None:
    with pytest.raises(SetupError, match="no 'name'"):
        App(tags=[{"description": "nameless"}])


async def test_hooks_get_the_context_and_the_app_shows_its_broker() -> None:
    from topicflow import App, ContextRepo
    from topicflow.kafka import KafkaBroker, TestKafkaBroker
    from topicflow.testing import TestApp

    broker = KafkaBroker()
    app = App(broker)
    seen: list[object] = []

    @app.on_startup
    async def configure(context: ContextRepo, env: str = "prod") -> None:
        context.set_global("env", env)
        seen.append(context)

    async with TestKafkaBroker(broker), TestApp(app, run_extra_options={"env": "test"}):
        assert app.broker is broker
        assert app.context is broker.context
        assert app.context.get("env") == "test"
    assert seen == [broker.context]
