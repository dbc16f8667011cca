"""Brand accounts through the authenticated admin API: stored in PostgreSQL, used by the webhook
route at once, seen by another replica soon after, secrets never shown back."""

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest
from cryptography.fernet import Fernet
from pydantic import SecretStr, ValidationError
from sqlalchemy import text

from services.ingest import repository
from services.ingest.accounts import SecretBox
from services.ingest.config import IngestSettings
from services.ingest.main import create_app
from services.ingest.platforms.standard import StandardAccount
from shared.db import create_engine, create_sessionmaker
from tests.e2e.conftest import ACCOUNT
from tests.helpers import eventually, message_payload, running, signed_webhook

pytestmark = pytest.mark.e2e
TOKEN = "admin-token-for-tests"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
SHOP_SECRET = "whsec_c2hvcC0yLXNlY3JldC1rZXk="
ACCOUNTS = "/v1/admin/accounts"
KEY = Fernet.generate_key().decode()


@pytest.fixture
def admin_settings(settings_for: Callable[..., Any], accounts_file: Path) -> IngestSettings:
    settings: IngestSettings = settings_for(
        IngestSettings, accounts_file=accounts_file, admin_token=TOKEN, accounts_keys=KEY,
        accounts_refresh_seconds=0.1,
    )  # fmt: skip
    return settings


async def _webhook(client: httpx.AsyncClient, account: str, secret: str) -> httpx.Response:
    body, headers = signed_webhook(message_payload("fan-1", "m-1"), secret=secret)
    return await client.post(f"/v1/webhooks/standard/{account}", content=body, headers=headers)


async def test_an_account_created_through_the_api_receives_webhooks_until_deleted(
    admin_settings: IngestSettings,
) -> None:
    async with running(create_app(admin_settings)) as ingest:
        assert (await _webhook(ingest, "shop-2", SHOP_SECRET)).status_code == 404
        created = await ingest.put(f"{ACCOUNTS}/standard/shop-2", json={"secret": SHOP_SECRET},
                                   headers=AUTH)  # fmt: skip
        assert created.status_code == 201, created.text
        assert created.json() == {
            "platform": "standard", "account_id": "shop-2", "secret": "[set]", "source": "api"
        }  # fmt: skip
        assert (await _webhook(ingest, "shop-2", SHOP_SECRET)).status_code == 200
        replaced = await ingest.put(f"{ACCOUNTS}/standard/shop-2", json={"secret": SHOP_SECRET},
                                    headers=AUTH)  # fmt: skip
        assert replaced.status_code == 200
        listed = (await ingest.get(ACCOUNTS, headers=AUTH)).json()["accounts"]
        assert [(a["account_id"], a["source"]) for a in listed] == [
            (ACCOUNT, "file"), ("shop-2", "api")
        ]  # fmt: skip
        assert SHOP_SECRET not in json.dumps(listed)
        deleted = await ingest.delete(f"{ACCOUNTS}/standard/shop-2", headers=AUTH)
        assert deleted.status_code == 204
        assert (await _webhook(ingest, "shop-2", SHOP_SECRET)).status_code == 404
        again = await ingest.delete(f"{ACCOUNTS}/standard/shop-2", headers=AUTH)
        assert again.status_code == 404


async def test_a_change_made_by_another_replica_is_seen_and_a_restart_keeps_it(
    admin_settings: IngestSettings,
) -> None:
    async with running(create_app(admin_settings)) as ingest:
        engine = create_engine(admin_settings.database_url.get_secret_value(), pool_size=2)
        try:  # another replica's write: straight into the shared table
            account = StandardAccount(platform="standard", account_id="shop-3",
                                      secret=SecretStr(SHOP_SECRET))  # fmt: skip
            async with create_sessionmaker(engine)() as session, session.begin():
                await repository.save_api_account(session, SecretBox([KEY]).seal(account))
        finally:
            await engine.dispose()

        async def accepted() -> bool:
            return (await _webhook(ingest, "shop-3", SHOP_SECRET)).status_code == 200

        await eventually(accepted, within=10)
    async with running(create_app(admin_settings)) as restarted:
        assert (await _webhook(restarted, "shop-3", SHOP_SECRET)).status_code == 200


async def test_an_account_whose_commit_fails_is_neither_answered_as_saved_nor_served(
    admin_settings: IngestSettings,
) -> None:
    engine = create_engine(admin_settings.database_url.get_secret_value(), pool_size=2)
    async with engine.begin() as connection:  # every COMMIT that stores an account fails
        await connection.execute(text("""
            CREATE FUNCTION ingest.refuse_commit() RETURNS trigger LANGUAGE plpgsql AS
            $$ BEGIN RAISE EXCEPTION 'the commit fails'; END $$
        """))  # fmt: skip
        await connection.execute(text("""
            CREATE CONSTRAINT TRIGGER refuse_commit AFTER INSERT ON ingest.brand_accounts
            DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION ingest.refuse_commit()
        """))  # fmt: skip
    await engine.dispose()
    app = create_app(admin_settings)
    async with running(app) as ingest:
        # a client that gets the 500 rather than the app's exception
        transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
            failed = await client.put(f"{ACCOUNTS}/standard/shop-3",
                                      json={"secret": SHOP_SECRET}, headers=AUTH)  # fmt: skip
        assert failed.status_code == 500
        assert (await ingest.get(f"{ACCOUNTS}/standard/shop-3", headers=AUTH)).status_code == 404
        assert (await _webhook(ingest, "shop-3", SHOP_SECRET)).status_code == 404


@pytest.mark.parametrize(
    ("headers", "status"),
    [({}, 401), ({"Authorization": "Bearer wrong"}, 401), ({"Authorization": "Basic eDp5"}, 401)],
    ids=["none", "wrong-token", "not-bearer"],
)
async def test_the_admin_api_needs_the_token(
    admin_settings: IngestSettings, headers: dict[str, str], status: int
) -> None:
    async with running(create_app(admin_settings)) as ingest:
        assert (await ingest.get(ACCOUNTS, headers=headers)).status_code == status
        put = await ingest.put(f"{ACCOUNTS}/standard/x", json={"secret": SHOP_SECRET},
                               headers=headers)  # fmt: skip
        assert put.status_code == status
        assert (await _webhook(ingest, "x", SHOP_SECRET)).status_code == 404


async def test_stored_secrets_are_sealed_and_open_after_a_key_rotation(
    admin_settings: IngestSettings,
) -> None:
    async with running(create_app(admin_settings)) as ingest:
        put = await ingest.put(f"{ACCOUNTS}/standard/shop-5", json={"secret": SHOP_SECRET},
                               headers=AUTH)  # fmt: skip
        assert put.status_code == 201
    engine = create_engine(admin_settings.database_url.get_secret_value(), pool_size=2)
    try:
        async with engine.connect() as connection:
            stored = (await connection.execute(text(
                "SELECT entry::text FROM ingest.brand_accounts WHERE account_id = 'shop-5'"
            ))).scalar_one()  # fmt: skip
    finally:
        await engine.dispose()
    assert SHOP_SECRET not in stored
    assert SHOP_SECRET.removeprefix("whsec_") not in stored
    assert '"sealed"' in stored
    rotated = admin_settings.model_copy(
        update={"accounts_keys": SecretStr(f"{Fernet.generate_key().decode()},{KEY}")}
    )
    async with running(create_app(rotated)) as ingest:
        assert (await _webhook(ingest, "shop-5", SHOP_SECRET)).status_code == 200


def test_the_admin_api_needs_keys_to_seal_secrets_with(
    settings_for: Callable[..., Any], accounts_file: Path
) -> None:
    with pytest.raises(ValidationError, match="INGEST_ACCOUNTS_KEYS"):
        settings_for(IngestSettings, accounts_file=accounts_file, admin_token=TOKEN)


async def test_the_admin_api_is_off_without_a_token(
    settings_for: Callable[..., Any], accounts_file: Path
) -> None:
    settings = settings_for(IngestSettings, accounts_file=accounts_file)
    async with running(create_app(settings)) as ingest:
        assert (await ingest.get(ACCOUNTS, headers=AUTH)).status_code == 403


async def test_refusals_say_what_is_wrong_without_echoing_secrets(
    admin_settings: IngestSettings,
) -> None:
    async with running(create_app(admin_settings)) as ingest:
        extra = await ingest.put(
            f"{ACCOUNTS}/standard/shop-4", headers=AUTH,
            json={"secret": SHOP_SECRET, "app_secret": "leaky-value-123"},
        )  # fmt: skip
        assert extra.status_code == 422
        assert "app_secret" in extra.text
        assert "leaky-value-123" not in extra.text
        assert SHOP_SECRET not in extra.text
        not_object = await ingest.put(f"{ACCOUNTS}/standard/shop-4", headers=AUTH,
                                      json=["leaky-value-123"])  # fmt: skip
        assert not_object.status_code == 422
        assert "leaky-value-123" not in not_object.text
        missing = await ingest.put(f"{ACCOUNTS}/standard/shop-4", headers=AUTH, json={})
        assert missing.status_code == 422
        assert "secret" in missing.text
        unknown = await ingest.put(f"{ACCOUNTS}/nowhere/a", headers=AUTH, json={})
        assert unknown.status_code == 404
        file_account = await ingest.put(f"{ACCOUNTS}/standard/{ACCOUNT}", headers=AUTH,
                                        json={"secret": SHOP_SECRET})  # fmt: skip
        assert file_account.status_code == 409
        assert (
            await ingest.delete(f"{ACCOUNTS}/standard/{ACCOUNT}", headers=AUTH)
        ).status_code == 409
        shown = (await ingest.get(f"{ACCOUNTS}/standard/{ACCOUNT}", headers=AUTH)).json()
        assert shown["secret"] == "[set]"


@pytest.mark.parametrize(
    ("platform", "fields"),
    [("line", {"channel_secret": ""}), ("telegram", {"secret_token": "  "}),
     ("messenger", {"app_secret": "", "verify_token": "v"}),
     ("x", {"user_id": "1", "consumer_secret": ""})],
)  # fmt: skip
async def test_an_empty_secret_is_refused(
    admin_settings: IngestSettings, platform: str, fields: dict[str, str]
) -> None:
    async with running(create_app(admin_settings)) as ingest:
        refused = await ingest.put(f"{ACCOUNTS}/{platform}/a-1", headers=AUTH, json=fields)
        assert refused.status_code == 422
        assert "empty secret" in refused.text


def test_settings_refuse_a_short_token_and_bad_keys_without_printing_them(
    settings_for: Callable[..., Any], accounts_file: Path
) -> None:
    with pytest.raises(ValidationError) as short:
        settings_for(IngestSettings, admin_token="short-secret", accounts_keys=KEY)
    assert "short-secret" not in str(short.value)
    with pytest.raises(ValidationError) as bad:
        settings_for(IngestSettings, admin_token=TOKEN, accounts_keys="not-a-fernet-key")
    assert "not-a-fernet-key" not in str(bad.value)
    assert TOKEN not in str(bad.value)


async def test_ingest_does_not_start_when_stored_accounts_do_not_open(
    admin_settings: IngestSettings,
) -> None:
    async with running(create_app(admin_settings)) as ingest:
        put = await ingest.put(f"{ACCOUNTS}/standard/shop-6", json={"secret": SHOP_SECRET},
                               headers=AUTH)  # fmt: skip
        assert put.status_code == 201
    other_key = admin_settings.model_copy(
        update={"accounts_keys": SecretStr(Fernet.generate_key().decode())}
    )
    for settings in (other_key, admin_settings.model_copy(
        update={"admin_token": None, "accounts_keys": None}
    )):  # fmt: skip
        with pytest.raises(RuntimeError, match="standard/shop-6"):
            async with running(create_app(settings)):
                pass
