"""Brand accounts and their secrets, read from the file named by ``INGEST_ACCOUNTS_FILE``.

Format (JSON): ``{"accounts": [{"platform": "...", "account_id": "...", <secrets>}]}``; each
platform's fields are its adapter's ``account_model`` (README: "The accounts file").
"""

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from services.ingest.platforms.base import PlatformAccount, PlatformAdapter


class AccountsFileError(ValueError):
    pass


class AccountDirectory:
    def __init__(self, accounts: list[PlatformAccount]) -> None:
        self._by_key: dict[tuple[str, str], PlatformAccount] = {}
        for account in accounts:
            self.add(account)

    @classmethod
    def from_file(
        cls, path: Path | None, adapters: Mapping[str, PlatformAdapter[Any]]
    ) -> "AccountDirectory":
        if path is None:
            return cls([])
        try:
            entries = json.loads(path.read_bytes())["accounts"]
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise AccountsFileError(f"{path}: not an accounts file ({exc})") from exc
        return cls([parse_account(entry, adapters) for entry in entries])

    def add(self, account: PlatformAccount) -> None:
        self._by_key[(account.platform, account.account_id)] = account

    def find(self, platform: str, account_id: str) -> PlatformAccount | None:
        return self._by_key.get((platform, account_id))

    def __len__(self) -> int:
        return len(self._by_key)


def parse_account(
    entry: Mapping[str, Any], adapters: Mapping[str, PlatformAdapter[Any]]
) -> PlatformAccount:
    platform = entry.get("platform") if isinstance(entry, Mapping) else None
    adapter = adapters.get(str(platform))
    if adapter is None:
        raise AccountsFileError(f"unknown platform {platform!r}; one of {sorted(adapters)}")
    return adapter.account_model.model_validate(entry)
