"""The claims of ``make bench-routing``: agents, each on a keep-alive connection of its own,
working a queue through responder's agent API, or against the bare baseline at the same paths.

An agent claims the next conversation, works on it for a while, resolves it and claims again.
Its pauses (`Pacing`) are drawn from a generator seeded by the round's name and the agent, so
both sides get the same schedule, and the agents' first claims are spread evenly over one work
period so they do not all claim in the same instant. With no work the loop is closed (claim,
resolve, claim again at once, as `bench.loadgen`'s): the claims a second are then the most the
side sustains, and latency mostly the wait behind the other agents' requests (agents / claims
a second). Only the claims are timed; a
heartbeat goes at the start and every 15 s, as the console sends them (the bare baseline
answers those 404)."""

import asyncio
import json
import math
import random
import time
from asyncio import StreamReader, StreamWriter
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field

import httpx

from bench import loadgen

CLAIM = "/v1/agent/claim-next"
HEARTBEAT = "/v1/agent/heartbeat"
HEARTBEAT_EVERY_SECONDS = 15.0
CAPACITY = 5  # the agent API's default: conversations held at once
WORK_SPREAD = (0.5, 1.5)  # each pause, as a share of the work period


@dataclass(frozen=True)
class Agent:
    id: str
    token: str

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}


@dataclass(frozen=True)
class Pacing:
    """How long an agent works on what it claimed before resolving it: `work_seconds` times a
    share drawn uniformly from `WORK_SPREAD`; the same `schedule`, the same pauses."""

    work_seconds: float = 0.0  # 0: claim again at once (a closed loop)
    schedule: str = ""

    def first_claim_after(self, agent_index: int, agents: int) -> float:
        """Agents start one after another over one work period."""
        return self.work_seconds * agent_index / agents

    def pauses(self, agent: Agent) -> Iterator[float]:
        rng = random.Random(f"{self.schedule}/{agent.id}")  # noqa: S311 (a schedule, not secrets)
        while True:
            yield self.work_seconds * rng.uniform(*WORK_SPREAD)


BACK_TO_BACK = Pacing()


@dataclass(frozen=True)
class Claim:
    agent: str
    status: int
    conversation: str | None  # what the answer gave, None for a 204
    latency_ms: float


@dataclass
class ClaimRun:
    """One run of every agent's loop: its claims, in the order they were answered."""

    seconds: float = 0.0
    claims: list[Claim] = field(default_factory=list)
    resolves: Counter[int] = field(default_factory=Counter)  # by status

    @classmethod
    def combined(cls, runs: list["ClaimRun"]) -> "ClaimRun":
        return cls(sum(run.seconds for run in runs), [c for run in runs for c in run.claims],
                   sum((run.resolves for run in runs), Counter()))  # fmt: skip

    @property
    def timing(self) -> loadgen.Result:
        """The claims as the load generator reports requests (the resolves left out)."""
        statuses = Counter(claim.status for claim in self.claims)
        return loadgen.Result(len(self.claims), self.seconds, dict(statuses),
                              [claim.latency_ms for claim in self.claims])  # fmt: skip


async def add_agents(base_url: str, admin_token: str, count: int) -> list[Agent]:
    """`count` agents added through the admin API, each online (its first heartbeat)."""
    admin = {"Authorization": f"Bearer {admin_token}"}
    agents = []
    async with httpx.AsyncClient(base_url=base_url, timeout=30) as client:
        for n in range(count):
            agent_id = f"agent-{n:03d}"
            added = await client.post("/v1/admin/agents", headers=admin, json={
                "id": agent_id, "name": f"Agent {n}", "capacity": {"*": CAPACITY}})  # fmt: skip
            added.raise_for_status()
            agent = Agent(agent_id, added.json()["token"])
            online = await client.post(HEARTBEAT, headers=agent.headers,
                                       json={"presence": "online"})  # fmt: skip
            online.raise_for_status()
            agents.append(agent)
    return agents


async def run(
    port: int, agents: list[Agent], *, seconds: float, pacing: Pacing = BACK_TO_BACK
) -> ClaimRun:
    """Every agent claims, works and resolves until `seconds` have passed, then finishes what
    it began (the work cut short at the end, so both sides stop alike)."""
    result = ClaimRun()
    started = time.perf_counter()
    until = started + seconds
    await asyncio.gather(*(
        _work(port, agent, pacing.first_claim_after(n, len(agents)), pacing.pauses(agent),
              until, result)
        for n, agent in enumerate(agents)
    ))  # fmt: skip
    result.seconds = time.perf_counter() - started
    return result


class _Connection:
    """An agent's keep-alive connection."""

    def __init__(self, port: int, agent: Agent, streams: tuple[StreamReader, StreamWriter]):
        self.port, self.agent = port, agent
        self.reader, self.writer = streams

    async def post(self, path: str, body: bytes = b"") -> tuple[int, bytes]:
        headers = self.agent.headers | ({"Content-Type": "application/json"} if body else {})
        self.writer.write(loadgen.http_request(self.port, path, body, headers))
        return await loadgen.read_answer(self.reader)


async def _work(
    port: int, agent: Agent, start_after: float, pauses: Iterator[float], until: float,
    result: ClaimRun,
) -> None:  # fmt: skip
    """One agent's loop: claim next; work on it; resolve what came; a heartbeat first and now
    and then. A pause is drawn for every claim, whatever it answered, so that the schedule
    stays the same on both sides."""
    connection = _Connection(port, agent, await asyncio.open_connection("127.0.0.1", port))
    try:
        await _pause(start_after, until)
        beat = -math.inf
        while (now := time.perf_counter()) < until:
            if now - beat > HEARTBEAT_EVERY_SECONDS:
                await connection.post(HEARTBEAT, b'{"presence": "online"}')
                beat = now
            claim = await _claim(connection)
            result.claims.append(claim)
            await _pause(next(pauses), until)
            if claim.conversation is not None:
                path = f"/v1/agent/conversations/{claim.conversation}/resolve"
                resolved, _ = await connection.post(path)
                result.resolves[resolved] += 1
    finally:
        connection.writer.close()


async def _claim(connection: _Connection) -> Claim:
    """The next conversation, timed from the request written to the answer read."""
    started = time.perf_counter()
    status, body = await connection.post(CLAIM)
    latency_ms = (time.perf_counter() - started) * 1000
    taken = json.loads(body).get("id") if status == 200 else None
    return Claim(connection.agent.id, status, taken, latency_ms)


async def _pause(seconds: float, until: float) -> None:
    """Wait `seconds`, no later than `until`; not at all (not even a turn of the loop) for 0."""
    if seconds > 0:
        await asyncio.sleep(max(0.0, min(seconds, until - time.perf_counter())))
