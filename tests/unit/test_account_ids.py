"""A brand account's ids: what would make fan keys ambiguous, or never be stored, is refused
without quoting the account's secrets."""

import pytest

from services.ingest.accounts import InvalidAccount, parse_account
from services.ingest.config import IngestSettings
from services.ingest.platforms import build_platforms
from tests.helpers import SECRET

ADAPTERS = build_platforms(IngestSettings.model_construct()).adapters


def standard(account_id: str) -> dict[str, str]:
    return {"platform": "standard", "account_id": account_id, "secret": SECRET}


@pytest.mark.parametrize("account_id", ["shop-a:vip", ":", "shop\x00", "shop\n", "shop\x85"])
def test_an_account_id_with_a_colon_or_a_control_character_is_refused(account_id: str) -> None:
    with pytest.raises(InvalidAccount, match="account_id") as refused:
        parse_account(standard(account_id), ADAPTERS)
    assert SECRET not in str(refused.value)


@pytest.mark.parametrize("app_id", ["wx\x00", "wx\t1", "wx\x7f"])
def test_a_control_character_in_any_other_id_is_refused_by_name(app_id: str) -> None:
    entry = {"platform": "wechat", "account_id": "wx-1", "app_id": app_id, "token": "tok-1",
             "app_secret": "app-secret-1"}  # fmt: skip
    with pytest.raises(InvalidAccount, match="control character in: app_id") as refused:
        parse_account(entry, ADAPTERS)
    assert "tok-1" not in str(refused.value)
    assert "app-secret-1" not in str(refused.value)
