# Every dependency comes from a Debian bookworm package installed by scripts/setup.
# Notes on each lookup: ../shared/reference/toolchain.md §2 (protobuf has no CMake config, so
# FindProtobuf in module mode; Debian's RocksDB config exports a static and a shared target).
find_package(Threads REQUIRED)
find_package(Protobuf 3.21 REQUIRED)
find_package(gRPC 1.51 CONFIG REQUIRED)
find_package(absl CONFIG REQUIRED)
find_package(RocksDB CONFIG REQUIRED)
find_package(prometheus-cpp CONFIG REQUIRED)
find_package(OpenSSL 3 REQUIRED)
find_package(nlohmann_json 3.10 CONFIG REQUIRED)
# Beast/Asio for the gateway's HTTP server: header-only (Boost.System is header-only since 1.69).
find_package(Boost 1.74 CONFIG REQUIRED COMPONENTS headers)
if(AURORA_BUILD_TESTS)
  find_package(Catch2 2.13 CONFIG REQUIRED)
endif()

find_program(UNZIP_EXECUTABLE unzip REQUIRED)
set(AURORA_GOOGLE_PROTOS_JAR "/usr/share/java/proto-google-common-protos.jar" CACHE FILEPATH
    "Jar from Debian's libgoogle-common-protos-java holding google/api and google/rpc protos")
set(AURORA_GRPC_PROTO_DIR "/usr/share/grpc-proto" CACHE PATH
    "Directory with grpc/health/v1/health.proto (Debian grpc-proto)")
