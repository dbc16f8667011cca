"""coupons' own metrics (the consumer and HTTP ones are shared)."""

from prometheus_client import Counter

ORDERS = Counter("scrm_coupons_orders_total", "Order events recorded, by status.", ["status"])
