from datetime import datetime
from decimal import Decimal

from sqlalchemy import BigInteger, DateTime, Index, Numeric, String, Text, func, text
from sqlalchemy.dialects.postgresql import ARRAY, JSONB
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from shared.db import service_metadata

SCHEMA = "scoring"
metadata, infrastructure = service_metadata(SCHEMA)
SORTABLE = ("priority", "wallet", "social", "engagement_numerator", "influence")


class Base(DeclarativeBase):
    metadata = metadata


class FanProfile(Base):
    """One fan identity towards one brand account: the model's state (`FanState` as JSON; JSONB
    keeps numbers as NUMERIC, so its big forward-decay sums round-trip exactly) and the scores
    read from it at `scored_at`, with what explains them (`domain.stored_components`)."""

    __tablename__ = "fan_profiles"

    fan_key: Mapped[str] = mapped_column(String(400), primary_key=True)
    platform: Mapped[str] = mapped_column(String(32))
    account: Mapped[str] = mapped_column(String(200))
    interaction_count: Mapped[int] = mapped_column(default=0)
    first_seen_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    last_seen_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    first_active_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    last_active_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    state: Mapped[dict[str, object]] = mapped_column(JSONB, server_default="{}")
    engagement_numerator: Mapped[Decimal] = mapped_column(Numeric, server_default="0")
    engagement: Mapped[Decimal] = mapped_column(Numeric(14, 2), server_default="0")
    influence: Mapped[Decimal] = mapped_column(Numeric(10, 2), server_default="0")
    wallet: Mapped[int] = mapped_column(server_default="0")
    social: Mapped[int] = mapped_column(server_default="0")
    priority: Mapped[int] = mapped_column(server_default="0")
    tier: Mapped[str] = mapped_column(String(16), server_default="silent")
    role: Mapped[str] = mapped_column(String(16), server_default="consumer")
    lifecycle: Mapped[str | None] = mapped_column(String(16))
    tags: Mapped[list[str]] = mapped_column(ARRAY(Text), server_default="{}")
    components: Mapped[dict[str, dict[str, object]]] = mapped_column(JSONB, server_default="{}")
    paid_orders: Mapped[int] = mapped_column(server_default="0")
    monetary_cents: Mapped[int] = mapped_column(BigInteger, server_default="0")
    scored_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    # The person this identity is linked to (`identity_graph`), and the sum of the states of
    # its identities the scores are read from; None on both: an identity on its own.
    person_key: Mapped[str | None] = mapped_column(String(400))
    person_state: Mapped[dict[str, object] | None] = mapped_column(JSONB)
    updated_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now(), onupdate=func.now()
    )

    __table_args__ = (
        *(
            Index(f"ix_fan_profiles_account_{name}", "account", name, "fan_key")
            for name in SORTABLE
        ),
        Index("ix_fan_profiles_lifecycle_last_active", "lifecycle", "last_active_at"),
        Index(
            "ix_fan_profiles_person_key",
            "person_key",
            postgresql_where=text("person_key IS NOT NULL"),
        ),
        # which fans are in a person, without reading their rows (`identity_graph.persons_of`)
        Index(
            "ix_fan_profiles_person_of",
            "fan_key",
            postgresql_include=["person_key"],
            postgresql_where=text("person_key IS NOT NULL"),
        ),
    )


class BrandCutPoints(Base):
    """A brand account's standing among its fans, recomputed now and then: tier cut points in
    engagement-numerator space, wallet quintiles (`WalletCutPoints` as JSON)."""

    __tablename__ = "brand_cut_points"

    platform: Mapped[str] = mapped_column(String(32), primary_key=True)
    account: Mapped[str] = mapped_column(String(200), primary_key=True)
    tier_occasional: Mapped[Decimal | None] = mapped_column(Numeric)
    tier_frequent: Mapped[Decimal | None] = mapped_column(Numeric)
    tier_leader: Mapped[Decimal | None] = mapped_column(Numeric)
    wallet: Mapped[dict[str, object]] = mapped_column(JSONB)
    refreshed_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class ManualLabel(Base):
    """What an operator set on a fan by hand (`FanLabelled`): kept apart from the profile, so a
    decision about a fan whose events come later (a replay reads the topics one after the
    other) waits for them."""

    __tablename__ = "manual_labels"

    fan_key: Mapped[str] = mapped_column(String(400), primary_key=True)
    role: Mapped[str | None] = mapped_column(String(16))
    tags: Mapped[list[str]] = mapped_column(ARRAY(Text), server_default="{}")
    operator: Mapped[str | None] = mapped_column(String(200))
    decided_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class ReferralFriend(Base):
    """A friend who claimed a share of a fan's red packets (`ShareClaimed`), once per pair: the
    fan's first claim from that friend is the one that adds the pair, so the friends the fan
    reached count each friend once, whatever order and however often the claims arrive."""

    __tablename__ = "referral_friends"

    referrer_fan_key: Mapped[str] = mapped_column(String(400), primary_key=True)
    friend_fan_key: Mapped[str] = mapped_column(String(400), primary_key=True)


class IdentityKey(Base):
    """An identifier (`FanIdentifiers`) a fan identity's events carried: identities that carry
    the same one are one person's, unless more identities carry it than an identifier may link
    (`ScoringSettings.identifier_max_fans`: a shared phone, a shop's placeholder id)."""

    __tablename__ = "identity_keys"

    kind: Mapped[str] = mapped_column(String(32), primary_key=True)
    value: Mapped[str] = mapped_column(String(200), primary_key=True)
    fan_key: Mapped[str] = mapped_column(String(400), primary_key=True, index=True)


class IdentityMerge(Base):
    """An operator's decision (`FanMerged`) that two identities are one person's, the pair in
    key order: it links them unless one of them was unmerged after `merged_at` (the latest
    merge of the pair is kept)."""

    __tablename__ = "identity_merges"

    fan_key: Mapped[str] = mapped_column(String(400), primary_key=True)
    other_fan_key: Mapped[str] = mapped_column(String(400), primary_key=True, index=True)
    merged_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    operator: Mapped[str | None] = mapped_column(String(200))


class IdentityUnmerge(Base):
    """An operator's decision (`FanUnmerged`) that an identity stands on its own: the latest
    one is kept. Its identifiers link it to no one; merges decided before it are undone."""

    __tablename__ = "identity_unmerges"

    fan_key: Mapped[str] = mapped_column(String(400), primary_key=True)
    unmerged_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    operator: Mapped[str | None] = mapped_column(String(200))
