"""The baseline: a bare FastAPI endpoint at ingest's path that answers the body's length."""

import os

from fastapi import FastAPI, Request

app = FastAPI()


@app.post("/v1/webhooks/{platform}/{account_id}")
async def body_length(platform: str, account_id: str, request: Request) -> dict[str, int]:
    return {"length": len(await request.body())}


if __name__ == "__main__":
    import uvicorn

    uvicorn.run(app, host="127.0.0.1", port=int(os.environ["BARE_PORT"]), log_level="warning",
                access_log=False)  # fmt: skip
