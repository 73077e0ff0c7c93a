# Build with the pinned toolchain, run on a small base as a non-root user.
FROM rust:1.95-slim-bookworm AS build
WORKDIR /src
COPY . .
RUN cargo build --release -p strikemq --locked

FROM debian:bookworm-slim
RUN useradd --system --uid 10001 --home /var/lib/strikemq strikemq \
    && mkdir -p /var/lib/strikemq && chown strikemq /var/lib/strikemq
COPY --from=build /src/target/release/strikemq /usr/local/bin/strikemq
USER strikemq
VOLUME /var/lib/strikemq
ENV STRIKEMQ_DATA_DIR=/var/lib/strikemq \
    STRIKEMQ_BIND=0.0.0.0 \
    STRIKEMQ_ADVERTISED_HOST=localhost
EXPOSE 9092 8080
ENTRYPOINT ["/usr/local/bin/strikemq"]
