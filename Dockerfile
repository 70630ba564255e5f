# codex-otel-gateway container image.
#
#   docker build -t codex-otel-gateway .
#   docker run --rm -p 4317:4317 -p 4318:4318 -p 8888:8888 \
#     -e PRIMARY_OTLP_ENDPOINT=http://collector:4317 \
#     -e SECONDARY_OTLP_ENDPOINT=https://otlp.example.com \
#     codex-otel-gateway
#
# The image runs config/container.yaml (copied to /etc/codex-otel-gateway/gateway.yaml):
# OTLP on 0.0.0.0:4317 (gRPC) and 0.0.0.0:4318 (HTTP), admin on 0.0.0.0:8888.

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

RUN apt-get update \
    && apt-get install -y --no-install-recommends ca-certificates \
    && rm -rf /var/lib/apt/lists/* \
    && groupadd --system --gid 10001 gateway \
    && useradd --system --uid 10001 --gid 10001 --no-create-home --home-dir /nonexistent \
       --shell /usr/sbin/nologin gateway

COPY --from=builder /src/target/release/codex-otel-gateway /usr/local/bin/codex-otel-gateway
COPY config/container.yaml /etc/codex-otel-gateway/gateway.yaml

USER 10001:10001

# 4317 OTLP/gRPC, 4318 OTLP/HTTP, 8888 admin (/metrics, /healthz, /readyz).
EXPOSE 4317 4318 8888

ENTRYPOINT ["codex-otel-gateway"]
CMD ["run", "--config", "/etc/codex-otel-gateway/gateway.yaml"]
