# Code generation for the contracts in protos/ with an explicit add_custom_command per file
# (CMake 3.25's protobuf_generate names outputs relative to the calling directory; see
# ../shared/reference/toolchain.md pitfall 3).
#
# aurora_protoc(<out-var> ROOT <import-root> FILES <rel-path>... [GRPC])
#   Appends the generated .pb.{h,cc} (and .grpc.pb.{h,cc} with GRPC) to <out-var>.
set(AURORA_GEN_DIR "${CMAKE_BINARY_DIR}/gen")
set(AURORA_GOOGLEAPIS_DIR "${CMAKE_BINARY_DIR}/googleapis")
file(MAKE_DIRECTORY "${AURORA_GEN_DIR}")

# google/api and google/rpc protos are extracted at configure time from Debian's jar into the build
# tree; they are never committed.
set(AURORA_GOOGLE_PROTO_FILES
    google/api/annotations.proto google/api/http.proto google/api/httpbody.proto
    google/api/field_behavior.proto google/rpc/status.proto)
foreach(f IN LISTS AURORA_GOOGLE_PROTO_FILES)
  if(NOT EXISTS "${AURORA_GOOGLEAPIS_DIR}/${f}")
    execute_process(
      COMMAND "${UNZIP_EXECUTABLE}" -o -q "${AURORA_GOOGLE_PROTOS_JAR}" ${AURORA_GOOGLE_PROTO_FILES}
              -d "${AURORA_GOOGLEAPIS_DIR}"
      RESULT_VARIABLE unzip_rc)
    if(NOT unzip_rc EQUAL 0 OR NOT EXISTS "${AURORA_GOOGLEAPIS_DIR}/${f}")
      message(FATAL_ERROR "Could not extract ${f} from ${AURORA_GOOGLE_PROTOS_JAR}; "
                          "run scripts/setup (package libgoogle-common-protos-java)")
    endif()
    break()
  endif()
endforeach()

set(AURORA_PROTO_IMPORT_DIRS
    "${PROJECT_SOURCE_DIR}/protos" "${AURORA_GOOGLEAPIS_DIR}" "${AURORA_GRPC_PROTO_DIR}"
    "${Protobuf_INCLUDE_DIRS}")

function(aurora_protoc out_var)
  cmake_parse_arguments(A "GRPC" "ROOT" "FILES" ${ARGN})
  set(includes)
  foreach(d IN LISTS AURORA_PROTO_IMPORT_DIRS)
    list(APPEND includes "-I${d}")
  endforeach()
  set(result ${${out_var}})
  foreach(rel IN LISTS A_FILES)
    string(REGEX REPLACE "\\.proto$" "" stem "${rel}")
    set(outs "${AURORA_GEN_DIR}/${stem}.pb.cc" "${AURORA_GEN_DIR}/${stem}.pb.h")
    set(args "--cpp_out=${AURORA_GEN_DIR}")
    set(deps "${A_ROOT}/${rel}")
    if(A_GRPC)
      list(APPEND outs "${AURORA_GEN_DIR}/${stem}.grpc.pb.cc" "${AURORA_GEN_DIR}/${stem}.grpc.pb.h")
      list(APPEND args "--grpc_out=${AURORA_GEN_DIR}"
           "--plugin=protoc-gen-grpc=$<TARGET_FILE:gRPC::grpc_cpp_plugin>")
    endif()
    add_custom_command(
      OUTPUT ${outs}
      COMMAND protobuf::protoc ${includes} ${args} "${A_ROOT}/${rel}"
      DEPENDS ${deps} protobuf::protoc
      COMMENT "protoc ${rel}"
      VERBATIM)
    list(APPEND result ${outs})
  endforeach()
  set(${out_var} ${result} PARENT_SCOPE)
endfunction()
