"""Group commit of claims: the claims the door gets together are checked, written and announced
together, in one transaction of three statements whatever their number (what they check, what
they write, their events), as ingest commits its webhooks (`services/ingest/group_commit.py`).
One claim a transaction cost coupons five round trips and PostgreSQL five statements and a
commit a claim, most of both's work (make bench-coupons).

A batch is whatever has queued when a worker is free (up to `claim_batch_max`); up to
`claim_batches_in_flight` batches commit at once. In a batch:
- a claim answered by what was read (no such packet, a refusal, the fan's claim of the packet
  asked again) is answered at once: nothing of it is written;
- the claims that take a share are written in one statement, each claim's share taken in
  arrival order among the batch's claims of its packet, and answered once the batch committed;
- a claim the batch can't make as one of many is made alone after it, in a transaction of its
  own (`claim_alone`, the route's way): a packet whose free shares are all held by claims in
  flight or that was found empty, a second claim of a fan in the batch on one packet (or one
  campaign with a daily cap);
- a claim that raced another transaction on the fan's own rows (their claim of the packet, or
  their day's count past the cap) rolls the whole batch back, and each claim is made alone.
A batch that fails to commit has its claims made alone, so a claim's answer never depends on
the others'."""

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime

from services.coupons import claims, claims_repository, metrics
from services.coupons.caches import EmptyPackets
from services.coupons.claims import Claimed, ClaimRequest
from services.coupons.claims_repository import Take
from services.coupons.refusals import NotFound, Refused
from shared.db import DriverTransaction, NeedsSession, after_commit, driver_transaction, transaction
from shared.logging import get_logger
from shared.service import ServiceParts

log = get_logger(__name__)


@dataclass
class _Pending:
    request: ClaimRequest
    account: str
    done: asyncio.Future[Claimed] = field(
        default_factory=lambda: asyncio.get_running_loop().create_future()
    )

    def answer(self, outcome: Claimed | Exception) -> None:
        if self.done.done():  # its request was cancelled
            return
        if isinstance(outcome, Exception):
            self.done.set_exception(outcome)
        else:
            self.done.set_result(outcome)


class _Redo(Exception):
    """A claim of the batch raced another transaction on the fan's rows: roll the batch back."""


class ClaimBatches:
    """The claims of the door, group-committed; a `Loop` of the service (started and stopped
    with it: stopping makes the claims queued and in flight first)."""

    name = "claim-batches"

    def __init__(
        self, parts: ServiceParts, empty: EmptyPackets, *, max_batch: int, in_flight: int
    ) -> None:
        self._parts = parts
        self._empty = empty
        self._max_batch = max_batch
        self._in_flight = in_flight
        self._queue: asyncio.Queue[_Pending | None] = asyncio.Queue()
        self._workers: list[asyncio.Task[None]] = []
        self._alone: set[asyncio.Task[None]] = set()
        self._stopping = False

    @property
    def healthy(self) -> bool:
        return bool(self._workers) and not any(worker.done() for worker in self._workers)

    def start(self) -> None:
        self._workers = [
            asyncio.create_task(self._work(), name=f"claim-batches-{n}")
            for n in range(self._in_flight)
        ]

    async def stop(self) -> None:
        self._stopping = True
        for _ in self._workers:
            self._queue.put_nowait(None)  # after every claim queued before it
        await asyncio.gather(*self._workers, return_exceptions=True)
        await asyncio.gather(*self._alone, return_exceptions=True)

    async def claim(self, request: ClaimRequest, account: str) -> Claimed:
        """The claim, committed; raises NotFound or Refused as `claims.claim_share`."""
        own = claims.refuse_known_empty(
            self._empty, request, account=account, now=datetime.now(UTC)
        )
        if own is not None or self._stopping:  # the fan's claim of an emptied packet
            return await self.claim_alone(request, account)
        pending = _Pending(request, account)
        self._queue.put_nowait(pending)  # unbounded: the HTTP server bounds the requests
        return await pending.done

    async def claim_alone(self, request: ClaimRequest, account: str) -> Claimed:
        """The claim in a transaction of its own: a driver transaction first, and in a session
        when it needs the longer way (`claims`)."""
        parts, empty = self._parts, self._empty
        try:
            async with driver_transaction(parts.engine) as tx:
                return await claims.claim_share(
                    tx, request, account=account, outbox=parts.outbox, now=datetime.now(UTC),
                    empty=empty,
                )  # fmt: skip
        except NeedsSession:  # rolled back: the longer way, in a session
            async with transaction(parts.sessionmaker) as session:
                return await claims.claim_share(
                    session, request, account=account, outbox=parts.outbox,
                    now=datetime.now(UTC), empty=empty,
                )  # fmt: skip

    async def _work(self) -> None:
        last = False
        while not last:
            first = await self._queue.get()
            if first is None:
                return
            batch = [first]
            while len(batch) < self._max_batch and not self._queue.empty():
                pending = self._queue.get_nowait()
                if pending is None:
                    last = True
                    break
                batch.append(pending)
            try:
                await self._commit(batch)
            except Exception:  # every claim has its answer, or is made alone
                log.exception("claim batch failed")

    async def _commit(self, batch: list[_Pending]) -> None:
        alone: list[_Pending] = []
        try:
            async with driver_transaction(self._parts.engine) as tx:
                writes = await self._checked(tx, batch, alone)
                written = await self._write(tx, writes, alone) if writes else []
        except Exception as exc:
            alone = [pending for pending in batch if not pending.done.done()]
            outcome = "redone" if isinstance(exc, _Redo) else "failed"
            metrics.CLAIM_BATCHES.labels(outcome).inc()
            if outcome == "failed":
                log.warning("claim batch not committed", size=len(alone), error=repr(exc))
        else:
            metrics.CLAIM_BATCHES.labels("committed").inc()
            for pending, claimed in written:
                pending.answer(claimed)
        metrics.CLAIM_BATCH_SIZE.observe(len(batch))
        for pending in alone:
            task = asyncio.create_task(self._made_alone(pending))
            self._alone.add(task)
            task.add_done_callback(self._alone.discard)

    async def _checked(
        self, tx: DriverTransaction, batch: Sequence[_Pending], alone: list[_Pending]
    ) -> list[tuple[_Pending, Take]]:
        """The claims to write; those answered by what was read are answered now."""
        now = datetime.now(UTC)
        keys = [(pending.request.share_code, pending.request.fan_key) for pending in batch]
        contexts = await claims_repository.claim_contexts(tx, keys)
        writes: list[tuple[_Pending, Take]] = []
        taken: set[tuple[object, str]] = set()  # (packet or campaign, fan) of the writes
        for pending, found in zip(batch, contexts, strict=True):
            request = pending.request
            try:
                earlier = claims.check_packet(found, request, account=pending.account, now=now)
                if earlier is not None:
                    pending.answer(earlier)
                    continue
                assert found is not None  # noqa: S101 (check_packet answers NotFound without it)
                if not found.unclaimed:  # refused alone, where the empty packet is remembered
                    alone.append(pending)
                    continue
                campaign = claims.check_campaign(found, request)
            except (NotFound, Refused) as refusal:
                pending.answer(refusal)
                continue
            take = claims.new_take(campaign, found.packet, request, now=now)
            mine = {(found.packet.id, request.fan_key)}
            if take.cap is not None:
                mine.add((campaign.id, request.fan_key))
            if mine & taken:
                alone.append(pending)
                continue
            taken |= mine
            writes.append((pending, take))
        return writes

    async def _write(
        self, tx: DriverTransaction, writes: list[tuple[_Pending, Take]], alone: list[_Pending]
    ) -> list[tuple[_Pending, Claimed]]:
        """Write the claims, and their events; the claims written, to answer once committed."""
        now = datetime.now(UTC)
        takens = await claims_repository.take_and_claim(tx, [take for _, take in writes])
        written: list[tuple[_Pending, Claimed]] = []
        events = []
        for (pending, take), taken in zip(writes, takens, strict=True):
            if taken.over_cap or (taken.seq is not None and taken.claim_id is None):
                raise _Redo
            if taken.capped:
                pending.answer(claims.refusal("daily_cap_reached"))
            elif taken.seq is None:  # its free shares are held by claims in flight
                alone.append(pending)
            else:
                claimed = claims.took(take, taken)
                written.append((pending, claimed))
                events.append(claims.announcement(claimed, take, now=now))
        await self._parts.outbox.add_all(tx, events)
        after_commit(tx, lambda: metrics.CLAIMS.labels("claimed").inc(len(written)))
        return written

    async def _made_alone(self, pending: _Pending) -> None:
        try:
            pending.answer(await self.claim_alone(pending.request, pending.account))
        except Exception as exc:  # a refusal, or an error: the door answers it
            pending.answer(exc)
