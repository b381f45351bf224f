# One image for both services (server and trainer); docker-compose.yml picks the command.
FROM python:3.11-slim

# A CPU-only torch wheel keeps the image small; point pip at a CPU wheel index with
#   docker compose build --build-arg PIP_EXTRA_INDEX_URL=<your CPU wheel index>
ARG PIP_EXTRA_INDEX_URL=""
ENV PIP_EXTRA_INDEX_URL=${PIP_EXTRA_INDEX_URL} \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PYTHONUNBUFFERED=1

# The engines: Fairy-Stockfish for the ladder and live analysis (optional; the showcase runs without).
RUN apt-get update && apt-get install -y --no-install-recommends fairy-stockfish \
    && rm -rf /var/lib/apt/lists/*
ENV PATH="${PATH}:/usr/games"

WORKDIR /app
COPY pyproject.toml README.md LICENSE ./
COPY showcase_core ./showcase_core
COPY trainer ./trainer
COPY server ./server
RUN pip install --no-cache-dir .

RUN useradd --create-home showcase && mkdir -p /data && chown showcase /data
USER showcase
VOLUME ["/data"]
CMD ["python", "-m", "trainer", "--help"]
