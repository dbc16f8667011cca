"""What a dead letter and the consumer's log say of an error: its class and the driver's message,
never the statement nor the data it was given."""

import pytest
from sqlalchemy.exc import DBAPIError, StatementError

from shared.consumer import error_text


class DriverError(Exception):
    pass


def dbapi_error(message: str, params: tuple[object, ...]) -> DBAPIError:
    statement = "INSERT INTO orders (fan_key, amount_cents) VALUES ($1, $2)"
    return DBAPIError(statement, params, DriverError(message))


class TestErrorText:
    def test_a_dbapi_error_keeps_its_class_and_the_drivers_message_only(self) -> None:
        error = dbapi_error('invalid byte sequence for encoding "UTF8": 0x00', ("fan-7\x00", 1))
        assert error_text(error) == (
            "sqlalchemy.exc.DBAPIError: (tests.unit.test_consumer_error_text.DriverError) "
            'invalid byte sequence for encoding "UTF8": 0x00'
        )

    @pytest.mark.parametrize(
        ("quoted", "kept"),
        [
            ("9223372036854775808 (value out of int64 range)", " (value out of int64 range)"),
            ("'fan (vip) 7' (expected str, got int)", " (expected str, got int)"),
            ("'fan-7' (an integer is required (got type str))", ""),
        ],
        ids=["reason-kept", "parentheses-in-the-value", "parentheses-in-the-reason"],
    )
    def test_the_argument_asyncpg_quotes_goes(self, quoted: str, kept: str) -> None:
        error = dbapi_error(f"invalid input for query argument $2: {quoted}", ("fan-7", 2**63))
        assert error_text(error).endswith(f"invalid input for query argument $2{kept}")

    def test_a_statement_error_without_a_driver_error_drops_the_statement(self) -> None:
        error = StatementError("(builtins.TypeError) not a number", "SELECT $1", ("fan-7",), None)
        assert (
            error_text(error) == "sqlalchemy.exc.StatementError: (builtins.TypeError) not a number"
        )

    def test_any_other_error_reads_as_python_prints_it(self) -> None:
        assert error_text(RuntimeError("cannot score this")) == "RuntimeError: cannot score this"
