"""The context behind ``Context(...)`` parameters: the marker and the repository class."""

from __future__ import annotations

from topicflow._context import ContextRepo
from topicflow.params import Context

__all__ = ["Context", "ContextRepo"]
