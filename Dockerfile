# CUDA runtime image of mamba-explaind. Build context: the repository root, after a GPU-host
# build (see ../shared/gpu/: `source .device/env.sh && cmake -S . -B build-gpu -G Ninja
# $DEVICE_CMAKE_ARGS && cmake --build build-gpu`), and with LibTorch's lib/ copied to
# ./.docker/libtorch/lib (python3 -c 'import torch, os; print(os.path.dirname(torch.__file__))').
# Runtime libraries (gRPC 1.51, protobuf, prometheus-cpp, ICU) come from Debian 12, as at build.
FROM nvidia/cuda:13.0.0-cudnn-runtime-ubuntu24.04 AS cuda
FROM debian:12-slim
COPY --from=cuda /usr/local/cuda /usr/local/cuda
RUN apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
      libgrpc++1.51 libprotobuf32 libprometheus-cpp-core1.0 libprometheus-cpp-pull1.0 \
      libicu72 libgomp1 ca-certificates && rm -rf /var/lib/apt/lists/*
COPY .docker/libtorch/lib /opt/libtorch/lib
COPY build-gpu/mamba-explaind build-gpu/mamba-explain /usr/local/bin/
ENV LD_LIBRARY_PATH=/opt/libtorch/lib:/usr/local/cuda/lib64
EXPOSE 50051 8002
USER 65534
ENTRYPOINT ["/usr/local/bin/mamba-explaind"]
CMD ["--model_repository=/models", "--device=cuda", "--plaintext"]
