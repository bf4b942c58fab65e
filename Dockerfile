# failover-agent container image.
#
#   docker build -t failover-agent:0.1.0 .
#
# Build stage: the release binary (full LTO, one codegen unit: expect several minutes).
# Final stage: distroless "cc" (glibc, libgcc, CA certificates; no shell), running as
# the nonroot user 65532, which the Helm chart's securityContext expects.
# Both stages are Debian 12 (bookworm), so the binary's dynamic glibc matches.

FROM rust:1.95-bookworm AS build
WORKDIR /src

# Dependencies first, in their own layer: build them against stub sources, so that a
# change under src/ does not rebuild the ~350 crates. The stubs stand in for every
# target Cargo.toml declares (the bench's file must exist for the manifest to load).
COPY Cargo.toml Cargo.lock ./
RUN mkdir -p src benches tests/it \
 && echo 'fn main() {}' > src/main.rs \
 && touch src/lib.rs tests/it/main.rs \
 && echo 'fn main() {}' > benches/verdict.rs \
 && cargo build --release --locked --bin failover-agent \
 && rm -rf src target/release/failover-agent* \
      target/release/deps/failover_agent-* target/release/deps/libfailover_agent-* \
      target/release/.fingerprint/failover-agent-*

# The crate itself (build.rs packs the binary's relocations and lays out the code a
# replica runs together, from link/hot-symbols.txt: see there).
COPY build.rs ./
COPY link ./link
COPY src ./src
RUN cargo build --release --locked --bin failover-agent \
 && cp target/release/failover-agent /failover-agent

FROM gcr.io/distroless/cc-debian12:nonroot
LABEL org.opencontainers.image.title="failover-agent" \
      org.opencontainers.image.description="Per-app Region failover for multi-Region EKS: one verdict per app at /health/<app> for Route 53." \
      org.opencontainers.image.version="0.1.0" \
      org.opencontainers.image.licenses="Apache-2.0"
COPY --from=build /failover-agent /failover-agent
# glibc gives every thread that allocates its own malloc arena, and memory freed in
# one arena is not reused by another. The agent's work runs on a couple of tokio
# workers, so two arenas serve it; measured in README (Watches and memory), this
# keeps about 2 MiB less resident on every replica, with no change in latency.
ENV MALLOC_ARENA_MAX=2
# Blocks of 64 KiB and more (the initial LIST's buffers, a /metrics text) come from
# mmap and go back to the kernel when freed, and free heap above 64 KiB is trimmed:
# glibc's default threshold grows with the largest block freed, so one 3 MB scrape
# kept 3 MB more resident for good. Measured in README (Watches and memory): a
# follower 0.9 MiB smaller at 1,000 apps, the leader's scrape at 5,000 apps no longer
# adds 2.9 MiB, latency and CPU unchanged.
ENV MALLOC_MMAP_THRESHOLD_=65536 MALLOC_TRIM_THRESHOLD_=65536
USER 65532:65532
# 8080: public health listener (/health/<app>, /healthz, /readyz).
# 9090: admin listener (/metrics, /apps, status page, overrides).
EXPOSE 8080 9090
ENTRYPOINT ["/failover-agent"]
# In-cluster mode; the Helm chart passes ["run", "--log-format", "json"].
CMD ["run"]
