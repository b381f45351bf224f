# One image for both services (server and trainer); docker-compose.yml picks the command.

# The pages' libraries (shogiground, uPlot) from npm; only the runtime dependencies, no build step.
FROM node:20-slim AS pages
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --omit=dev --no-audit --no-fund

FROM python:3.11-slim

# A CPU-only torch wheel keeps the image small; point pip at a CPU wheel index with
#   docker compose build --build-arg PIP_EXTRA_INDEX_URL=<your CPU wheel index>
ARG PIP_EXTRA_INDEX_URL=""
ENV PIP_EXTRA_INDEX_URL=${PIP_EXTRA_INDEX_URL} \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PYTHONUNBUFFERED=1

# The engines: Fairy-Stockfish for the ladder and live analysis (optional; the showcase runs without),
# and redis-server for `python -m server up --workers N` (optional too).
RUN apt-get update && apt-get install -y --no-install-recommends fairy-stockfish redis-server \
    && rm -rf /var/lib/apt/lists/*
ENV PATH="${PATH}:/usr/games"

WORKDIR /app
COPY pyproject.toml README.md LICENSE ./
COPY showcase_core ./showcase_core
COPY trainer ./trainer
COPY server ./server
COPY static ./static
COPY templates ./templates
COPY --from=pages /app/node_modules ./node_modules
# Editable, so the server finds static/, templates/ and node_modules/ next to its package (/app).
RUN pip install --no-cache-dir -e .

RUN useradd --create-home showcase && mkdir -p /data && chown showcase /data
USER showcase
VOLUME ["/data"]
CMD ["python", "-m", "trainer", "--help"]
