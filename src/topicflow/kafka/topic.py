"""Topic: a topic name that also says how the topic is made."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from collections.abc import Mapping

__all__ = ["Topic", "topic_name_problem"]

#: What Kafka accepts as a topic name (its own check, kafka.common.internals.Topic).
_LEGAL = re.compile(r"[a-zA-Z0-9._-]{1,249}")


def topic_name_problem(name: str) -> str | None:
    """Why Kafka would refuse ``name`` as a topic name, or None when it is a valid one."""
    if _LEGAL.fullmatch(name) and name not in (".", ".."):
        return None
    if not name:
        return "a topic name cannot be empty"
    if len(name) > 249:
        return f"a topic name has at most 249 characters, {name[:30]!r}... has {len(name)}"
    return (
        f"{name!r} is not a Kafka topic name: use ASCII letters, digits, '.', '_' and '-' "
        "only (at most 249 characters, and not '.' or '..')"
    )


class Topic(str):
    """A topic name with its partition count, replication factor and configuration.

    It is a ``str``, so it stands wherever a topic name is accepted
    (``broker.subscriber(Topic("orders", num_partitions=6))``,
    ``broker.publisher(Topic(...))``). At start, the broker creates the declared
    topics that do not exist yet (an existing topic is left as it is); the
    in-memory test broker gives them their partition counts. Plain names rely on
    the cluster's automatic topic creation. ``declare=False`` names a topic made
    elsewhere (its settings then only document it, in AsyncAPI).
    """

    num_partitions: int
    replication_factor: int
    config: Mapping[str, str]
    declare: bool

    def __new__(
        cls,
        name: str,
        num_partitions: int = 1,
        replication_factor: int = 1,
        config: Mapping[str, str] | None = None,
        *,
        declare: bool = True,
    ) -> Topic:
        from topicflow.exceptions import SetupError

        if num_partitions < 1 or replication_factor < 1:
            raise SetupError(
                f"Topic({name!r}) needs num_partitions and replication_factor of at least 1"
            )
        topic = super().__new__(cls, name)
        topic.num_partitions = num_partitions
        topic.replication_factor = replication_factor
        topic.config = dict(config or {})
        topic.declare = declare
        return topic

    def renamed(self, name: str) -> Topic:
        """The same declaration under another name (a router's prefix in front)."""
        return Topic(
            name, self.num_partitions, self.replication_factor, self.config, declare=self.declare
        )

    def __repr__(self) -> str:
        return (
            f"Topic({str(self)!r}, num_partitions={self.num_partitions}, "
            f"replication_factor={self.replication_factor})"
        )

    def __reduce__(self) -> Any:
        args = (str(self), self.num_partitions, self.replication_factor, self.config)
        return Topic._restore, (*args, self.declare)

    @classmethod
    def _restore(
        cls, name: str, partitions: int, replication: int, config: Any, declare: bool
    ) -> Topic:
        return cls(name, partitions, replication, config, declare=declare)
