# syntax=docker/dockerfile:1.7
#
# One image for all four services and the one-off jobs; the command picks what runs:
#   python -m services.ingest | services.scoring | services.responder | services.coupons
#   python -m shared.migrate  | python -m shared.topics create

ARG PYTHON_VERSION=3.11

FROM python:${PYTHON_VERSION}-slim AS build

ARG UV_VERSION=0.13.9
RUN pip install --no-cache-dir "uv==${UV_VERSION}"

ENV UV_COMPILE_BYTECODE=1 \
    UV_LINK_MODE=copy \
    UV_PYTHON_DOWNLOADS=never \
    UV_PYTHON=/usr/local/bin/python3 \
    UV_PROJECT_ENVIRONMENT=/app/.venv

WORKDIR /app
COPY pyproject.toml uv.lock ./
RUN --mount=type=cache,target=/root/.cache/uv \
    uv sync --frozen --no-default-groups --no-install-project


FROM python:${PYTHON_VERSION}-slim AS runtime

RUN groupadd --system --gid 10001 scrm \
 && useradd --system --uid 10001 --gid scrm --no-create-home \
        --home-dir /nonexistent --shell /usr/sbin/nologin scrm

WORKDIR /app
COPY --from=build /app/.venv /app/.venv
COPY shared ./shared
COPY services ./services
RUN /app/.venv/bin/python -m compileall -q shared services

ENV PATH="/app/.venv/bin:${PATH}" \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    SCRM_HTTP_HOST=0.0.0.0

USER 10001:10001
EXPOSE 8001 8002 8003 8004

CMD ["python", "-m", "services.ingest"]
