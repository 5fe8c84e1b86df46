// RecommenderPeers: the --recommender-peers list is checked, and host names stand for all their
// addresses. (Forwarding itself runs in e2e.production_topology, between real replicas.)
#include "recommender/peers.h"

#include <algorithm>
#include <catch2/catch.hpp>
#include <string>

using aurora::recommender::RecommenderPeers;
using Catch::Matchers::Contains;

TEST_CASE("recommender peers: a malformed list is refused, naming the flag and the item") {
  for (const char* bad : {"recommender-peers", "host:", ":50051", "host:0", "host:70000",
                          "a:1,b:x", " , "}) {
    auto peers = RecommenderPeers::Create(bad, grpc::InsecureChannelCredentials(), false);
    INFO(bad);
    REQUIRE_FALSE(peers.ok());
    CHECK(peers.status().code() == absl::StatusCode::kInvalidArgument);
    CHECK_THAT(std::string(peers.status().message()), Contains("--recommender-peers"));
  }
  auto item = RecommenderPeers::Create("a:1,b:x", grpc::InsecureChannelCredentials(), false);
  CHECK_THAT(std::string(item.status().message()), Contains("\"b:x\""));
}

TEST_CASE("recommender peers: addresses, names resolved to every address, duplicates once") {
  auto peers = RecommenderPeers::Create("127.0.0.1:7001, 127.0.0.1:7002,127.0.0.1:7001,"
                                        "localhost:7003",
                                        grpc::InsecureChannelCredentials(), false);
  REQUIRE(peers.ok());
  const auto addresses = (*peers)->Addresses();
  CHECK(std::count(addresses.begin(), addresses.end(), "127.0.0.1:7001") == 1);
  CHECK(std::count(addresses.begin(), addresses.end(), "127.0.0.1:7002") == 1);
  CHECK(std::count(addresses.begin(), addresses.end(), "127.0.0.1:7003") == 1);  // localhost
  auto nowhere = RecommenderPeers::Create("no-such-host.invalid:50051",
                                          grpc::InsecureChannelCredentials(), false);
  REQUIRE(nowhere.ok());  // a Service with no ready pod yet: resolved again later
  CHECK((*nowhere)->Addresses().empty());
}
