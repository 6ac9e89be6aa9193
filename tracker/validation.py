"""Field validation shared by every command, catalog files and imports.

Each function returns the clean value or raises :class:`InputError` naming the field
and saying what to fix. Text is trimmed; NUL bytes are refused everywhere (PostgreSQL
cannot store them) and single-line fields refuse every control character.
"""

from __future__ import annotations

import functools
import math
import re
from datetime import date
from enum import StrEnum
from typing import Literal, TypeVar, overload

from tracker import clock, periods, vocab
from tracker.errors import InputError

E = TypeVar("E", bound=StrEnum)

LONG_TEXT_LENGTH = 100_000
_CODE = re.compile(r"^[a-z0-9][a-z0-9._-]*$")
_CONTROL = re.compile(r"[\x00-\x1f\x7f\ud800-\udfff]")
_CONTROL_MULTILINE = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f\ud800-\udfff]")


@overload
def text(
    value: str | None,
    field: str,
    *,
    required: Literal[True] = ...,
    max_length: int = ...,
    multiline: bool = ...,
) -> str: ...
@overload
def text(
    value: str | None,
    field: str,
    *,
    required: bool,
    max_length: int = ...,
    multiline: bool = ...,
) -> str | None: ...
def text(
    value: str | None,
    field: str,
    *,
    required: bool = True,
    max_length: int = vocab.TITLE_LENGTH,
    multiline: bool = False,
) -> str | None:
    if value is None or (isinstance(value, str) and not value.strip()):
        if required:
            raise InputError(f"{field} is required and must not be blank")
        return None
    if not isinstance(value, str):
        raise InputError(f"{field} must be text, not {type(value).__name__}")
    value = value.strip()
    if len(value) > max_length:
        raise InputError(f"{field} is {len(value)} characters long; the limit is {max_length}")
    bad = (_CONTROL_MULTILINE if multiline else _CONTROL).search(value)
    if bad:
        if bad.group() == "\x00":
            what = "a NUL byte"
        elif "\ud800" <= bad.group() <= "\udfff":
            what = "bytes that are not UTF-8 text"
        else:
            what = f"the control character {bad.group()!r}"
        raise InputError(f"{field} contains {what}: remove it")
    return value


@overload
def long_text(value: str | None, field: str, *, required: Literal[True] = ...) -> str: ...
@overload
def long_text(value: str | None, field: str, *, required: bool) -> str | None: ...
def long_text(value: str | None, field: str, *, required: bool = True) -> str | None:
    return text(value, field, required=required, max_length=LONG_TEXT_LENGTH, multiline=True)


def code(value: str | None, field: str = "code") -> str:
    clean = text(value, field, max_length=vocab.CODE_LENGTH)
    if not _CODE.match(clean):
        raise InputError(
            f"invalid {field} {clean!r}: use lower-case letters, digits, '-', '_' or '.', "
            "starting with a letter or digit"
        )
    return clean


def choice(value: str | E | None, enum: type[E], field: str) -> E:
    if isinstance(value, enum):
        return value
    if value is None or not isinstance(value, str):
        raise InputError(f"{field} is required: one of {_allowed(enum)}")
    member = _members(enum).get(value.strip())
    if member is None:
        raise InputError(f"unknown {field} {value!r}: use one of {_allowed(enum)}")
    return member


@functools.cache
def _members(enum: type[E]) -> dict[str, E]:
    """Members by value: a dict lookup is ten times quicker than ``enum(value)`` (imports check many)."""
    return {member.value: member for member in enum}


def _allowed(enum: type[StrEnum]) -> str:
    return ", ".join(member.value for member in enum)


@overload
def day(value: str | date | None, field: str = ..., *, required: Literal[True] = ...) -> date: ...
@overload
def day(value: str | date | None, field: str = ..., *, required: bool) -> date | None: ...
def day(value: str | date | None, field: str = "date", *, required: bool = True) -> date | None:
    if value is None or value == "":
        if required:
            raise InputError(f"{field} is required: write it as YYYY-MM-DD")
        return None
    if isinstance(value, date):
        if value > clock.today():  # a UTC date, as in parse_date
            raise InputError(
                f"invalid {field} {value.isoformat()!r}: it is in the future (today is {clock.today()} in UTC)"
            )
        return value
    return periods.parse_date(value, field=field)


@overload
def number(value: str | float | int | None, field: str, *, required: Literal[True] = ...) -> float: ...
@overload
def number(value: str | float | int | None, field: str, *, required: bool) -> float | None: ...
def number(value: str | float | int | None, field: str, *, required: bool = True) -> float | None:
    if value is None or (isinstance(value, str) and not value.strip()):
        if required:
            raise InputError(f"{field} is required: give a number")
        return None
    if isinstance(value, bool):
        raise InputError(f"invalid {field} {value!r}: give a number")
    try:
        result = float(value.strip() if isinstance(value, str) else value)
    except (TypeError, ValueError, OverflowError):
        raise InputError(f"invalid {field} {value!r}: give a number, e.g. 42 or 3.5") from None
    if not math.isfinite(result):
        raise InputError(f"invalid {field} {value!r}: give a finite number")
    if isinstance(value, str) and not _NUMBER.fullmatch(value.strip()):
        raise InputError(f"invalid {field} {value!r}: give a number in digits, e.g. 42, -5, 3.5 or 1e6")
    if abs(result) > MAX_NUMBER:
        raise InputError(f"invalid {field} {value!r}: give a number between -1e100 and 1e100")
    return result


# Numbers as people write them: digits, an optional sign, decimal point and exponent (no
# "1_000", no "0x10", no "inf", no full-width digits); and their range, far beyond any count
# or share an indicator holds, and far enough from the largest float (1.8e308) that a chart's
# axis around it stays finite.
_NUMBER = re.compile(r"[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?", re.ASCII)
MAX_NUMBER = 1e100
_WHOLE_NUMBER = re.compile(r"\d+", re.ASCII)  # ids and counts: "12", not "1_2", "+12" or "１２"


MAX_ID = 2**31 - 1  # the id columns are 32-bit integers on PostgreSQL


def identifier(value: str | int | None, field: str) -> int:
    if isinstance(value, bool):
        raise InputError(f"invalid {field} {value!r}: give a whole number")
    if value is None:
        raise InputError(f"invalid {field} {value!r}: give a whole number, e.g. 12")
    if isinstance(value, str) and not _WHOLE_NUMBER.fullmatch(value.strip()):
        raise InputError(f"invalid {field} {value!r}: give a whole number in digits, e.g. 12")
    try:
        result = int(value.strip() if isinstance(value, str) else value)
    except (TypeError, ValueError):
        raise InputError(f"invalid {field} {value!r}: give a whole number, e.g. 12") from None
    if result <= 0:
        raise InputError(f"invalid {field} {value!r}: give a positive whole number")
    if result > MAX_ID:
        raise InputError(f"invalid {field} {value!r}: ids run from 1 to {MAX_ID}")
    return result


def count(value: str, field: str, *, maximum: int) -> int:
    """A whole number from 1 to ``maximum`` written in digits (``--limit``): not "1_000", "+5" or "1e3"."""
    digits = value.strip()
    if not _WHOLE_NUMBER.fullmatch(digits):
        raise InputError(f"invalid {field} {value!r}: give a whole number in digits, e.g. 50")
    # Compared by length first: int() refuses a string of over 4300 digits.
    if len(digits.lstrip("0")) > len(str(maximum)) or not 1 <= int(digits) <= maximum:
        raise InputError(f"invalid {field} {value!r}: give a whole number from 1 to {maximum}")
    return int(digits)


MAX_POSITION = 2**31 - 1
"""The highest place a recommendation may have in its report's list (the column is a 32-bit integer)."""


def position(value: str | int, field: str = "--position") -> int:
    """A recommendation's place in its report's list: a whole number in digits from 1."""
    return count(str(value), field, maximum=MAX_POSITION)


def actor(value: str | None) -> str:
    return text(value, "author (--by / TRACKER_USER)", max_length=vocab.ACTOR_LENGTH)
