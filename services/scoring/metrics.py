"""scoring's own metrics (the consumer and HTTP ones are shared)."""

from prometheus_client import Counter

PROFILES_CREATED = Counter("scrm_scoring_profiles_created_total", "Fan profiles created.")
