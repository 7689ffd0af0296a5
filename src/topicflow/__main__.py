"""``python -m topicflow`` is the ``topicflow`` command."""

from __future__ import annotations

from topicflow.cli import main

main()
