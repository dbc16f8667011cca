"""Signed claim links: a link opens only the packet, for the claimer, of the account and until
the time it was signed for; any field changed, another account's key, an expired or a
malformed link is refused with its code."""

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from urllib.parse import parse_qsl, urlsplit

import pytest

from services.coupons import claim_links
from services.coupons.claim_links import ClaimLink, LinkRefused

SECRET = b"s" * 32
NOW = datetime(2026, 6, 1, 12, tzinfo=UTC)
LINK = ClaimLink(
    account="shop-1", share_code="AbC_12-x", claimer="wechat:oa-brand:o6_friend",
    expires_at=NOW + timedelta(minutes=15), phone_sha256="a" * 64, device_sha256="b" * 64,
)  # fmt: skip


def params_of(link: ClaimLink = LINK, secret: bytes = SECRET) -> dict[str, str]:
    return claim_links.query(secret, link)


def refusal(
    params: dict[str, str], *, share_code: str = LINK.share_code, now: datetime = NOW
) -> str:
    with pytest.raises(LinkRefused) as refused:
        claim_links.verify(SECRET, share_code, params, now=now)
    return refused.value.code


class TestAValidLink:
    def test_opens_the_packet_for_its_claimer(self) -> None:
        assert claim_links.verify(SECRET, LINK.share_code, params_of(), now=NOW) == LINK

    def test_path_carries_the_share_code_and_the_signed_fields(self) -> None:
        address = urlsplit(claim_links.path(SECRET, LINK))
        params = dict(parse_qsl(address.query))
        assert address.path == f"/p/{LINK.share_code}"
        assert claim_links.verify(SECRET, LINK.share_code, params, now=NOW) == LINK

    def test_without_hashes_is_valid_too(self) -> None:
        bare = replace(LINK, phone_sha256=None, device_sha256=None)
        assert set(params_of(bare)) == {"account", "claimer", "expires", "sig"}
        assert claim_links.verify(SECRET, LINK.share_code, params_of(bare), now=NOW) == bare

    def test_each_account_signs_with_a_key_of_its_own(self) -> None:
        assert claim_links.account_key(SECRET, "shop-1") != claim_links.account_key(
            SECRET, "shop-2"
        )


class TestAForgedLink:
    @pytest.mark.parametrize(
        ("field", "value"),
        [("claimer", "wechat:oa-brand:o6_other"), ("account", "shop-2"), ("phone", "c" * 64),
         ("device", "d" * 64), ("expires", str(int(NOW.timestamp()) + 86_400))],
    )  # fmt: skip
    def test_with_a_field_changed_is_refused(self, field: str, value: str) -> None:
        assert refusal({**params_of(), field: value}) == "link_forged"

    def test_with_a_hash_removed_is_refused(self) -> None:
        params = params_of()
        del params["phone"]
        assert refusal(params) == "link_forged"

    def test_for_another_packet_is_refused(self) -> None:
        assert refusal(params_of(), share_code="another-packet") == "link_forged"

    def test_signed_with_another_secret_is_refused(self) -> None:
        assert refusal(params_of(secret=b"t" * 32)) == "link_forged"

    def test_signed_for_another_account_opens_nothing_of_this_one(self) -> None:
        """The account is signed: a link of shop-2 names shop-2, whose packets it alone opens."""
        other = claim_links.verify(
            SECRET, LINK.share_code, params_of(replace(LINK, account="shop-2")), now=NOW
        )
        assert other.account == "shop-2"

    def test_with_a_signature_of_the_right_length_but_wrong_is_refused(self) -> None:
        assert refusal({**params_of(), "sig": "A" * 43}) == "link_forged"


class TestAnExpiredLink:
    def test_is_refused_from_its_expiry_on(self) -> None:
        assert refusal(params_of(), now=LINK.expires_at) == "link_expired"

    def test_is_valid_until_then(self) -> None:
        before = LINK.expires_at - timedelta(seconds=1)
        assert claim_links.verify(SECRET, LINK.share_code, params_of(), now=before) == LINK

    def test_is_refused_as_forged_when_its_expiry_is_pushed_back(self) -> None:
        later = str(int(LINK.expires_at.timestamp()) + 3600)
        assert refusal({**params_of(), "expires": later}, now=LINK.expires_at) == "link_forged"


class TestAMalformedLink:
    @pytest.mark.parametrize(
        "change",
        [{"sig": "short"}, {"sig": "A" * 44}, {"expires": "soon"}, {"expires": "9" * 11},
         {"claimer": "x" * 401}, {"claimer": "bad\nline"}, {"account": ""}, {"account": "a" * 201},
         {"phone": "A" * 64}, {"device": "b" * 63}],
    )  # fmt: skip
    def test_with_a_field_out_of_its_form_or_size_is_refused(self, change: dict[str, str]) -> None:
        assert refusal({**params_of(), **change}) == "link_malformed"

    @pytest.mark.parametrize("missing", ["account", "claimer", "expires", "sig"])
    def test_without_a_field_is_refused(self, missing: str) -> None:
        params = params_of()
        del params[missing]
        assert refusal(params) == "link_malformed"
