"""The claims of ``make bench-routing``: agents, each on a keep-alive connection of its own,
claiming the next conversation and resolving it, over and over (a closed loop, as
`bench.loadgen`'s), through responder's agent API or against the bare baseline at the same paths.
Only the claims are timed; a heartbeat goes at the start and every 15 s, as the console sends
them (the bare baseline answers those 404)."""

import asyncio
import json
import math
import time
from asyncio import StreamReader, StreamWriter
from collections import Counter
from dataclasses import dataclass, field

import httpx

from bench import loadgen

CLAIM = "/v1/agent/claim-next"
HEARTBEAT = "/v1/agent/heartbeat"
HEARTBEAT_EVERY_SECONDS = 15.0
CAPACITY = 5  # the agent API's default: conversations held at once


@dataclass(frozen=True)
class Agent:
    id: str
    token: str

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}


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


async def run(port: int, agents: list[Agent], *, seconds: float) -> ClaimRun:
    """Every agent claims and resolves until `seconds` have passed, finishing what it began."""
    result = ClaimRun()
    until = time.perf_counter() + seconds
    started = time.perf_counter()
    await asyncio.gather(*(_work(port, agent, until, result) for agent in agents))
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


async def _work(port: int, agent: Agent, until: float, result: ClaimRun) -> None:
    """One agent's loop: claim next; resolve what came; a heartbeat first and now and then."""
    connection = _Connection(port, agent, await asyncio.open_connection("127.0.0.1", port))
    try:
        beat = -math.inf
        while (now := time.perf_counter()) < until:
            if now - beat > HEARTBEAT_EVERY_SECONDS:
                await connection.post(HEARTBEAT, b'{"presence": "online"}')
                beat = now
            started = time.perf_counter()
            status, body = await connection.post(CLAIM)
            latency_ms = (time.perf_counter() - started) * 1000
            taken = json.loads(body).get("id") if status == 200 else None
            result.claims.append(Claim(agent.id, status, taken, latency_ms))
            if taken is not None:
                resolved, _ = await connection.post(f"/v1/agent/conversations/{taken}/resolve")
                result.resolves[resolved] += 1
    finally:
        connection.writer.close()
