"""Small shared shapes: the MISSING marker, rejections, model ids, type names."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Final

__all__ = ["MISSING", "Rejection", "MODEL_ID_PATTERN", "type_name", "category"]

MODEL_ID_PATTERN: Final = re.compile(r"[A-Za-z0-9._:-]{1,128}")


class _Missing:
    """Marks a feature that is absent from an event (as opposed to null)."""

    __slots__ = ()

    def __repr__(self) -> str:
        return "MISSING"

    def __reduce__(self) -> str:
        return "MISSING"  # unpickles as the module's singleton (``is MISSING`` holds)


MISSING: Final = _Missing()


@dataclass(frozen=True, slots=True)
class Rejection:
    """Why one record (or one element of an array record) was not processed.

    ``reason`` is a short code from a fixed set (a bounded metric label);
    ``detail`` is the one-line, human-readable reason that names the field.
    ``index`` is the element's position in an array record, else ``None``.

    >>> Rejection("bad_json", "value: not valid JSON").index is None
    True
    """

    reason: str
    detail: str
    index: int | None = None


_TYPE_NAMES: Final = {dict: "object", list: "array", str: "string", bool: "boolean"}


def type_name(value: Any) -> str:
    """The JSON name of a decoded value's type.

    >>> type_name([1]), type_name(None), type_name(1.5)
    ('array', 'null', 'number')
    """
    if value is None:
        return "null"
    return _TYPE_NAMES.get(type(value), "number")


def category(value: Any) -> str:
    """A class label as text: ``true``/``false`` for booleans, else ``str(value)``.

    >>> category(True), category(3), category("fraud")
    ('true', '3', 'fraud')
    """
    if value is True:
        return "true"
    if value is False:
        return "false"
    return str(value)
