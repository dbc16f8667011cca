"""The budget gauges: active campaigns by what their budget has left (ok, low, exhausted) and
budgets and what is left of them summed by currency. Labels stay bounded (a state, an ISO
currency): a campaign is never a label, for operators may make any number of them."""

from collections import Counter, defaultdict

from sqlalchemy.ext.asyncio import AsyncSession

from services.coupons import invariants_repository, metrics

_SEEN_CURRENCIES: set[str] = set()


def budget_state(*, budget: int, left: int, least_packet: int, low_share: float) -> str:
    """`exhausted` when not even the smallest packet fits, `low` under the low share."""
    if left < least_packet:
        return "exhausted"
    if left < budget * low_share:
        return "low"
    return "ok"


async def refresh(session: AsyncSession, *, low_share: float) -> None:
    budgets = await invariants_repository.active_budgets(session)
    states: Counter[str] = Counter()
    left: defaultdict[str, int] = defaultdict(int)
    total: defaultdict[str, int] = defaultdict(int)
    for currency, budget, remaining, least_packet in budgets:
        states[budget_state(budget=budget, left=remaining, least_packet=least_packet,
                            low_share=low_share)] += 1  # fmt: skip
        left[currency] += remaining
        total[currency] += budget
    for state in ("ok", "low", "exhausted"):
        metrics.CAMPAIGNS_BY_BUDGET.labels(state).set(states[state])
    _SEEN_CURRENCIES.update(left)
    for currency in _SEEN_CURRENCIES:  # one whose campaigns all ended goes to 0
        metrics.BUDGET_LEFT.labels(currency).set(left.get(currency, 0))
        metrics.BUDGET_TOTAL.labels(currency).set(total.get(currency, 0))
