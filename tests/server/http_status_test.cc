// The gRPC -> HTTP status mapping of the gateway is grpc-gateway's (a dashboard written against
// a grpc-gateway sees the same codes), and the error body carries the gRPC code, its name and
// the message.
#include "server/http_status.h"

#include <gtest/gtest.h>

#include "nlohmann/json.hpp"

namespace mamba_explain {
namespace {

TEST(HttpStatusTest, GrpcGatewayMapping) {
  using grpc::StatusCode;
  const std::pair<StatusCode, int> table[] = {
      {StatusCode::OK, 200},
      {StatusCode::CANCELLED, 499},
      {StatusCode::UNKNOWN, 500},
      {StatusCode::INVALID_ARGUMENT, 400},
      {StatusCode::DEADLINE_EXCEEDED, 504},
      {StatusCode::NOT_FOUND, 404},
      {StatusCode::ALREADY_EXISTS, 409},
      {StatusCode::PERMISSION_DENIED, 403},
      {StatusCode::RESOURCE_EXHAUSTED, 429},
      {StatusCode::FAILED_PRECONDITION, 400},
      {StatusCode::ABORTED, 409},
      {StatusCode::OUT_OF_RANGE, 400},
      {StatusCode::UNIMPLEMENTED, 501},
      {StatusCode::INTERNAL, 500},
      {StatusCode::UNAVAILABLE, 503},
      {StatusCode::DATA_LOSS, 500},
      {StatusCode::UNAUTHENTICATED, 401},
      {static_cast<StatusCode>(99), 500},
  };
  for (const auto& [code, http] : table) {
    EXPECT_EQ(HttpStatusFromGrpc(code), http) << GrpcCodeName(code);
  }
}

TEST(HttpStatusTest, ErrorBodyNamesCodeAndMessage) {
  const nlohmann::json body = nlohmann::json::parse(ErrorJson(
      grpc::Status(grpc::StatusCode::RESOURCE_EXHAUSTED, "queue full; retry after 40 ms")));
  EXPECT_EQ(body["code"], 8);
  EXPECT_EQ(body["status"], "RESOURCE_EXHAUSTED");
  EXPECT_EQ(body["message"], "queue full; retry after 40 ms");
}

}  // namespace
}  // namespace mamba_explain
