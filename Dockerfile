# codex-otel-gateway container image.
#
#   docker build -t codex-otel-gateway .
#   docker run --rm --read-only --stop-timeout 30 \
#     -p 4317:4317 -p 4318:4318 -p 8888:8888 \
#     -v codex-otel-gateway-queue:/var/lib/codex-otel-gateway \
#     -e PRIMARY_OTLP_ENDPOINT=http://collector:4317 \
#     -e SECONDARY_OTLP_ENDPOINT=https://otlp.example.com \
#     codex-otel-gateway
#
# The image runs config/container.yaml (copied to /etc/codex-otel-gateway/gateway.yaml; mount
# your own file over it): OTLP on 0.0.0.0:4317 (gRPC) and 0.0.0.0:4318 (HTTP), admin on
# 0.0.0.0:8888 (/metrics, /healthz, /readyz). Logs go to stderr (JSON).
#
# Runs as UID/GID 10001 with nothing to write but /var/lib/codex-otel-gateway, the home of the
# persistent queue (`sending_queue.storage.directory: /var/lib/codex-otel-gateway/queue`), so
# `--read-only` (Kubernetes: readOnlyRootFilesystem) works. On SIGTERM the gateway drains its
# queues for up to `service.shutdown_timeout` (20s in container.yaml): give `docker stop` more
# than that (`--stop-timeout 30`; Docker's default is 10s).

# ---- build -------------------------------------------------------------------------------
FROM rust:1-bookworm AS builder
WORKDIR /src

# Everything the workspace manifest needs to load and the release binary needs to compile:
# the root package (src/, config/default.yaml is embedded with include_str!), the `processors`
# member (with its benches/), and benches/ (every [[bench]] target must exist for the manifests
# to parse). tests/ is not needed by `cargo build`.
COPY Cargo.toml Cargo.lock ./
COPY processors ./processors
COPY benches ./benches
COPY config ./config
COPY src ./src

# Same command as CI.
RUN cargo build --release --locked

# ---- runtime -----------------------------------------------------------------------------
FROM debian:bookworm-slim

LABEL org.opencontainers.image.title="codex-otel-gateway" \
      org.opencontainers.image.description="OpenTelemetry gateway for the OpenAI Codex CLI"

# ca-certificates: TLS to the backends. The only writable path is the queue directory.
# Not pinned (DL3008): the point of the package is to track Debian's current CA set.
# hadolint ignore=DL3008
RUN apt-get update \
    && apt-get install -y --no-install-recommends ca-certificates \
    && rm -rf /var/lib/apt/lists/* \
    && groupadd --system --gid 10001 gateway \
    && useradd --system --uid 10001 --gid 10001 --no-create-home --home-dir /nonexistent \
       --shell /usr/sbin/nologin gateway \
    && install -d -o 10001 -g 10001 -m 0750 /var/lib/codex-otel-gateway

COPY --from=builder /src/target/release/codex-otel-gateway /usr/local/bin/codex-otel-gateway
COPY config/container.yaml /etc/codex-otel-gateway/gateway.yaml

USER 10001:10001

# Persistent queue (only used when a config sets sending_queue.storage.directory below it).
VOLUME ["/var/lib/codex-otel-gateway"]

# 4317 OTLP/gRPC, 4318 OTLP/HTTP, 8888 admin (/metrics, /healthz, /readyz).
EXPOSE 4317 4318 8888

# No curl in the slim image: the binary GETs http://127.0.0.1:8888/healthz itself
# (exit 0 on 200). Pass --url if your config moves the admin listener.
HEALTHCHECK --interval=15s --timeout=3s --start-period=10s --retries=3 \
    CMD ["codex-otel-gateway", "healthcheck"]

STOPSIGNAL SIGTERM
ENTRYPOINT ["codex-otel-gateway"]
CMD ["run", "--config", "/etc/codex-otel-gateway/gateway.yaml"]
