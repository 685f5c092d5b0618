# gitiam's container image: a build stage with the Rust toolchain, and a
# small Debian runtime with git (the embedded backend runs
# `git http-backend`, `git upload-pack` and `git receive-pack`).
#
#   docker build -t gitiam:0.1.0 .
#   docker run -v ./etc:/etc/gitiam:ro -v gitiam-state:/var/lib/gitiam \
#     -p 8443:8443 -p 2222:2222 gitiam:0.1.0
#
# The configuration is read from /etc/gitiam/gitiam.toml; state (generated
# certificate and keys, audit log) goes to /var/lib/gitiam. The health
# check expects `health_listen = "0.0.0.0:8081"` in [server] (see
# deploy/kubernetes/configmap.yaml).

FROM rust:1.95-bookworm AS build
WORKDIR /src
# Dependencies first, so that a source change does not rebuild them.
COPY Cargo.toml Cargo.lock ./
RUN mkdir -p src/bin benches \
    && echo 'fn main() {}' > src/bin/gitiam.rs \
    && echo 'fn main() {}' > src/bin/git-credential-gitiam.rs \
    && echo '' > src/lib.rs \
    && echo 'fn main() {}' > benches/policy.rs \
    && echo 'fn main() {}' > benches/throttle.rs \
    && cargo build --release --locked --bins \
    && rm -rf src benches
COPY src ./src
COPY benches ./benches
RUN touch src/lib.rs src/bin/*.rs \
    && cargo build --release --locked --bins \
    && strip target/release/gitiam target/release/git-credential-gitiam

FROM debian:bookworm-slim
RUN apt-get update \
    && apt-get install -y --no-install-recommends git ca-certificates \
    && rm -rf /var/lib/apt/lists/* \
    && groupadd --system --gid 10001 gitiam \
    && useradd --system --uid 10001 --gid gitiam --home-dir /var/lib/gitiam --create-home gitiam \
    && mkdir -p /etc/gitiam /srv/git \
    && chown gitiam:gitiam /srv/git
COPY --from=build /src/target/release/gitiam /src/target/release/git-credential-gitiam /usr/local/bin/
USER 10001:10001
WORKDIR /var/lib/gitiam
VOLUME ["/var/lib/gitiam", "/etc/gitiam"]
# HTTPS (Git and STS), SSH, plain /healthz.
EXPOSE 8443 2222 8081
# bash's /dev/tcp: no curl in the image.
HEALTHCHECK --interval=10s --timeout=3s --start-period=5s --retries=3 \
    CMD ["bash", "-c", "exec 3<>/dev/tcp/127.0.0.1/8081 && printf 'GET /healthz HTTP/1.0\\r\\n\\r\\n' >&3 && head -n1 <&3 | grep -q ' 200 '"]
ENTRYPOINT ["gitiam"]
CMD ["serve", "--config", "/etc/gitiam/gitiam.toml"]
