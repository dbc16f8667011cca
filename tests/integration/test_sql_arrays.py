"""Rows inserted as one array per column (`shared.sql_arrays`), against a real PostgreSQL: the
same as row by row, NULLs and JSON kept, and a string too long for its column refused rather
than cut short."""

from typing import Any

import pytest
from sqlalchemy import Column, Integer, MetaData, String, Table, select, text
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.exc import DBAPIError

from shared.db import create_engine, create_sessionmaker, transaction
from shared.sql_arrays import any_of, column_arrays, insert_arrays

pytestmark = pytest.mark.integration

METADATA = MetaData(schema="arrays_test")
ROWS = Table(
    "rows", METADATA,
    Column("id", Integer, primary_key=True), Column("code", String(3)), Column("doc", JSONB),
)  # fmt: skip
COLUMNS = ("id", "code", "doc")


async def test_rows_go_in_as_given_and_a_too_long_string_is_refused(database_url: str) -> None:
    engine = create_engine(database_url, pool_size=2)
    sessionmaker = create_sessionmaker(engine)
    try:
        async with transaction(sessionmaker) as session:
            await session.execute(text("CREATE SCHEMA arrays_test"))
            await session.run_sync(lambda sync: METADATA.create_all(sync.connection()))
        rows: list[dict[str, Any]] = [{"id": 1, "code": "abc", "doc": {"a": [1, 2]}},
                {"id": 2, "code": None, "doc": None}]  # fmt: skip
        async with transaction(sessionmaker) as session:
            await session.execute(insert_arrays(ROWS, COLUMNS), column_arrays(ROWS, COLUMNS, rows))
        async with sessionmaker() as session:
            found = (await session.execute(
                select(ROWS).where(ROWS.c.id == any_of("ids", Integer())).order_by(ROWS.c.id),
                {"ids": [1, 2, 3]},
            )).all()  # fmt: skip
            assert [tuple(row) for row in found] == [(1, "abc", {"a": [1, 2]}), (2, None, None)]
            null_docs = await session.scalar(text("SELECT count(*) FROM arrays_test.rows "
                                                  "WHERE doc IS NULL"))  # fmt: skip
            assert null_docs == 1, "None is SQL NULL"
        too_long = [{"id": 3, "code": "abcd", "doc": None}]
        with pytest.raises(DBAPIError, match="too long"):
            async with transaction(sessionmaker) as session:
                await session.execute(
                    insert_arrays(ROWS, COLUMNS), column_arrays(ROWS, COLUMNS, too_long)
                )
    finally:
        await engine.dispose()
