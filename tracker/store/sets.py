"""``column IN (ids)`` with one bound parameter, however many ids.

SQLAlchemy's ``in_()`` binds one parameter per value: past 32,766 values SQLite refuses the
statement ("too many SQL variables"), past 65,535 PostgreSQL does. :func:`one_of` binds the
ids as one value instead: a JSON array read by ``json_each`` on SQLite, an array compared
with ``= ANY`` on PostgreSQL. Integer ids only (the keys of the domain tables).
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any

from sqlalchemy import ColumnElement, Integer, bindparam
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.expression import ColumnClause
from sqlalchemy.types import Boolean, Text


class OneOf(ColumnElement[bool]):
    """``column`` is one of ``ids`` (see :func:`one_of`)."""

    type = Boolean()
    inherit_cache = False  # the ids are bound when compiled: a statement with them is never cached

    def __init__(self, column: ColumnElement[Any] | ColumnClause[Any], ids: Iterable[int]) -> None:
        self.column = column
        self.ids = sorted({int(i) for i in ids})


def one_of(column: Any, ids: Iterable[int]) -> OneOf:
    """``column IN ids`` as one bound parameter; ``~one_of(...)`` for NOT IN."""
    return OneOf(column, ids)


@compiles(OneOf)
def _sqlite(element: OneOf, compiler: Any, **kw: Any) -> str:
    ids = bindparam(None, json.dumps(element.ids), type_=Text(), unique=True)
    return f"{compiler.process(element.column, **kw)} IN (SELECT value FROM json_each({compiler.process(ids, **kw)}))"


@compiles(OneOf, "postgresql")
def _postgresql(element: OneOf, compiler: Any, **kw: Any) -> str:
    from sqlalchemy.dialects.postgresql import ARRAY  # (loaded with the dialect: not on SQLite)

    ids = bindparam(None, element.ids, type_=ARRAY(Integer()), unique=True)
    return f"{compiler.process(element.column, **kw)} = ANY({compiler.process(ids, **kw)})"
