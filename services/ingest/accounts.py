"""Brand accounts and their secrets: read-only ones from the file named by
``INGEST_ACCOUNTS_FILE``, and those managed through the admin API (kept in PostgreSQL, so every
ingest replica sees them).

Format (JSON): ``{"accounts": [{"platform": "...", "account_id": "...", <secrets>}]}``; each
platform's fields are its adapter's ``account_model`` (README: "Brand accounts"). The admin API
takes the same entries.
"""

import json
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any, Literal

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from pydantic import SecretStr, ValidationError

from services.ingest.platforms.base import PlatformAccount, PlatformAdapter

Source = Literal["file", "api"]


class AccountsFileError(ValueError):
    pass


class InvalidAccount(ValueError):
    """An entry that is not a valid account; the message never quotes the values."""


class AccountDirectory:
    def __init__(self, accounts: Iterable[PlatformAccount] = ()) -> None:
        self._file: dict[tuple[str, str], PlatformAccount] = {}
        self._api: dict[tuple[str, str], PlatformAccount] = {}
        self.generation = 0  # bumped by every local change
        for account in accounts:
            self._file[(account.platform, account.account_id)] = account

    @classmethod
    def from_file(
        cls, path: Path | None, adapters: Mapping[str, PlatformAdapter[Any]]
    ) -> "AccountDirectory":
        if path is None:
            return cls()
        try:
            entries = json.loads(path.read_bytes())["accounts"]
            return cls([parse_account(entry, adapters) for entry in entries])
        except InvalidAccount as exc:
            raise AccountsFileError(f"{path}: {exc}") from None
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise AccountsFileError(f"{path}: not an accounts file ({exc})") from None

    def find(self, platform: str, account_id: str) -> PlatformAccount | None:
        key = (platform, account_id)
        return self._file.get(key) or self._api.get(key)

    def source(self, platform: str, account_id: str) -> Source | None:
        key = (platform, account_id)
        return "file" if key in self._file else "api" if key in self._api else None

    def all(self) -> list[tuple[PlatformAccount, Source]]:
        listed: list[tuple[PlatformAccount, Source]] = [(a, "file") for a in self._file.values()]
        return listed + [(a, "api") for key, a in self._api.items() if key not in self._file]

    def put(self, account: PlatformAccount) -> None:
        self._api[(account.platform, account.account_id)] = account
        self.generation += 1

    def remove(self, platform: str, account_id: str) -> None:
        self._api.pop((platform, account_id), None)
        self.generation += 1

    def replace_api_accounts(
        self, accounts: Iterable[PlatformAccount], *, read_at_generation: int
    ) -> bool:
        """Take the stored accounts, unless a local change came after they were read (that
        snapshot may predate it; the next refresh reads again). Returns whether it did."""
        if read_at_generation != self.generation:
            return False
        self._api = {(a.platform, a.account_id): a for a in accounts}
        return True

    def count(self, source: Source) -> int:
        return len(self._file if source == "file" else self._api)

    def __len__(self) -> int:
        return len(self._file.keys() | self._api.keys())


def parse_account(
    entry: Mapping[str, Any], adapters: Mapping[str, PlatformAdapter[Any]]
) -> PlatformAccount:
    platform = entry.get("platform") if isinstance(entry, Mapping) else None
    adapter = adapters.get(str(platform))
    if adapter is None:
        raise InvalidAccount(f"unknown platform {platform!r}; one of {sorted(adapters)}")
    try:
        return adapter.account_model.model_validate(entry)
    except ValidationError as exc:
        raise InvalidAccount(validation_problems(exc)) from None


def validation_problems(exc: ValidationError) -> str:
    """Where and what, never the input (it may be a secret)."""
    return "; ".join(
        f"{'.'.join(str(p) for p in err['loc']) or 'entry'}: {err['msg']}"
        for err in exc.errors(include_input=False, include_url=False)[:10]
    )


class SecretBox:
    """Seals an account's secrets for storage (Fernet: AES-128-CBC + HMAC-SHA256) and opens
    them again. Several keys rotate: the first seals, any opens."""

    def __init__(self, keys: list[str]) -> None:
        self._fernet = MultiFernet([Fernet(key) for key in keys])

    def seal(self, account: PlatformAccount) -> dict[str, Any]:
        """The stored form: every secret as ``{"sealed": "<Fernet token>"}``."""
        return {
            name: {"sealed": self._fernet.encrypt(value.get_secret_value().encode()).decode()}
            if isinstance(value, SecretStr) else value
            for name, value in account.model_dump(mode="python").items()
        }  # fmt: skip

    def open(self, stored: Mapping[str, Any]) -> dict[str, Any]:
        """The entry again; raises InvalidAccount when a secret does not open with any key."""
        try:
            return {
                name: self._fernet.decrypt(value["sealed"].encode()).decode()
                if isinstance(value, Mapping) and set(value) == {"sealed"} else value
                for name, value in stored.items()
            }  # fmt: skip
        except (InvalidToken, AttributeError, TypeError):
            raise InvalidAccount("a secret does not open with INGEST_ACCOUNTS_KEYS") from None


def account_view(account: PlatformAccount) -> dict[str, Any]:
    """The account for a response: every secret replaced by whether it is set."""
    return {
        name: ("[set]" if value.get_secret_value() else "") if isinstance(value, SecretStr)
        else value
        for name, value in account.model_dump(mode="python").items()
    }  # fmt: skip
