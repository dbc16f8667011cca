"""Brand accounts and their secrets, read from the file named by ``INGEST_ACCOUNTS_FILE``.

Format (JSON)::

    {"accounts": [{"platform": "standard", "account_id": "shop-1", "secret": "whsec_..."}]}
"""

from pathlib import Path

from pydantic import BaseModel, ConfigDict, SecretStr

from shared.contracts import Platform


class BrandAccount(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    platform: Platform
    account_id: str
    secret: SecretStr


class AccountsFile(BaseModel):
    accounts: list[BrandAccount]


class AccountDirectory:
    def __init__(self, accounts: list[BrandAccount]) -> None:
        self._by_key: dict[tuple[str, str], BrandAccount] = {
            (a.platform, a.account_id): a for a in accounts
        }

    @classmethod
    def from_file(cls, path: Path | None) -> "AccountDirectory":
        if path is None:
            return cls([])
        return cls(AccountsFile.model_validate_json(path.read_bytes()).accounts)

    def find(self, platform: str, account_id: str) -> BrandAccount | None:
        return self._by_key.get((platform, account_id))

    def __len__(self) -> int:
        return len(self._by_key)
