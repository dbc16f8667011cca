"""coupons: what nobody claimed goes back to the budget (packets' return reason, the shares
returned, the sweep's index) and referral rewards

Revision ID: 0003
Revises: 0002
"""

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None
SCHEMA = "coupons"
_WHEN = sa.DateTime(timezone=True)
_CENTS = sa.BigInteger()
_FAN = sa.String(400)
_ID = sa.String(200)


def upgrade() -> None:
    _expiry()
    _rewards()


def _expiry() -> None:
    op.add_column("packets", sa.Column("return_reason", sa.String(16)), schema=SCHEMA)
    op.create_check_constraint(
        "ck_packets_known_return_reason", "packets",
        "return_reason IS NULL OR return_reason IN ('expired', 'withdrawn')", schema=SCHEMA,
    )  # fmt: skip
    op.create_index(
        "ix_packets_unreturned", "packets", ["claim_ends_at"], schema=SCHEMA,
        postgresql_where=sa.text("returned_at IS NULL"),
    )  # fmt: skip
    op.create_table(
        "returned_shares",
        sa.Column("packet_id", sa.Uuid(), nullable=False),
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("amount_cents", _CENTS, nullable=False),
        sa.Column("returned_at", _WHEN, nullable=False),
        sa.PrimaryKeyConstraint("packet_id", "seq", name="pk_returned_shares"),
        schema=SCHEMA,
    )


def _rewards() -> None:
    checks = {
        "amount_not_negative": "amount_cents >= 0",
        "refused_holds_nothing": "refusal IS NULL OR amount_cents = 0",
        "only_paid_revoked": "revoked_at IS NULL OR refusal IS NULL",
    }
    op.create_table(
        "referral_rewards",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("campaign_id", sa.Uuid(), nullable=False),
        sa.Column("referred_fan_key", _FAN, nullable=False),
        sa.Column("referrer_fan_key", _FAN, nullable=False),
        sa.Column("account", _ID, nullable=False),
        sa.Column("order_id", _ID, nullable=False),
        sa.Column("order_cents", _CENTS, nullable=False),
        sa.Column("currency", sa.String(3), nullable=False),
        sa.Column("amount_cents", _CENTS, nullable=False),
        sa.Column("refusal", sa.String(32), nullable=True),
        sa.Column("rewarded_at", _WHEN, nullable=False),
        sa.Column("revoked_at", _WHEN, nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_referral_rewards"),
        sa.UniqueConstraint(
            "campaign_id",
            "referred_fan_key",
            name="uq_referral_rewards_campaign_id_referred_fan_key",
        ),
        *(
            sa.CheckConstraint(sql, name=f"ck_referral_rewards_{name}")
            for name, sql in checks.items()
        ),
        schema=SCHEMA,
    )
    op.create_index(
        "ix_referral_rewards_order", "referral_rewards", ["account", "order_id"], schema=SCHEMA
    )
    op.create_index(
        "ix_referral_rewards_referrer_fan_key", "referral_rewards", ["referrer_fan_key"],
        schema=SCHEMA,
    )  # fmt: skip


def downgrade() -> None:
    op.drop_table("referral_rewards", schema=SCHEMA)
    op.drop_table("returned_shares", schema=SCHEMA)
    op.drop_index("ix_packets_unreturned", "packets", schema=SCHEMA)
    op.drop_constraint("ck_packets_known_return_reason", "packets", schema=SCHEMA)
    op.drop_column("packets", "return_reason", schema=SCHEMA)
