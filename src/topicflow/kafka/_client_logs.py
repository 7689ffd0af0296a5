"""The Kafka client's log records of a healthy start, demoted to DEBUG.

On a topic's first use the cluster creates it, and on a cluster's first consumer
group it creates the offsets topic; meanwhile aiokafka logs at ERROR (or
WARNING) what it then retries and gets right a moment later::

    ERROR aiokafka.cluster: Topic orders not found in cluster metadata
    ERROR aiokafka.consumer.group_coordinator: Group Coordinator Request failed:
          [Error 15] GroupCoordinatorNotAvailableError

:class:`StartupNoise`, installed on those two loggers by the transport, lowers
these records (and only these) to DEBUG. When the condition lasts, topicflow
reports it itself: a topic that stays missing as a WARNING naming the fix, a
publish to it as a ``PublishError``, a group that gets no partitions as "no
partitions assigned after ...". Every other record of the client is left as it
is. ``docs/deployment.md`` lists what is demoted.
"""

from __future__ import annotations

import logging

__all__ = ["NOISE", "StartupNoise", "install"]

#: (logger, message template) of the records demoted; a coordinator record only
#: when its error is one of the retriable "not available yet" ones.
NOISE = (
    ("aiokafka.cluster", "Topic %s not found in cluster metadata"),
    ("aiokafka.cluster", "Topic %s is not available during auto-create initialization"),
    ("aiokafka.consumer.group_coordinator", "Group Coordinator Request failed: %s"),
)


class StartupNoise(logging.Filter):
    """Lowers the records of :data:`NOISE` on one logger to DEBUG.

    A demoted record is dropped unless its logger is enabled for DEBUG (the
    logger checked the old level before the filter ran).
    """

    def __init__(self, logger: logging.Logger, coordinator_errors: tuple[type[BaseException], ...]):
        super().__init__()
        self._logger = logger
        self._templates = {template for name, template in NOISE if name == logger.name}
        self._coordinator_errors = coordinator_errors

    def filter(self, record: logging.LogRecord) -> bool:
        if record.levelno <= logging.DEBUG or record.msg not in self._templates:
            return True
        if record.name == "aiokafka.consumer.group_coordinator" and not (
            isinstance(record.args, tuple)
            and record.args
            and isinstance(record.args[0], self._coordinator_errors)
        ):
            return True
        record.levelno, record.levelname = logging.DEBUG, "DEBUG"
        return self._logger.isEnabledFor(logging.DEBUG)


def install(coordinator_errors: tuple[type[BaseException], ...]) -> None:
    """Put a :class:`StartupNoise` on each logger of :data:`NOISE`, once."""
    for name in dict.fromkeys(name for name, _ in NOISE):
        logger = logging.getLogger(name)
        if not any(isinstance(f, StartupNoise) for f in logger.filters):
            logger.addFilter(StartupNoise(logger, coordinator_errors))
