"""coupons: campaigns and their budget slices, packets and shares, claims, coupons,
redemptions, daily claim counters, linked identities, referrals, issue refusals, brand API keys

Revision ID: 0002
Revises: 0001
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import ARRAY, JSONB

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None
SCHEMA = "coupons"
_WHEN = sa.DateTime(timezone=True)
_CENTS = sa.BigInteger()
_FAN = sa.String(400)
_ID = sa.String(200)


def upgrade() -> None:
    _campaigns()
    _packets()
    _claims_and_coupons()
    _lookups()


def _campaigns() -> None:
    checks = {
        "known_status": "status IN ('active', 'paused', 'ended')",
        "budget_not_negative": "budget_cents >= 0",
        "slices_in_range": "budget_slices BETWEEN 1 AND 256",
        "shares_in_range": "shares_per_packet BETWEEN 1 AND 1000",
        "known_split": "split IN ('lucky', 'equal')",
        "min_share_positive": "min_share_cents >= 1",
        "window_positive": "claim_window_seconds > 0",
        "known_audience": "audience IN ('anyone', 'new_customers')",
        "cap_positive": "daily_claim_cap IS NULL OR daily_claim_cap >= 1",
    }
    op.create_table(
        "campaigns",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("account", _ID, nullable=False),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("currency", sa.String(3), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("budget_cents", _CENTS, nullable=False),
        sa.Column("budget_slices", sa.Integer(), nullable=False),
        sa.Column("shares_per_packet", sa.Integer(), nullable=False),
        sa.Column("split", sa.String(8), nullable=False),
        sa.Column("min_share_cents", _CENTS, nullable=False),
        sa.Column("claim_window_seconds", sa.Integer(), nullable=False),
        sa.Column("audience", sa.String(16), nullable=False),
        sa.Column("daily_claim_cap", sa.Integer(), nullable=True),
        sa.Column("time_zone", sa.String(64), nullable=False),
        sa.Column("packet_rule", JSONB, nullable=False),
        sa.Column("coupon_terms", JSONB, nullable=False),
        sa.Column("referral_terms", JSONB, nullable=True),
        sa.Column("created_at", _WHEN, nullable=False),
        sa.Column("updated_at", _WHEN, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_campaigns"),
        *(sa.CheckConstraint(sql, name=f"ck_campaigns_{name}") for name, sql in checks.items()),
        schema=SCHEMA,
    )
    op.create_index("ix_campaigns_account", "campaigns", ["account"], schema=SCHEMA)
    op.create_table(
        "budget_slices",
        sa.Column("campaign_id", sa.Uuid(), nullable=False),
        sa.Column("slice_no", sa.Integer(), nullable=False),
        sa.Column("remaining_cents", _CENTS, nullable=False),
        sa.PrimaryKeyConstraint("campaign_id", "slice_no", name="pk_budget_slices"),
        sa.ForeignKeyConstraint(
            ["campaign_id"],
            [f"{SCHEMA}.campaigns.id"],
            ondelete="CASCADE",
            name="fk_budget_slices_campaign_id_campaigns",
        ),
        sa.CheckConstraint("remaining_cents >= 0", name="ck_budget_slices_remaining_not_negative"),
        schema=SCHEMA,
    )


def _packets() -> None:
    checks = {
        "total_positive": "total_cents >= 1",
        "shares_positive": "shares >= 1",
        "returned_in_total": "returned_cents BETWEEN 0 AND total_cents",
        "known_trigger": "trigger IN ('order', 'manual')",
    }
    op.create_table(
        "packets",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("campaign_id", sa.Uuid(), nullable=False),
        sa.Column("account", _ID, nullable=False),
        sa.Column("order_id", _ID, nullable=False),
        sa.Column("owner_fan_key", _FAN, nullable=False),
        sa.Column("owner_phone_sha256", sa.String(64), nullable=True),
        sa.Column("owner_device_sha256", sa.String(64), nullable=True),
        sa.Column("currency", sa.String(3), nullable=False),
        sa.Column("total_cents", _CENTS, nullable=False),
        sa.Column("shares", sa.Integer(), nullable=False),
        sa.Column("share_code", sa.String(64), nullable=False),
        sa.Column("trigger", sa.String(8), nullable=False),
        sa.Column("issued_at", _WHEN, nullable=False),
        sa.Column("claim_ends_at", _WHEN, nullable=False),
        sa.Column("returned_cents", _CENTS, nullable=False, server_default="0"),
        sa.Column("returned_at", _WHEN, nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_packets"),
        sa.UniqueConstraint("campaign_id", "order_id", name="uq_packets_campaign_id_order_id"),
        sa.UniqueConstraint("share_code", name="uq_packets_share_code"),
        *(sa.CheckConstraint(sql, name=f"ck_packets_{name}") for name, sql in checks.items()),
        schema=SCHEMA,
    )
    op.create_index("ix_packets_owner_fan_key", "packets", ["owner_fan_key"], schema=SCHEMA)
    op.create_table(
        "packet_shares",
        sa.Column("packet_id", sa.Uuid(), nullable=False),
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("amount_cents", _CENTS, nullable=False),
        sa.Column("claimed_by", _FAN, nullable=True),
        sa.Column("claimed_at", _WHEN, nullable=True),
        sa.PrimaryKeyConstraint("packet_id", "seq", name="pk_packet_shares"),
        sa.ForeignKeyConstraint(
            ["packet_id"], [f"{SCHEMA}.packets.id"], name="fk_packet_shares_packet_id_packets"
        ),
        sa.CheckConstraint("amount_cents >= 1", name="ck_packet_shares_amount_positive"),
        schema=SCHEMA,
    )


def _claims_and_coupons() -> None:
    op.create_table(
        "claims",
        sa.Column("id", sa.BigInteger(), sa.Identity(), nullable=False),
        sa.Column("campaign_id", sa.Uuid(), nullable=False),
        sa.Column("packet_id", sa.Uuid(), nullable=False),
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("fan_key", _FAN, nullable=False),
        sa.Column("amount_cents", _CENTS, nullable=False),
        sa.Column("phone_sha256", sa.String(64), nullable=True),
        sa.Column("device_sha256", sa.String(64), nullable=True),
        sa.Column("claimed_at", _WHEN, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_claims"),
        sa.UniqueConstraint("packet_id", "fan_key", name="uq_claims_packet_id_fan_key"),
        sa.UniqueConstraint("packet_id", "seq", name="uq_claims_packet_id_seq"),
        sa.ForeignKeyConstraint(
            ["packet_id", "seq"],
            [f"{SCHEMA}.packet_shares.packet_id", f"{SCHEMA}.packet_shares.seq"],
            name="fk_claims_packet_id_packet_shares",
        ),
        schema=SCHEMA,
    )
    op.create_index("ix_claims_campaign_id", "claims", ["campaign_id"], schema=SCHEMA)
    op.create_table(
        "coupons",
        sa.Column("id", sa.BigInteger(), sa.Identity(), nullable=False),
        sa.Column("code", sa.String(32), nullable=False),
        sa.Column("claim_id", sa.BigInteger(), nullable=False),
        sa.Column("campaign_id", sa.Uuid(), nullable=False),
        sa.Column("holder_fan_key", _FAN, nullable=False),
        sa.Column("amount_cents", _CENTS, nullable=False),
        sa.Column("currency", sa.String(3), nullable=False),
        sa.Column("min_spend_cents", _CENTS, nullable=False),
        sa.Column("accounts", ARRAY(sa.Text()), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("valid_from", _WHEN, nullable=False),
        sa.Column("expires_at", _WHEN, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_coupons"),
        sa.UniqueConstraint("code", name="uq_coupons_code"),
        sa.UniqueConstraint("claim_id", name="uq_coupons_claim_id"),
        sa.ForeignKeyConstraint(
            ["claim_id"], [f"{SCHEMA}.claims.id"], name="fk_coupons_claim_id_claims"
        ),
        sa.CheckConstraint("status IN ('active', 'redeemed')", name="ck_coupons_known_status"),
        sa.CheckConstraint("amount_cents >= 1", name="ck_coupons_amount_positive"),
        schema=SCHEMA,
    )
    op.create_index("ix_coupons_holder_fan_key", "coupons", ["holder_fan_key"], schema=SCHEMA)
    _redemptions()


def _redemptions() -> None:
    op.create_table(
        "redemptions",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("coupon_id", sa.BigInteger(), nullable=False),
        sa.Column("account", _ID, nullable=False),
        sa.Column("idempotency_key", _ID, nullable=False),
        sa.Column("order_id", _ID, nullable=False),
        sa.Column("fan_key", _FAN, nullable=False),
        sa.Column("order_cents", _CENTS, nullable=False),
        sa.Column("discount_cents", _CENTS, nullable=False),
        sa.Column("redeemed_at", _WHEN, nullable=False),
        sa.Column("reversed_at", _WHEN, nullable=True),
        sa.Column("reversal", sa.String(8), nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_redemptions"),
        sa.UniqueConstraint(
            "account", "idempotency_key", name="uq_redemptions_account_idempotency_key"
        ),
        sa.ForeignKeyConstraint(
            ["coupon_id"], [f"{SCHEMA}.coupons.id"], name="fk_redemptions_coupon_id_coupons"
        ),
        sa.CheckConstraint(
            "reversal IS NULL OR reversal IN ('refund', 'api')",
            name="ck_redemptions_known_reversal",
        ),
        schema=SCHEMA,
    )
    op.create_index(
        "uq_redemptions_active_coupon", "redemptions", ["coupon_id"], unique=True, schema=SCHEMA,
        postgresql_where=sa.text("reversed_at IS NULL"),
    )  # fmt: skip
    op.create_index("ix_redemptions_order", "redemptions", ["account", "order_id"], schema=SCHEMA)


def _lookups() -> None:
    op.create_table(
        "claim_counters",
        sa.Column("campaign_id", sa.Uuid(), nullable=False),
        sa.Column("fan_key", _FAN, nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("claims", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("campaign_id", "fan_key", "day", name="pk_claim_counters"),
        schema=SCHEMA,
    )
    op.create_table(
        "fan_identities",
        sa.Column("fan_key", _FAN, nullable=False),
        sa.Column("person_key", _FAN, nullable=False),
        sa.Column("updated_at", _WHEN, nullable=False),
        sa.PrimaryKeyConstraint("fan_key", name="pk_fan_identities"),
        schema=SCHEMA,
    )
    op.create_index("ix_fan_identities_person_key", "fan_identities", ["person_key"], schema=SCHEMA)
    op.create_table(
        "referrals",
        sa.Column("campaign_id", sa.Uuid(), nullable=False),
        sa.Column("referred_fan_key", _FAN, nullable=False),
        sa.Column("referrer_fan_key", _FAN, nullable=False),
        sa.Column("packet_id", sa.Uuid(), nullable=False),
        sa.Column("claim_id", sa.BigInteger(), nullable=False),
        sa.Column("referred_at", _WHEN, nullable=False),
        sa.PrimaryKeyConstraint("campaign_id", "referred_fan_key", name="pk_referrals"),
        schema=SCHEMA,
    )
    op.create_index(
        "ix_referrals_referrer_fan_key", "referrals", ["referrer_fan_key"], schema=SCHEMA
    )
    op.create_table(
        "issue_refusals",
        sa.Column("campaign_id", sa.Uuid(), nullable=False),
        sa.Column("order_id", _ID, nullable=False),
        sa.Column("reason", sa.String(32), nullable=False),
        sa.Column("total_cents", _CENTS, nullable=True),
        sa.Column("refused_at", _WHEN, nullable=False),
        sa.PrimaryKeyConstraint("campaign_id", "order_id", name="pk_issue_refusals"),
        schema=SCHEMA,
    )
    op.create_table(
        "brand_api_keys",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("account", _ID, nullable=False),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("key_sha256", sa.String(64), nullable=False),
        sa.Column("created_at", _WHEN, nullable=False),
        sa.Column("revoked_at", _WHEN, nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_brand_api_keys"),
        sa.UniqueConstraint("key_sha256", name="uq_brand_api_keys_key_sha256"),
        schema=SCHEMA,
    )
    op.create_index("ix_brand_api_keys_account", "brand_api_keys", ["account"], schema=SCHEMA)


def downgrade() -> None:
    for table in (
        "brand_api_keys", "issue_refusals", "referrals", "fan_identities", "claim_counters",
        "redemptions", "coupons", "claims", "packet_shares", "packets", "budget_slices",
        "campaigns",
    ):  # fmt: skip
        op.drop_table(table, schema=SCHEMA)
