# Shard-Cache: a small runtime image with the one binary, run as a non-root user.
#   docker build -t shardcache .
#   docker run -p 6379:6379 -p 9121:9121 shardcache server --bind 0.0.0.0 --admin-port 9121
FROM rust:1-bookworm AS build
WORKDIR /src
COPY . .
RUN cargo build --release -p shardcache && strip target/release/shardcache

FROM debian:bookworm-slim
RUN useradd --system --uid 10001 --home-dir /data --create-home shardcache
COPY --from=build /src/target/release/shardcache /usr/local/bin/shardcache
USER shardcache
WORKDIR /data
EXPOSE 6379 16379 9121
# The admin port's /health (needs --admin-port 9121).
HEALTHCHECK --interval=10s --timeout=3s --retries=3 \
  CMD ["/usr/local/bin/shardcache", "probe", "http://127.0.0.1:9121/health"]
ENTRYPOINT ["/usr/local/bin/shardcache"]
CMD ["server", "--bind", "0.0.0.0", "--admin-port", "9121", "--admin-bind", "0.0.0.0", "--dir", "/data"]
