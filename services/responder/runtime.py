"""What responder's parts share in one process: its clock, its timers, the policies in force,
and the gauges of its conversations; made once per app, bound to its database and outbox when
the service starts."""

from datetime import timedelta

from services.responder import (
    metrics,
    offers,
    repository,
    routing,
    routing_repository,
    service,
)
from services.responder.clocks import Deps
from services.responder.config import ResponderSettings
from services.responder.offers import OfferRules
from services.responder.policies import PolicyBook
from services.responder.time_source import SimulatedClock, SystemClock, TimeSource
from services.responder.timers import Timer, Timers
from shared.db import transaction
from shared.periodic import PeriodicTask
from shared.service import ServiceParts


class Runtime:
    def __init__(self, settings: ResponderSettings) -> None:
        self.settings = settings
        self.clock: TimeSource = (
            SimulatedClock(settings.simulated_start or SystemClock().now())
            if settings.clock == "simulated"
            else SystemClock()
        )
        self.policies = PolicyBook()
        self._parts: ServiceParts | None = None
        self._timers: Timers | None = None
        self._team_labels: set[str] = set()

    def bind(self, parts: ServiceParts) -> Deps:
        """The dependencies of every change, for the service's database and outbox."""
        self._parts = parts
        return self.deps

    @property
    def parts(self) -> ServiceParts:
        if self._parts is None:
            raise RuntimeError("responder's runtime is not bound to a running service yet")
        return self._parts

    @property
    def deps(self) -> Deps:
        weight = timedelta(seconds=self.settings.priority_weight_seconds)
        return Deps(self.parts.outbox, self.timers.schedule, self.policies, weight)

    @property
    def timers(self) -> Timers:
        if self._timers is None:
            self._timers = Timers(
                self.clock, fire=self._fire, scan=self._scan,
                scan_seconds=self.settings.timer_scan_seconds,
                horizon=timedelta(seconds=self.settings.timer_horizon_seconds),
                batch=self.settings.timer_batch,
            )  # fmt: skip
        return self._timers

    async def _fire(self, due: list[Timer]) -> None:
        async with transaction(self.parts.sessionmaker) as session:
            await service.fire(session, due, now=self.clock.now(), deps=self.deps)

    async def _scan(self, horizon_end: object) -> list[Timer]:
        async with self.parts.sessionmaker() as session:
            rows = await repository.timers_due_by(session, horizon_end)  # type: ignore[arg-type]
        return [Timer(at, kind, ref) for kind, ref, at in rows]  # type: ignore[arg-type]

    def loops(self) -> list[PeriodicTask | Timers]:
        gauges = PeriodicTask("conversation-gauges", self.settings.gauges_refresh_seconds,
                              self._count_conversations)  # fmt: skip
        silence = self.settings.heartbeat_timeout_seconds
        presence = PeriodicTask("agent-presence", min(10.0, silence / 3), self._sweep_presence)
        loops: list[PeriodicTask | Timers] = [self.timers, gauges, presence]
        if self.settings.push_routing:
            loops.append(PeriodicTask("offers", self.settings.offer_interval_seconds,
                                      self._make_offers, drain=True))  # fmt: skip
        return loops

    @property
    def offer_rules(self) -> OfferRules:
        settings = self.settings
        return OfferRules(
            lifetime=timedelta(seconds=settings.offer_seconds),
            lapses_before_away=settings.offer_lapses_before_away,
            vip_priority=settings.vip_priority,
        )

    async def _make_offers(self) -> int:
        async with transaction(self.parts.sessionmaker) as session:
            return await offers.make_offers(session, now=self.clock.now(), rules=self.offer_rules)

    async def _sweep_presence(self) -> None:
        silence = timedelta(seconds=self.settings.heartbeat_timeout_seconds)
        async with transaction(self.parts.sessionmaker) as session:
            await routing.sweep_presence(session, now=self.clock.now(), silence=silence)

    async def _count_conversations(self) -> None:
        async with self.parts.sessionmaker() as session:
            counts = await repository.open_counts(session)
            oldest = await repository.oldest_awaiting(session)
        for status in ("open", "pending", "snoozed"):
            metrics.OPEN_CONVERSATIONS.labels(status).set(counts.get(status, 0))
        age = (self.clock.now() - oldest).total_seconds() if oldest else 0.0
        metrics.OLDEST_UNANSWERED.set(max(age, 0.0))
        total = sum(counts.values())
        metrics.UNANSWERED_SHARE.set(counts.get("open", 0) / total if total else 0.0)
        await self._count_routing()

    async def _count_routing(self) -> None:
        async with self.parts.sessionmaker() as session:
            depth, oldest = await routing_repository.queue_stats(session)
            presences = await routing_repository.presence_counts(session)
            held, capacity = await routing_repository.online_load(session)
            teams = await routing_repository.team_load(session)
        metrics.QUEUE_DEPTH.set(depth)
        age = (self.clock.now() - oldest).total_seconds() if oldest else 0.0
        metrics.OLDEST_QUEUED.set(max(age, 0.0))
        for presence in ("online", "away", "offline"):
            metrics.AGENTS.labels(presence).set(presences.get(presence, 0))
        metrics.CAPACITY_IN_USE.set(held / capacity if capacity else 0.0)
        self._count_teams(teams)

    def _count_teams(self, teams: dict[str | None, tuple[int, int, int]]) -> None:
        """Per team, the largest `metric_teams` by agents online under their own label; teams
        gone since the last count lose theirs."""
        labelled: dict[str, tuple[int, int, int]] = {}
        largest = sorted((team for team in teams if team is not None),
                         key=lambda team: (-teams[team][0], team))  # fmt: skip
        own = set(largest[: self.settings.metric_teams])
        for team, (agents, held, room) in teams.items():
            label = "none" if team is None else team if team in own else "other"
            was = labelled.get(label, (0, 0, 0))
            labelled[label] = (was[0] + agents, was[1] + held, was[2] + room)
        for gone in self._team_labels - labelled.keys():
            metrics.TEAM_AGENTS_ONLINE.remove(gone)
            metrics.TEAM_CAPACITY_IN_USE.remove(gone)
        for label, (agents, held, room) in labelled.items():
            metrics.TEAM_AGENTS_ONLINE.labels(label).set(agents)
            metrics.TEAM_CAPACITY_IN_USE.labels(label).set(held / room if room else 0.0)
        self._team_labels = set(labelled)
