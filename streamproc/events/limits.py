"""Limits on what one record may hold (part of the contract, docs/contract.md).

A record past a limit goes to the dead-letter topic with the reason in
brackets; every decode tier refuses what the reference path
(:mod:`streamproc.events.validate`) rejects, and lets the reference path say why.

- record value: at most :data:`MAX_RECORD_BYTES` bytes (``record_too_large``);
- array record: at most :data:`MAX_ARRAY_EVENTS` events (``too_many_events``);
- features of one event: at most :data:`MAX_FEATURES` (``too_many_features``);
- feature name: at most :data:`MAX_NAME_CHARS` characters (``feature_name_too_long``);
- string feature value: at most :data:`MAX_STRING_CHARS` characters
  (``feature_value_too_long``);
- nesting: a feature value cannot nest (``bad_feature_value``); anything
  else nests at most 1,024 levels deep (orjson's limit; deeper is ``bad_json``).
"""

from __future__ import annotations

from typing import Final

MAX_RECORD_BYTES: Final = 1_048_576
MAX_ARRAY_EVENTS: Final = 10_000
MAX_FEATURES: Final = 1_000
MAX_NAME_CHARS: Final = 256
MAX_STRING_CHARS: Final = 1_024
