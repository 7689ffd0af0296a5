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
