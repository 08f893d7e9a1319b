// The HTTP gateway's CORS policy (--http_cors_origins, server/http_cors.h): flag parsing, which
// origins get Access-Control-Allow-Origin, and the preflight answers. The e2e side (headers on
// real responses and streams, OPTIONS over the wire) is tests/e2e/http_cors_e2e_test.sh.
#include "server/http_cors.h"

#include <gtest/gtest.h>

#include <map>

namespace mamba_explain {
namespace {

std::map<std::string, std::string> AsMap(const std::vector<std::pair<std::string, std::string>>& h) {
  return {h.begin(), h.end()};
}

TEST(HttpCorsTest, DefaultAllowsNoOrigin) {
  const CorsPolicy none;
  EXPECT_FALSE(none.enabled());
  EXPECT_EQ(none.AllowOrigin("https://dash.example.com"), "");
  EXPECT_TRUE(none.ResponseHeaders("https://dash.example.com").empty());
  const auto parsed = CorsPolicy::Parse("");
  ASSERT_TRUE(parsed.ok());
  EXPECT_FALSE(parsed->enabled());
  const auto answer = parsed->Answer("https://dash.example.com", "POST", "content-type");
  EXPECT_EQ(answer.status, 403);
  EXPECT_NE(answer.error.find("not enabled"), std::string::npos) << answer.error;
  EXPECT_TRUE(answer.headers.empty());
}

TEST(HttpCorsTest, ListedOriginsOnly) {
  const auto cors = CorsPolicy::Parse(" https://dash.example.com, http://localhost:3000 ");
  ASSERT_TRUE(cors.ok()) << cors.status();
  EXPECT_TRUE(cors->enabled());
  EXPECT_EQ(cors->AllowOrigin("https://dash.example.com"), "https://dash.example.com");
  EXPECT_EQ(cors->AllowOrigin("HTTPS://Dash.Example.com"), "HTTPS://Dash.Example.com");
  EXPECT_EQ(cors->AllowOrigin("http://localhost:3000"), "http://localhost:3000");
  EXPECT_EQ(cors->AllowOrigin("http://localhost:3001"), "");
  EXPECT_EQ(cors->AllowOrigin("http://dash.example.com"), "");  // scheme differs
  EXPECT_EQ(cors->AllowOrigin("https://dash.example.com.evil.org"), "");
  EXPECT_EQ(cors->AllowOrigin(""), "");
  auto h = AsMap(cors->ResponseHeaders("https://dash.example.com"));
  EXPECT_EQ(h["Access-Control-Allow-Origin"], "https://dash.example.com");
  EXPECT_EQ(h["Vary"], "Origin");
  EXPECT_EQ(h["Access-Control-Expose-Headers"], "Retry-After, WWW-Authenticate");
  EXPECT_EQ(h.count("Access-Control-Allow-Credentials"), 0u);
  EXPECT_TRUE(cors->ResponseHeaders("https://other.example.com").empty());
}

TEST(HttpCorsTest, AnyOrigin) {
  const auto cors = CorsPolicy::Parse("*");
  ASSERT_TRUE(cors.ok());
  EXPECT_EQ(cors->AllowOrigin("https://anything.example"), "*");
  EXPECT_EQ(cors->AllowOrigin(""), "");  // not a cross-origin request
  auto h = AsMap(cors->ResponseHeaders("https://anything.example"));
  EXPECT_EQ(h["Access-Control-Allow-Origin"], "*");
  EXPECT_EQ(h.count("Vary"), 0u);
}

TEST(HttpCorsTest, Preflight) {
  const auto cors = CorsPolicy::Parse("https://dash.example.com");
  ASSERT_TRUE(cors.ok());
  auto ok = cors->Answer("https://dash.example.com", "POST",
                         "Content-Type, authorization,GRPC-TIMEOUT");
  EXPECT_EQ(ok.status, 204) << ok.error;
  auto h = AsMap(ok.headers);
  EXPECT_EQ(h["Access-Control-Allow-Origin"], "https://dash.example.com");
  EXPECT_EQ(h["Access-Control-Allow-Methods"], "GET, POST");
  EXPECT_EQ(h["Access-Control-Allow-Headers"], "Authorization, Content-Type, Accept, Grpc-Timeout");
  EXPECT_EQ(h["Access-Control-Max-Age"], "600");
  EXPECT_EQ(cors->Answer("https://dash.example.com", "GET", "").status, 204);
  auto other = cors->Answer("https://evil.example.com", "POST", "");
  EXPECT_EQ(other.status, 403);
  EXPECT_NE(other.error.find("https://evil.example.com"), std::string::npos) << other.error;
  auto put = cors->Answer("https://dash.example.com", "PUT", "");
  EXPECT_EQ(put.status, 403);
  EXPECT_NE(put.error.find("PUT"), std::string::npos);
  auto header = cors->Answer("https://dash.example.com", "POST", "content-type, x-custom");
  EXPECT_EQ(header.status, 403);
  EXPECT_NE(header.error.find("x-custom"), std::string::npos);
}

TEST(HttpCorsTest, RefusesWhatIsNotAnOrigin) {
  for (const char* bad : {"dash.example.com", "https://dash.example.com/", "https://dash.example.com/app",
                          "ftp://dash.example.com", "https://", "https://:8080",
                          "https://host:0", "https://host:65536", "https://host:8o", "null",
                          "https://user@host", "https://[::1"}) {
    const auto cors = CorsPolicy::Parse(bad);
    EXPECT_FALSE(cors.ok()) << bad;
    if (!cors.ok()) {
      EXPECT_NE(std::string(cors.status().message()).find("--http_cors_origins"), std::string::npos);
    }
  }
  for (const char* good : {"http://localhost", "https://[::1]:8443", "http://10.0.0.1:8080",
                           "https://a.example, *"}) {
    EXPECT_TRUE(CorsPolicy::Parse(good).ok()) << good;
  }
}

}  // namespace
}  // namespace mamba_explain
