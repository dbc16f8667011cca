"""The contracts' bounds: what no consumer could store is refused where an event is built."""

from datetime import UTC, datetime
from typing import Any

import pytest
from pydantic import ValidationError

from shared.contracts import OrderPaid, ReplyRequested

NOW = datetime(2026, 1, 1, tzinfo=UTC)


def order(**overrides: Any) -> OrderPaid:
    fields: dict[str, Any] = {
        "platform": "standard", "account": "shop-a", "user_id": "buyer-1", "occurred_at": NOW,
        "order_id": "o-1", "amount_cents": 100, "currency": "CNY", **overrides,
    }  # fmt: skip
    return OrderPaid(**fields)


class TestIds:
    @pytest.mark.parametrize("control", ["\x00", "\x07", "\n", "\x7f", "\x85"])
    @pytest.mark.parametrize("field", ["account", "user_id", "order_id", "referral_code"])
    def test_a_control_character_in_an_id_is_refused(self, field: str, control: str) -> None:
        with pytest.raises(ValidationError, match=field):
            order(**{field: f"id{control}1"})

    def test_an_id_over_200_characters_is_refused(self) -> None:
        order(order_id="o" * 200)
        with pytest.raises(ValidationError, match="order_id"):
            order(order_id="o" * 201)

    def test_a_fan_key_that_would_not_fit_its_column_is_refused(self) -> None:
        assert len(order(account="a" * 190, user_id="u:" * 100).fan_key) == 400
        with pytest.raises(ValidationError, match="fan key"):
            order(account="a" * 191, user_id="u:" * 100)

    def test_a_reply_to_a_message_id_with_a_control_character_is_refused(self) -> None:
        with pytest.raises(ValidationError, match="in_reply_to"):
            ReplyRequested(
                reply_id="r", conversation_id="", platform="telegram", account="bot",
                user_id="1", text="hi", in_reply_to="1\x00",
            )  # fmt: skip


class TestMoney:
    def test_cents_are_a_postgresql_bigint(self) -> None:
        assert order(amount_cents=2**63 - 1).amount_cents == 2**63 - 1
        with pytest.raises(ValidationError, match="amount_cents"):
            order(amount_cents=2**63)

    @pytest.mark.parametrize("currency", ["cny", "C1Y", "ÉUR", "$$$"])
    def test_a_currency_is_three_capital_letters(self, currency: str) -> None:
        with pytest.raises(ValidationError, match="currency"):
            order(currency=currency)
