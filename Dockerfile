# StrikeMQ in a container. Build:   docker build -t strikemq .
# Run:     docker run --rm -p 9092:9092 -p 8080:8080 strikemq
# Clients outside the container connect to localhost:9092 (the advertised host); set
# STRIKEMQ_ADVERTISED_HOST to the name they use otherwise (for example the service name in Docker
# Compose, or the host's address when clients run on other machines).

# Build with the pinned toolchain (rust-version 1.95 in Cargo.toml).
FROM rust:1.95-slim-bookworm AS build
WORKDIR /src
COPY . .
RUN cargo build --release -p strikemq --locked \
    && cp target/release/strikemq /usr/local/bin/strikemq

# Run on a small base as a non-root user; the data directory is a volume.
FROM debian:bookworm-slim
RUN useradd --system --uid 10001 --home-dir /var/lib/strikemq --shell /usr/sbin/nologin strikemq \
    && mkdir -p /var/lib/strikemq \
    && chown strikemq:strikemq /var/lib/strikemq
COPY --from=build /usr/local/bin/strikemq /usr/local/bin/strikemq
USER strikemq
WORKDIR /var/lib/strikemq
VOLUME /var/lib/strikemq
ENV STRIKEMQ_DATA_DIR=/var/lib/strikemq \
    STRIKEMQ_BIND=0.0.0.0 \
    STRIKEMQ_PORT=9092 \
    STRIKEMQ_HTTP_PORT=8080 \
    STRIKEMQ_ADVERTISED_HOST=localhost
EXPOSE 9092 8080
# `strikemq health` asks the REST API for GET /health (port from STRIKEMQ_HTTP_PORT); with the REST
# API turned off (STRIKEMQ_NO_HTTP=true) run the container with --no-healthcheck.
HEALTHCHECK --interval=10s --timeout=3s --start-period=2s --retries=3 \
    CMD ["/usr/local/bin/strikemq", "health"]
# SIGTERM (docker stop) shuts the broker down cleanly.
STOPSIGNAL SIGTERM
ENTRYPOINT ["/usr/local/bin/strikemq"]
