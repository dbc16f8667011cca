"""Why coupons says no: a closed set of codes for each action, each with the message a caller
shows. The API answers a refusal with its code and message; metrics count outcomes by code."""

from typing import Literal, get_args

IssueRefusalCode = Literal[
    "campaign_not_active", "currency_mismatch", "order_amount_unknown", "below_minimum_total",
    "budget_exhausted",
]  # fmt: skip
ClaimRefusalCode = Literal[
    "campaign_ended", "window_closed", "own_packet", "linked_identity", "same_phone",
    "same_device", "not_new_customer", "daily_cap_reached", "packet_empty",
]  # fmt: skip
RedeemRefusalCode = Literal[
    "wrong_account", "not_holder", "not_yet_valid", "expired", "currency_mismatch",
    "below_minimum_spend", "already_redeemed", "idempotency_key_reused",
]  # fmt: skip
# Why a referred fan's first order earned the referrer nothing: kept on the reward, final.
RewardRefusalCode = Literal["budget_exhausted", "below_minimum_order", "currency_mismatch"]
RefusalCode = IssueRefusalCode | ClaimRefusalCode | RedeemRefusalCode

MESSAGES: dict[str, str] = {
    "campaign_not_active": "the campaign is not active: it issues no packets",
    "currency_mismatch": "the amount is not in the campaign's currency",
    "order_amount_unknown": "the campaign's packet total depends on the order's amount: give it",
    "below_minimum_total": "the packet's total is too small for its shares at the minimum share",
    "budget_exhausted": "the campaign's budget cannot cover the packet: nothing was issued",
    "campaign_ended": "the campaign has ended: its packets can no longer be claimed",
    "window_closed": "the packet's claim window has closed",
    "own_packet": "a fan cannot claim a share of their own packet",
    "linked_identity": "the claimer is the packet owner under another identity",
    "same_phone": "the claimer has the packet owner's phone",
    "same_device": "the claimer uses the packet owner's device",
    "not_new_customer": "the campaign is for new customers and the claimer has ordered before",
    "daily_cap_reached": "the claimer has reached the campaign's daily claim limit",
    "packet_empty": "every share of the packet has been claimed",
    "wrong_account": "the coupon is not valid on this brand account",
    "not_holder": "the coupon belongs to another fan",
    "not_yet_valid": "the coupon is not valid yet",
    "expired": "the coupon has expired",
    "below_minimum_spend": "the order is below the coupon's minimum spend",
    "already_redeemed": "the coupon has already been redeemed",
    "idempotency_key_reused": "the idempotency key was used for another redemption",
    "below_minimum_order": "the referred customer's first order is below the reward's minimum",
}
ISSUE_REFUSALS: tuple[str, ...] = get_args(IssueRefusalCode)
CLAIM_REFUSALS: tuple[str, ...] = get_args(ClaimRefusalCode)
REDEEM_REFUSALS: tuple[str, ...] = get_args(RedeemRefusalCode)
REWARD_REFUSALS: tuple[str, ...] = get_args(RewardRefusalCode)


class Refused(Exception):
    """An action refused for a reason of the closed sets above. Raised out of a service, it
    rolls back what the action had written in its transaction."""

    def __init__(self, code: RefusalCode) -> None:
        super().__init__(MESSAGES[code])
        self.code: RefusalCode = code

    @property
    def message(self) -> str:
        return MESSAGES[self.code]


class NotFound(LookupError):
    """What the request names does not exist (or belongs to another brand account)."""
