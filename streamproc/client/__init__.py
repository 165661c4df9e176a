"""The producer SDK: send a model's inference events and labels from its server.

Example (needs a broker)::

    from streamproc.client import Reporter

    reporter = Reporter("kafka:9092", model_id="fraud-detector", model_version="v3")
    event_id = reporter.record({"amount": 12.5, "country": "DE"}, prediction=0.87)
    reporter.label(event_id, "fraud")  # later, when the truth is known

Pure parts: :mod:`.ids` (UUIDv7), :mod:`.sampling`, :mod:`.encode` (contract
JSON and validation), :mod:`.batching`, :mod:`.problems` (counters); I/O:
:mod:`.sender`; the API: :mod:`.reporter`.
"""

from streamproc.client.ids import uuid7
from streamproc.client.reporter import AsyncReporter, Reporter

__all__ = ["Reporter", "AsyncReporter", "uuid7"]
