"""The ``topicflow`` command line."""

from __future__ import annotations

from topicflow.cli.main import cli, main

__all__ = ["cli", "main"]
