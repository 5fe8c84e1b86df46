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
find_package(CURL REQUIRED)  # the profile fetches its identity provider's JWKS
find_package(ZLIB REQUIRED)  # the recommender reads dictzip-compressed dictionaries
# Beast/Asio for the gateway's HTTP server: header-only (Boost.System is header-only since 1.69).
find_package(Boost 1.74 CONFIG REQUIRED COMPONENTS headers)
if(AURORA_BUILD_TESTS)
  find_package(Catch2 2.13 CONFIG REQUIRED)
endif()

# Text analysis of the recommender: Voikko (Finnish morphology; its dictionary, from voikko-fi, is
# loaded at run time) and Snowball's libstemmer (Swedish and English). Neither ships a CMake config:
# Voikko through pkg-config, libstemmer by header and library path.
find_package(PkgConfig REQUIRED)
pkg_check_modules(VOIKKO IMPORTED_TARGET libvoikko)
if(NOT VOIKKO_FOUND)
  message(FATAL_ERROR "libvoikko not found (pkg-config libvoikko): install the Debian package "
                      "libvoikko-dev, and voikko-fi for its Finnish dictionary (scripts/setup)")
endif()
add_library(Aurora::voikko INTERFACE IMPORTED)
target_link_libraries(Aurora::voikko INTERFACE PkgConfig::VOIKKO)
find_path(AURORA_STEMMER_INCLUDE_DIR libstemmer.h)
find_library(AURORA_STEMMER_LIBRARY stemmer)
if(NOT AURORA_STEMMER_INCLUDE_DIR OR NOT AURORA_STEMMER_LIBRARY)
  message(FATAL_ERROR "Snowball's libstemmer (libstemmer.h, libstemmer.so) not found: install the "
                      "Debian package libstemmer-dev (scripts/setup)")
endif()
add_library(Aurora::stemmer INTERFACE IMPORTED)
target_include_directories(Aurora::stemmer INTERFACE "${AURORA_STEMMER_INCLUDE_DIR}")
target_link_libraries(Aurora::stemmer INTERFACE "${AURORA_STEMMER_LIBRARY}")

# The recommender's life-area classifier: fastText (libfasttext-dev), headers under fasttext/.
find_path(AURORA_FASTTEXT_INCLUDE_DIR fasttext/fasttext.h)
find_library(AURORA_FASTTEXT_LIBRARY fasttext)
if(NOT AURORA_FASTTEXT_INCLUDE_DIR OR NOT AURORA_FASTTEXT_LIBRARY)
  message(FATAL_ERROR "fastText (fasttext/fasttext.h, libfasttext.so) not found: install the "
                      "Debian package libfasttext-dev (scripts/setup)")
endif()
add_library(Aurora::fasttext INTERFACE IMPORTED)
target_include_directories(Aurora::fasttext INTERFACE "${AURORA_FASTTEXT_INCLUDE_DIR}")
target_link_libraries(Aurora::fasttext INTERFACE "${AURORA_FASTTEXT_LIBRARY}")

find_program(UNZIP_EXECUTABLE unzip REQUIRED)
set(AURORA_GOOGLE_PROTOS_JAR "/usr/share/java/proto-google-common-protos.jar" CACHE FILEPATH
    "Jar from Debian's libgoogle-common-protos-java holding google/api and google/rpc protos")
set(AURORA_GRPC_PROTO_DIR "/usr/share/grpc-proto" CACHE PATH
    "Directory with grpc/health/v1/health.proto (Debian grpc-proto)")
