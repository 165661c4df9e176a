"""Deprecated: the names below moved to :mod:`streamproc.events` and
:mod:`streamproc.decode`; this module re-exports them for one release."""

from streamproc.decode import DecodedRecords
from streamproc.decode import decode_batch as decode_records
from streamproc.decode.ipc import share_strings
from streamproc.events.alerts import Alert, alert_id, format_alert
from streamproc.events.columns import EventColumns, column_values, columns_by_model
from streamproc.events.shapes import MISSING, MODEL_ID_PATTERN, Rejection
from streamproc.events.shapes import category as _category
from streamproc.events.validate import (
    decode_record,
    parse_timestamp,
    validate_event,
    validate_label,
)

__all__ = [
    "MISSING",
    "Rejection",
    "decode_record",
    "validate_event",
    "validate_label",
    "parse_timestamp",
    "EventColumns",
    "columns_by_model",
    "column_values",
    "DecodedRecords",
    "decode_records",
    "share_strings",
    "Alert",
    "alert_id",
    "format_alert",
    "MODEL_ID_PATTERN",
    "_category",
]
