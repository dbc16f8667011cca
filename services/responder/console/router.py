"""GET /console: the agent console's page, and its assets under /console/. The page talks to
the agent API with the token the agent signs in with; nothing here reads or checks it."""

from pathlib import Path

from fastapi import APIRouter, HTTPException
from fastapi.responses import FileResponse

STATIC = Path(__file__).parent / "static"
MODULES = ("console", "clocks", "conversation", "dom", "stream")
ASSETS = {
    **{f"{module}.js": "text/javascript" for module in MODULES},
    "console.css": "text/css",
    "favicon.svg": "image/svg+xml",
}
# Only the page's own files run and load; the agent API is the one place it connects to.
HEADERS = {
    "Content-Security-Policy": (
        "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; "
        "connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
    ),
    "Referrer-Policy": "no-referrer",
    "X-Content-Type-Options": "nosniff",
    "Cache-Control": "no-cache",
}

router = APIRouter(prefix="/console", tags=["console"], include_in_schema=False)


@router.get("")
async def page() -> FileResponse:
    return FileResponse(STATIC / "index.html", media_type="text/html", headers=HEADERS)


@router.get("/{name}")
async def asset(name: str) -> FileResponse:
    media_type = ASSETS.get(name)
    if media_type is None:
        raise HTTPException(404, f"no console asset {name}")
    return FileResponse(STATIC / name, media_type=media_type, headers=HEADERS)
