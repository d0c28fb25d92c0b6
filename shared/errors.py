"""Error families shared by every service: what is retried, and what is dead-lettered."""

from __future__ import annotations

from aiokafka.errors import (
    InvalidTopicError,
    KafkaConnectionError,
    KafkaTimeoutError,
    MessageSizeTooLargeError,
    RecordListTooLargeError,
    RecordTooLargeError,
    RequestTimedOutError,
)
from pymongo.errors import ConnectionFailure


class PermanentError(Exception):
    """A message that can never be handled as it is: it goes to the DLQ at once, unretried."""


def is_unavailable(error: BaseException) -> bool:
    """True when a dependency (MongoDB, Kafka) is unreachable: retry later, the message is fine."""
    return isinstance(
        error, ConnectionFailure | KafkaConnectionError | KafkaTimeoutError | RequestTimedOutError
    )


UNPUBLISHABLE = (
    MessageSizeTooLargeError,
    RecordTooLargeError,
    RecordListTooLargeError,
    InvalidTopicError,
)


def is_unpublishable(error: BaseException) -> bool:
    """True when Kafka refuses the record itself (too large, illegal topic): sending it again
    cannot succeed. Anything else, an unreachable broker first, may pass later."""
    return isinstance(error, UNPUBLISHABLE)
