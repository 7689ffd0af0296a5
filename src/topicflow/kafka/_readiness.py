"""Readiness: whether a broker does the work it was started for, and if not, why.

:meth:`KafkaBroker.ready() <topicflow.kafka.KafkaBroker.ready>` gives a
:class:`Readiness`. A broker is ready when it is connected, its cluster
answers, and every subscriber runs, with no crashed task, and consumes what it
should: a group member once the group assigned it partitions. A member that
was assigned none (more members than partitions) is idle, and ready: it
consumes what it should, nothing. A member between a revoke and the next
assignment (a rebalance, or joining) is not ready.
"""

from __future__ import annotations

import dataclasses
from typing import Any

__all__ = ["Readiness"]


@dataclasses.dataclass(frozen=True, slots=True)
class Readiness:
    """What :meth:`KafkaBroker.ready` found: ready, or the list of what is not.

    True in a boolean context when ready. ``as_dict()`` is the JSON body a
    readiness route answers with (``{"ready": false, "problems": [...]}``).
    """

    #: One line per thing that is not ready; empty when all is.
    problems: tuple[str, ...] = ()

    @property
    def ready(self) -> bool:
        """True when nothing is wrong."""
        return not self.problems

    def __bool__(self) -> bool:
        return not self.problems

    def as_dict(self) -> dict[str, Any]:
        """``{"ready": bool, "problems": [str, ...]}``."""
        return {"ready": not self.problems, "problems": list(self.problems)}
