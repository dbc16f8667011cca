"""The baselines: bare FastAPI endpoints at the paths of the services under test, each doing the
least the real one must, driven by the same load generator as the service.

- ingest's webhook path answers the body's length;
- the agent API's claim-next runs one asyncpg query on responder's database
  (`BARE_DATABASE_URL`): the head of the routing queue, read, not taken; resolve answers at once;
- coupons's claim inserts one row (the share code and the body) in one asyncpg transaction.
"""

import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import asyncpg
from fastapi import FastAPI, Request, Response

# responder's engine holds up to 10 + 10 overflow connections (shared.db.create_engine)
POOL_SIZE, POOL_MAX = 10, 20
QUEUE_HEAD = (
    "SELECT id FROM responder.conversations WHERE status = 'open' AND assignee_id IS NULL"
    " ORDER BY queue_due, awaiting_since LIMIT 1"
)
CLAIMS_TABLE = (
    "CREATE TABLE IF NOT EXISTS public.bare_claims (id bigserial PRIMARY KEY,"
    " share_code text NOT NULL, body bytea NOT NULL, claimed_at timestamptz NOT NULL DEFAULT now())"
)
INSERT_CLAIM = "INSERT INTO public.bare_claims (share_code, body) VALUES ($1, $2) RETURNING id"


@asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[None]:
    dsn = os.environ.get("BARE_DATABASE_URL")
    app.state.pool = (
        await asyncpg.create_pool(dsn, min_size=POOL_SIZE, max_size=POOL_MAX) if dsn else None
    )
    if app.state.pool is not None:
        await app.state.pool.execute(CLAIMS_TABLE)
    try:
        yield
    finally:
        if app.state.pool is not None:
            await app.state.pool.close()


app = FastAPI(lifespan=lifespan)


@app.post("/v1/webhooks/{platform}/{account_id}")
async def body_length(platform: str, account_id: str, request: Request) -> dict[str, int]:
    return {"length": len(await request.body())}


@app.post("/v1/agent/claim-next")
async def queue_head(request: Request) -> dict[str, str | None]:
    head = await request.app.state.pool.fetchval(QUEUE_HEAD)
    return {"id": None if head is None else str(head)}


@app.post("/v1/agent/conversations/{conversation_id}/resolve")
async def resolved(conversation_id: str) -> Response:
    return Response(status_code=204)


@app.post("/v1/packets/{share_code}/claims", status_code=201)
async def claim_row(share_code: str, request: Request) -> dict[str, int]:
    body = await request.body()
    async with request.app.state.pool.acquire() as connection, connection.transaction():
        claim_id = await connection.fetchval(INSERT_CLAIM, share_code, body)
    return {"claim_id": claim_id}


if __name__ == "__main__":
    import uvicorn

    uvicorn.run(app, host="127.0.0.1", port=int(os.environ["BARE_PORT"]), log_level="warning",
                access_log=False)  # fmt: skip
