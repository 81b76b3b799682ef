# model-release-bot: the production image. Debian's Python 3.11 on bookworm-slim, the locked
# dependencies in a venv, the bot as a non-root user. Build and check: tools/check-image.sh.
#   docker build -t model-release-bot .            (podman/buildah: add --format docker, or the
#                                                   HEALTHCHECK is dropped from the OCI image)
#   docker run -d -p 3978:3978 --env-file .env -v releasebot-data:/app/data model-release-bot
# Pin it by digest for reproducible builds: --build-arg BASE=debian:bookworm-slim@sha256:...
ARG BASE=debian:bookworm-slim

# --- builder: a venv with exactly the pinned, hashed runtime dependencies ---
FROM ${BASE} AS builder
ARG DEBIAN_FRONTEND=noninteractive
RUN apt-get update \
    && apt-get install -y --no-install-recommends python3 python3-venv \
    && rm -rf /var/lib/apt/lists/*
ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PYTHONDONTWRITEBYTECODE=1
COPY requirements/runtime.lock /tmp/runtime.lock
# As `make run` does; pip and setuptools go afterwards, the bot does not need them. Behind a
# TLS-inspecting proxy, give pip the CA bundle as a build secret (never stored in the image):
#   --secret id=ca_bundle,src=/etc/ssl/certs/ca-certificates.crt
RUN --mount=type=secret,id=ca_bundle \
    if [ -s /run/secrets/ca_bundle ]; then export PIP_CERT=/run/secrets/ca_bundle; fi \
    && python3 -m venv /opt/venv \
    && /opt/venv/bin/pip install --require-hashes --no-deps -r /tmp/runtime.lock \
    && /opt/venv/bin/pip uninstall -y pip setuptools

# --- runtime: the interpreter, CA certificates, the venv and the bot's code ---
FROM ${BASE}
ARG DEBIAN_FRONTEND=noninteractive
RUN apt-get update \
    && apt-get install -y --no-install-recommends python3 ca-certificates \
    && apt-get clean && rm -rf /var/lib/apt/lists/* \
    && groupadd --system --gid 10001 releasebot \
    && useradd --system --uid 10001 --gid 10001 --home-dir /app --no-create-home \
        --shell /usr/sbin/nologin releasebot

COPY --from=builder /opt/venv /opt/venv
WORKDIR /app
# Code belongs to root (read-only for the bot); only data/, the SQLite store, is the bot's.
COPY app.py alembic.ini ./
COPY bot ./bot
COPY domain ./domain
COPY dialogs ./dialogs
RUN python3 -m compileall -q app.py bot domain dialogs \
    && mkdir data && chown 10001:10001 data

ENV PATH=/opt/venv/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    RELEASEBOT_HOST=0.0.0.0 \
    RELEASEBOT_PORT=3978

LABEL org.opencontainers.image.title="model-release-bot" \
      org.opencontainers.image.description="Microsoft Teams chat-ops bot: announce new Azure ML model versions, approve them in Teams, deploy through Azure DevOps." \
      org.opencontainers.image.licenses="MIT"

# The default store, sqlite+aiosqlite:///data/releasebot.db, is /app/data/releasebot.db.
VOLUME ["/app/data"]
EXPOSE 3978
USER 10001:10001

# /healthz on the bot's own port; urllib raises (exit 1) on a refused connection or a non-2xx.
HEALTHCHECK --interval=30s --timeout=5s --start-period=30s --retries=3 \
    CMD ["python", "-c", "import os, urllib.request as u; u.urlopen('http://127.0.0.1:%s/healthz' % os.environ.get('RELEASEBOT_PORT', '3978'), timeout=4)"]

# Exec form: the bot is PID 1 and gets SIGTERM itself (aiohttp shuts down gracefully, exit 0).
CMD ["python", "app.py"]
