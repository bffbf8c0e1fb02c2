# autoloader's container image: built with the Swift toolchain image, run on Debian slim with only the shared
# libraries the binary links (deploy/runtime-packages; deploy/check-runtime proves that list on an empty Debian).
# Configuration: AUTOLOADER_* environment variables and/or a mounted autoloader.yml (--config / AUTOLOADER_CONFIG).
#   docker build -t autoloader .
#   docker run -e AUTOLOADER_SOURCE=s3://bucket/prefix/ -e AUTOLOADER_WAREHOUSE=postgres://… autoloader

FROM swift:6.3.1-bookworm AS build
RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
      libsqlite3-dev zlib1g-dev libbz2-dev libzstd-dev liblz4-dev libbrotli-dev libssl-dev \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /src
# Dependencies first: a change to the sources does not fetch them again.
COPY Package.swift Package.resolved ./
RUN swift package resolve
COPY . .
# The Swift runtime linked in: the runtime stage needs no toolchain libraries.
RUN swift build -c release --static-swift-stdlib --product autoloader \
 && install -D -s "$(swift build -c release --static-swift-stdlib --show-bin-path)/autoloader" /out/autoloader

FROM debian:bookworm-slim
COPY deploy/runtime-packages /tmp/runtime-packages
RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends $(grep -v '^#' /tmp/runtime-packages) \
 && rm -rf /var/lib/apt/lists/* /tmp/runtime-packages \
 && useradd --system --uid 10001 --user-group --home-dir /var/lib/autoloader --create-home autoloader
COPY --from=build /out/autoloader /usr/local/bin/autoloader
USER autoloader
WORKDIR /var/lib/autoloader
# The HTTP API on loopback: the health check below and ECS's container health check run inside the container.
ENV AUTOLOADER_HTTP=127.0.0.1:8080
# No curl in the image: bash's /dev/tcp asks /health (200 while the service runs; /ready says whether it can load).
HEALTHCHECK --interval=30s --timeout=5s --start-period=20s --retries=3 \
  CMD ["bash", "-c", "exec 3<>/dev/tcp/127.0.0.1/8080 && printf 'GET /health HTTP/1.0\\r\\nHost: localhost\\r\\n\\r\\n' >&3 && head -n 1 <&3 | grep -q ' 200 '"]
# SIGTERM (docker stop, an ECS deployment): loads in progress finish or roll back, then it exits.
STOPSIGNAL SIGTERM
ENTRYPOINT ["/usr/local/bin/autoloader"]
CMD ["run"]
