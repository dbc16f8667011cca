from pydantic import SecretStr

from services.ingest.accounts import AccountDirectory
from services.ingest.platforms.standard import StandardAccount

SECRET = SecretStr("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw")


def shop(name: str) -> StandardAccount:
    return StandardAccount(platform="standard", account_id=name, secret=SECRET)


def test_a_refresh_read_before_a_local_change_does_not_undo_it() -> None:
    directory = AccountDirectory()
    read_at = directory.generation  # a refresh starts reading the table...
    directory.put(shop("new"))  # ...an admin request saves an account meanwhile...
    assert not directory.replace_api_accounts([], read_at_generation=read_at)  # ...stale: skipped
    assert directory.find("standard", "new") is not None
    assert directory.replace_api_accounts([shop("other")], read_at_generation=directory.generation)
    assert directory.find("standard", "new") is None
    assert directory.find("standard", "other") is not None


def test_file_accounts_win_over_api_accounts_of_the_same_name() -> None:
    directory = AccountDirectory([shop("both")])
    directory.put(StandardAccount(platform="standard", account_id="both",
                                  secret=SecretStr("whsec_c2hvcC0yLXNlY3JldC1rZXk=")))  # fmt: skip
    assert directory.source("standard", "both") == "file"
    found = directory.find("standard", "both")
    assert found is not None
    assert isinstance(found, StandardAccount)
    assert found.secret == SECRET
    assert len(directory) == 1
