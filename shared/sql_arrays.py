"""Statements that take any number of rows or keys and whose text does not depend on how many:
each column (or list of keys) travels as ONE array parameter.

Why: asyncpg prepares every new statement text (a round trip, and PostgreSQL parses and plans it)
and keeps the last hundred per connection. A VALUES list or an ``IN (...)`` rendered for each
count is a new text for each count: a consumer whose batches vary in size prepared nearly every
statement again, and pushed its other statements out of the cache. These are prepared once per
connection.
"""

import functools
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from pydantic_core import to_json
from sqlalchemy import ColumnElement, Table, any_, bindparam, cast, func, select
from sqlalchemy.dialects.postgresql import ARRAY, JSON, JSONB, Insert, insert
from sqlalchemy.types import Enum, String, Text, TypeEngine


@functools.lru_cache(maxsize=128)
def insert_arrays(table: Table, columns: tuple[str, ...]) -> Insert:
    """``INSERT INTO table (columns) SELECT * FROM unnest(:column, ...)``, each parameter named
    as its column and bound to a list (`column_arrays`); the rows go in the lists' order. Built
    once per table and columns. PostgreSQL's insert, so ``on_conflict_*`` and ``returning`` can
    follow."""
    arrays = [bindparam(name, type_=ARRAY(_carrier(table.c[name].type))) for name in columns]
    rows = func.unnest(*arrays).table_valued(*columns).render_derived()
    values = [
        cast(rows.c[name], table.c[name].type) if _is_json(table.c[name].type) else rows.c[name]
        for name in columns
    ]
    return insert(table).from_select(list(columns), select(*values))


def column_arrays(
    table: Table, columns: Sequence[str], rows: Iterable[Mapping[str, Any]]
) -> dict[str, list[Any]]:
    """The parameters of `insert_arrays`: one list per column, from rows that each name every
    column. A JSON column's values are sent as their JSON text (None stays NULL)."""
    json_columns = {name for name in columns if _is_json(table.c[name].type)}
    arrays: dict[str, list[Any]] = {name: [] for name in columns}
    for row in rows:
        for name in columns:
            value = row[name]
            if name in json_columns and value is not None:
                value = to_json(value).decode()
            arrays[name].append(value)
    return arrays


def any_of(name: str, type_: TypeEngine[Any]) -> ColumnElement[Any]:
    """``ANY(:name)``, `name` bound to a list of `type_`: ``column == any_of(...)`` in place of
    ``column.in_(values)``, whose text changes with the values' count."""
    return any_(bindparam(name, type_=ARRAY(type_)))


def _carrier(type_: TypeEngine[Any]) -> TypeEngine[Any]:
    """What a column's values travel as: JSON as text (an array of json would need a codec),
    strings without their length (cast to ``VARCHAR(n)[]`` a value too long would be cut short
    in silence; inserted into the column, it is refused)."""
    if _is_json(type_) or (isinstance(type_, String) and not isinstance(type_, Enum)):
        return Text()
    return type_


def _is_json(type_: TypeEngine[Any]) -> bool:
    return isinstance(type_, JSON | JSONB)
