# syntax=docker/dockerfile:1
# CPU image of mamba-explaind: Debian 12 with Debian's LibTorch 1.13 (CPU), built from source in a
# builder stage. GPU image: Dockerfile.gpu. Build and smoke test (daemonless, no registry needed):
# scripts/build_image.sh; deployment: deploy/ and docs/operations.md.
#
# Bases are pinned by full version tag; pin by digest where your registry serves them
# (--build-arg DEBIAN_IMAGE=docker.io/library/debian:12.11-slim@sha256:...).
ARG DEBIAN_IMAGE=docker.io/library/debian:12.11-slim

# --- builder: the whole server and client from source ---------------------------------------------
FROM ${DEBIAN_IMAGE} AS build
RUN apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
      build-essential cmake ninja-build pkg-config libtorch-dev libabsl-dev nlohmann-json3-dev \
      libicu-dev libgrpc++-dev libgrpc-dev protobuf-compiler-grpc libprotobuf-dev \
      protobuf-compiler prometheus-cpp-dev libcpp-httplib-dev \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY CMakeLists.txt ./
COPY cmake cmake
COPY proto proto
COPY src src
COPY server server
COPY client client
COPY web web
COPY tools tools
COPY bench bench
ARG BUILD_JOBS=2
ARG VERSION=dev
RUN cmake -S . -B /build -G Ninja -DCMAKE_BUILD_TYPE=Release -DME_BUILD_TESTS=OFF -DME_VERSION="${VERSION}" \
 && cmake --build /build -j"${BUILD_JOBS}" --target mamba-explaind mamba-explain \
 && install -D -m 0755 /build/mamba-explaind /build/mamba-explain -t /out/usr/local/bin

# --- runtime: shared libraries only, non-root ------------------------------------------------------
FROM ${DEBIAN_IMAGE} AS runtime
RUN apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
      libtorch1.13 libopenblas0-openmp libgrpc++1.51 libprotobuf32 libprometheus-cpp-core1.0 \
      libprometheus-cpp-pull1.0 libcpp-httplib0.11 libabsl20220623 libicu72 ca-certificates \
 && rm -rf /var/lib/apt/lists/*
COPY --from=build /out/ /
# Fails the build when a shared library of either binary is missing from the runtime stage.
RUN ! ldd /usr/local/bin/mamba-explaind /usr/local/bin/mamba-explain | grep 'not found' \
 && mkdir -p /models && chown 65534:65534 /models
# The demo model: serves out of the box; mount the real model repository over /models.
COPY --chown=65534:65534 models/copy-mamba1-silu /models/copy-mamba1-silu
ARG DEBIAN_IMAGE
ARG VERSION=dev
ARG REVISION=unknown
ARG CREATED=unknown
LABEL org.opencontainers.image.title="mamba-explaind" \
      org.opencontainers.image.description="gRPC attribution service for Mamba language models (CPU, LibTorch 1.13)" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.revision="${REVISION}" \
      org.opencontainers.image.created="${CREATED}" \
      org.opencontainers.image.base.name="${DEBIAN_IMAGE}"
# gRPC (Explainer, health, reflection) and Prometheus /metrics.
EXPOSE 50051 8002
VOLUME ["/models"]
USER 65534:65534
# Docker/podman only (Kubernetes uses the gRPC probes in deploy/): the client's health command on
# the readiness service.
HEALTHCHECK --interval=15s --timeout=5s --start-period=120s --retries=3 \
  CMD ["/usr/local/bin/mamba-explain", "health", "--server", "127.0.0.1:50051", "--service", "mamba_explain.v1.Explainer", "--timeout", "4"]
STOPSIGNAL SIGTERM
ENTRYPOINT ["/usr/local/bin/mamba-explaind"]
CMD ["--model_repository=/models", "--device=cpu", "--plaintext"]
