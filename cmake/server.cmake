# The gRPC server (mamba-explaind), the serving layer and the remote client commands.
# Included from the top-level CMakeLists.txt when ME_WITH_SERVER is ON. Generated *.pb.h are used
# only by server/ and client/ targets, which never see LibTorch include directories.

# --- proto: protoc + grpc_cpp_plugin into the build dir ---------------------------------------
set(ME_PROTO_SRC ${CMAKE_SOURCE_DIR}/proto)
set(ME_PROTO_OUT ${CMAKE_BINARY_DIR}/proto)
set(ME_PROTO_FILE ${ME_PROTO_SRC}/mamba_explain/v1/explain.proto)
file(MAKE_DIRECTORY ${ME_PROTO_OUT})
if(TARGET gRPC::grpc_cpp_plugin)
  set(ME_GRPC_PLUGIN $<TARGET_FILE:gRPC::grpc_cpp_plugin>)
else()
  find_program(ME_GRPC_PLUGIN grpc_cpp_plugin REQUIRED)
endif()
set(ME_PROTO_GENERATED
  ${ME_PROTO_OUT}/mamba_explain/v1/explain.pb.cc ${ME_PROTO_OUT}/mamba_explain/v1/explain.pb.h
  ${ME_PROTO_OUT}/mamba_explain/v1/explain.grpc.pb.cc
  ${ME_PROTO_OUT}/mamba_explain/v1/explain.grpc.pb.h)
add_custom_command(
  OUTPUT ${ME_PROTO_GENERATED}
  COMMAND ${Protobuf_PROTOC_EXECUTABLE} --proto_path=${ME_PROTO_SRC}
          --cpp_out=${ME_PROTO_OUT} --grpc_out=${ME_PROTO_OUT}
          --plugin=protoc-gen-grpc=${ME_GRPC_PLUGIN} ${ME_PROTO_FILE}
  DEPENDS ${ME_PROTO_FILE}
  COMMENT "protoc mamba_explain/v1/explain.proto")
add_library(me_proto STATIC
  ${ME_PROTO_OUT}/mamba_explain/v1/explain.pb.cc
  ${ME_PROTO_OUT}/mamba_explain/v1/explain.grpc.pb.cc)
# Protobuf's headers first: PyTorch's include dir ships older google/protobuf headers.
target_include_directories(me_proto BEFORE PUBLIC ${Protobuf_INCLUDE_DIRS} ${ME_PROTO_OUT})
target_link_libraries(me_proto PUBLIC protobuf::libprotobuf gRPC::grpc++)
# The typed enums as wire enums, for the server and the client alike.
add_library(me_wire_enums STATIC proto/wire_enums.cc)
target_include_directories(me_wire_enums PUBLIC ${CMAKE_SOURCE_DIR}/src ${CMAKE_SOURCE_DIR})
target_link_libraries(me_wire_enums PUBLIC me_proto me_methods)
target_compile_options(me_wire_enums PRIVATE ${ME_WARNINGS})

# --- serving: registry, batcher, validation, metrics, synthetic backend (no LibTorch) ----------
add_library(me_serving STATIC
  src/serving/explain_types.cc
  src/serving/batch_plan.cc
  src/serving/request_validation.cc
  src/serving/dynamic_batcher.cc
  src/serving/model_registry.cc
  src/serving/metrics.cc
  src/serving/synthetic_backend.cc)
target_include_directories(me_serving PUBLIC ${CMAKE_SOURCE_DIR}/src ${CMAKE_SOURCE_DIR})
target_link_libraries(me_serving PUBLIC me_model me_explain_request me_sparse absl::synchronization absl::time
  prometheus-cpp::core Threads::Threads)
target_compile_options(me_serving PRIVATE ${ME_WARNINGS})

# --- server ------------------------------------------------------------------------------------
add_library(me_server_lib STATIC
  server/status_mapping.cc
  server/auth.cc
  server/proto_convert.cc
  server/explain_service.cc)
target_link_libraries(me_server_lib PUBLIC me_proto me_wire_enums me_serving)
target_compile_options(me_server_lib PRIVATE ${ME_WARNINGS})

if(ME_ENGINE)
  # The one TU that reaches the engine; LibTorch stays PRIVATE so its include dirs never reach
  # the server's TUs.
  add_library(me_serving_engine STATIC src/serving/engine_backend.cc)
  target_link_libraries(me_serving_engine PUBLIC me_serving PRIVATE me_engine)
  target_compile_options(me_serving_engine PRIVATE ${ME_WARNINGS})
  set(ME_ENGINE_BACKEND_LIB me_serving_engine)
else()
  set(ME_ENGINE_BACKEND_LIB)
endif()

set(ME_VERSION "dev" CACHE STRING "Version in mamba_explain_build_info (images pass theirs)")
# The HTTP/JSON gateway (server/http_*): cpp-httplib (Debian libcpp-httplib-dev), a client of
# the Explainer service through the gRPC server's in-process channel. Optional: without the
# library the server builds without it and refuses --http_port with a message saying so.
find_package(PkgConfig QUIET)
if(PkgConfig_FOUND)
  pkg_check_modules(CPP_HTTPLIB QUIET IMPORTED_TARGET cpp-httplib)
endif()
set(ME_WITH_HTTP OFF)
if(CPP_HTTPLIB_FOUND)
  set(ME_WITH_HTTP ON)
  # Binding, listening thread and stop of the cpp-httplib servers (gateway and /metrics).
  add_library(me_httplib_listener STATIC server/httplib_listener.cc)
  target_link_libraries(me_httplib_listener PUBLIC me_common absl::status absl::statusor absl::strings
    absl::time PkgConfig::CPP_HTTPLIB)
  target_compile_options(me_httplib_listener PRIVATE ${ME_WARNINGS})
  add_library(me_http_gateway STATIC
    server/http_status.cc
    server/http_explain_stream.cc
    server/http_cors.cc
    server/http_gateway.cc)
  target_link_libraries(me_http_gateway PUBLIC me_proto me_web_assets absl::synchronization
    absl::time absl::strings nlohmann_json::nlohmann_json PkgConfig::CPP_HTTPLIB
    me_httplib_listener)
  target_compile_options(me_http_gateway PRIVATE ${ME_WARNINGS})
  # /metrics on cpp-httplib (server/metrics_http.h says why not civetweb where this exists).
  add_library(me_metrics_http STATIC server/metrics_http.cc)
  target_link_libraries(me_metrics_http PUBLIC prometheus-cpp::core absl::synchronization
    absl::time absl::strings absl::status absl::statusor PkgConfig::CPP_HTTPLIB
    me_httplib_listener)
  target_include_directories(me_metrics_http PUBLIC ${CMAKE_SOURCE_DIR})
  target_compile_options(me_metrics_http PRIVATE ${ME_WARNINGS})
endif()
message(STATUS "mamba-explain: HTTP gateway ${ME_WITH_HTTP}")

add_executable(mamba-explaind server/main.cc server/process_metrics.cc)
target_link_libraries(mamba-explaind PRIVATE me_server_lib ${ME_ENGINE_BACKEND_LIB}
  gRPC::grpc++_reflection prometheus-cpp::pull absl::flags absl::flags_parse absl::flags_usage)
target_compile_options(mamba-explaind PRIVATE ${ME_WARNINGS})
if(ME_ENGINE)
  target_compile_definitions(mamba-explaind PRIVATE ME_WITH_ENGINE_BACKEND=1)
endif()
if(ME_WITH_HTTP)
  target_link_libraries(mamba-explaind PRIVATE me_http_gateway me_metrics_http)
  target_compile_definitions(mamba-explaind PRIVATE ME_WITH_HTTP=1)
endif()
target_compile_definitions(mamba-explaind PRIVATE ME_VERSION="${ME_VERSION}")

# --- client: remote commands (gRPC) ------------------------------------------------------------
set(ME_HEALTH_PROTO ${ME_PROTO_SRC}/grpc/health/v1/health.proto)
set(ME_HEALTH_GENERATED
  ${ME_PROTO_OUT}/grpc/health/v1/health.pb.cc ${ME_PROTO_OUT}/grpc/health/v1/health.pb.h
  ${ME_PROTO_OUT}/grpc/health/v1/health.grpc.pb.cc ${ME_PROTO_OUT}/grpc/health/v1/health.grpc.pb.h)
add_custom_command(
  OUTPUT ${ME_HEALTH_GENERATED}
  COMMAND ${Protobuf_PROTOC_EXECUTABLE} --proto_path=${ME_PROTO_SRC}
          --cpp_out=${ME_PROTO_OUT} --grpc_out=${ME_PROTO_OUT}
          --plugin=protoc-gen-grpc=${ME_GRPC_PLUGIN} ${ME_HEALTH_PROTO}
  DEPENDS ${ME_HEALTH_PROTO}
  COMMENT "protoc grpc/health/v1/health.proto (client stubs)")
add_library(me_client_remote STATIC
  client/remote_commands.cc
  client/remote_explain.cc
  client/remote_connection.cc
  client/remote_request.cc
  client/perf_command.cc
  client/perf_load.cc
  client/perf_report.cc
  ${ME_PROTO_OUT}/grpc/health/v1/health.pb.cc
  ${ME_PROTO_OUT}/grpc/health/v1/health.grpc.pb.cc)
target_include_directories(me_client_remote PRIVATE ${CMAKE_SOURCE_DIR}/src ${CMAKE_SOURCE_DIR})
target_link_libraries(me_client_remote PUBLIC me_proto me_wire_enums me_methods me_client_common me_report
  me_explain_request absl::status absl::statusor absl::strings absl::synchronization absl::time
  nlohmann_json::nlohmann_json)
target_compile_options(me_client_remote PRIVATE ${ME_WARNINGS})
if(TARGET mamba-explain)
  target_link_libraries(mamba-explain PRIVATE me_client_remote)
  target_compile_definitions(mamba-explain PRIVATE ME_WITH_GRPC_CLIENT=1)
endif()

# --- civetweb's own start-up errors: the server's log and metrics_probe (tools/metrics_probe.cc) --
find_library(ME_CIVETWEB_LIB civetweb)
find_path(ME_CIVETWEB_INCLUDE civetweb.h)
if(ME_CIVETWEB_LIB AND ME_CIVETWEB_INCLUDE)
  add_library(me_civetweb_start_error STATIC server/civetweb_start_error.cc)
  target_include_directories(me_civetweb_start_error PUBLIC ${CMAKE_SOURCE_DIR}
    ${ME_CIVETWEB_INCLUDE})
  target_link_libraries(me_civetweb_start_error PUBLIC ${ME_CIVETWEB_LIB} absl::strings)
  target_compile_options(me_civetweb_start_error PRIVATE ${ME_WARNINGS})
  target_link_libraries(mamba-explaind PRIVATE me_civetweb_start_error)
  target_compile_definitions(mamba-explaind PRIVATE ME_HAVE_CIVETWEB=1)
  add_executable(metrics_probe tools/metrics_probe.cc)
  target_include_directories(metrics_probe PRIVATE ${ME_CIVETWEB_INCLUDE})
  target_link_libraries(metrics_probe PRIVATE prometheus-cpp::pull me_civetweb_start_error)
  target_compile_options(metrics_probe PRIVATE ${ME_WARNINGS})
endif()
