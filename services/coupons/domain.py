"""Pure coupon logic, no I/O. Money is integer cents.

The red-packet split: a packet's total is cut into its shares when it is issued, so a claim only
takes the next share and never computes under a lock. `lucky_split` is the double-mean method:
with M cents and k shares left, each share but the last is a uniform random integer in
[m, min(⌊2M/k⌋, M - m·(k-1))], m the minimum share, and the last takes what remains; the shares
sum exactly to the total and each is at least m. `equal_split` gives every share the same, the
cents left over one each to the first shares.
"""

import random
from datetime import date, datetime
from typing import Literal
from zoneinfo import ZoneInfo

from shared.contracts import OrderPaid, OrderRefunded

OrderStatus = Literal["paid", "refunded"]
Split = Literal["lucky", "equal"]


def order_status(event: OrderPaid | OrderRefunded) -> OrderStatus:
    return "paid" if isinstance(event, OrderPaid) else "refunded"


class SplitError(ValueError):
    """A total that cannot be cut into that many shares of at least the minimum."""


def _check_splittable(total: int, shares: int, minimum: int) -> None:
    if shares < 1 or minimum < 1:
        raise SplitError("a packet has at least one share, each of at least 1 cent")
    if total < shares * minimum:
        raise SplitError(f"{total} cents do not make {shares} shares of {minimum} cents or more")


def share_bound(left: int, shares_left: int, minimum: int) -> int:
    """The largest share the double-mean method may draw with `left` cents and `shares_left`
    shares (more than one) still to cut."""
    return min(2 * left // shares_left, left - minimum * (shares_left - 1))


def lucky_split(total: int, shares: int, *, minimum: int, rng: random.Random) -> list[int]:
    """The double-mean split, drawn with `rng` (the same seed gives the same shares)."""
    _check_splittable(total, shares, minimum)
    left, amounts = total, []
    for shares_left in range(shares, 1, -1):
        amount = rng.randint(minimum, share_bound(left, shares_left, minimum))
        amounts.append(amount)
        left -= amount
    amounts.append(left)
    return amounts


def equal_split(total: int, shares: int, *, minimum: int) -> list[int]:
    """Equal shares; the cents that do not divide go one each to the first shares."""
    _check_splittable(total, shares, minimum)
    base, extra = divmod(total, shares)
    return [base + 1 if index < extra else base for index in range(shares)]


def split_total(
    total: int, shares: int, *, split: Split, minimum: int, rng: random.Random
) -> list[int]:
    if split == "equal":
        return equal_split(total, shares, minimum=minimum)
    return lucky_split(total, shares, minimum=minimum, rng=rng)


def best_luck(claims: list[tuple[int, int]]) -> int | None:
    """Of (claim order, amount) pairs, the order of the largest amount, the earlier claim on a
    tie; None without claims."""
    if not claims:
        return None
    return min(claims, key=lambda claim: (-claim[1], claim[0]))[0]


def claim_day(now: datetime, time_zone: str) -> date:
    """The day a claim counts towards its fan's daily cap: the campaign's calendar day."""
    return now.astimezone(ZoneInfo(time_zone)).date()


def slice_budget(cents: int, slices: int) -> list[int]:
    """A budget spread over its slices, as evenly as cents allow."""
    base, extra = divmod(cents, slices)
    return [base + 1 if index < extra else base for index in range(slices)]


def draw_across(remaining: dict[int, int], cents: int) -> dict[int, int] | None:
    """New remaining amounts after taking `cents` from the slices (by number), the fullest
    first; None when together they hold less."""
    if cents > sum(remaining.values()):
        return None
    left, changed = cents, {}
    for slice_no, held in sorted(remaining.items(), key=lambda item: (-item[1], item[0])):
        if left == 0:
            break
        taken = min(held, left)
        changed[slice_no], left = held - taken, left - taken
    return changed


def add_across(remaining: dict[int, int], cents: int) -> dict[int, int]:
    """New remaining amounts after adding `cents` spread evenly over the slices."""
    numbers = sorted(remaining)
    added = slice_budget(cents, len(numbers))
    return {
        slice_no: remaining[slice_no] + more for slice_no, more in zip(numbers, added, strict=True)
    }
