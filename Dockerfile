# syntax=docker/dockerfile:1.4
# The `aurora` node image: Debian bookworm, the release build, only the runtime libraries.
#
#   docker build --build-context shared=../shared -t aurora-network/aurora:0.1.0 .
#
# The code lists and the demo catalogue live outside the repository (../shared/data) and come in
# through the named build context "shared" (BuildKit, Docker 23+ or buildx).
# tests/k8s/check-dockerfile.sh checks the runtime packages below against the built binary.

FROM debian:bookworm AS build
WORKDIR /src/aurora
COPY . .
# scripts/setup installs exactly the Debian packages the build needs (and the tests' tools).
RUN scripts/setup \
    && cmake --preset release \
    && cmake --build --preset release --target aurora \
    && strip build/release/src/node/aurora \
    && install -D -m 0755 build/release/src/node/aurora /out/aurora

FROM debian:bookworm-slim AS runtime
# runtime-packages: the packages of the libraries the binary links (ldd + dpkg -S), Voikko's
# Finnish dictionary, the FreeDict dictionaries for cross-lingual search (the node does not start
# without them), and the CA store for --jwks-url.
RUN apt-get update \
    && apt-get install -y --no-install-recommends \
       libabsl20220623 libcurl4 libfasttext0 libgrpc++1.51 libgrpc29 libprometheus-cpp-core1.0 \
       libprometheus-cpp-pull1.0 libprotobuf32 librocksdb7.8 libssl3 libstemmer0d libvoikko1 \
       zlib1g voikko-fi dict-freedict-swe-fin dict-freedict-eng-fin ca-certificates \
    && rm -rf /var/lib/apt/lists/*
# end-runtime-packages
RUN groupadd --system --gid 10001 aurora \
    && useradd --system --uid 10001 --gid 10001 --home-dir /var/lib/aurora --no-create-home \
       --shell /usr/sbin/nologin aurora \
    && install -d -o 10001 -g 10001 -m 0750 /var/lib/aurora
COPY --from=build /out/aurora /usr/local/bin/aurora
# The reference web UIs (--web-root /usr/share/aurora/web)
COPY web /usr/share/aurora/web
COPY --from=shared data/codelists /usr/share/aurora/codelists
COPY --from=shared data/services.ndjson /usr/share/aurora/demo/services.ndjson
# `--demo /usr/share/aurora/demo` alone finds its code lists beside the catalogue.
RUN ln -s ../codelists /usr/share/aurora/demo/codelists
USER 10001:10001
WORKDIR /var/lib/aurora
# gRPC, the plaintext probe port, HTTP/JSON, Prometheus metrics
EXPOSE 50051 50052 8080 9464
ENTRYPOINT ["aurora"]
CMD ["serve", "--data-dir=/var/lib/aurora", "--grpc-listen=0.0.0.0:50051", \
     "--http-listen=0.0.0.0:8080", "--metrics-listen=0.0.0.0:9464", \
     "--codelists=/usr/share/aurora/codelists"]
