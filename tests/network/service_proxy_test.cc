// The proxy to an organisation's own backends (src/network/service_proxy.*): a real backend
// server and a real node server with the proxy as its generic service, both on 127.0.0.1 sockets;
// calls go through the generated stubs of a member's service (tests/network/protos).

#include "network/service_proxy.h"

#include <atomic>
#include <catch2/catch.hpp>
#include <chrono>
#include <thread>

#include "absl/strings/str_cat.h"
#include "common/caller.h"
#include "common/metrics.h"
#include "common/server.h"
#include "fi/example/benefits/v1/benefits.grpc.pb.h"

namespace aurora::network {
namespace {

namespace bv1 = fi::example::benefits::v1;
using Catch::Matchers::Contains;

std::string Metadata(const grpc::ServerContextBase& context, const std::string& key) {
  std::string out;
  for (auto [it, end] = context.client_metadata().equal_range(key); it != end; ++it) {
    if (!out.empty()) out += ",";
    out += std::string(it->second.data(), it->second.size());
  }
  return out.empty() ? "none" : out;
}

// The organisation's backend. GetDecision: "missing" → NOT_FOUND with trailing metadata; "slow"
// → waits for cancellation; otherwise the caller organisation and x-trace it saw. ListDecisions:
// x-count decisions, or until cancelled with x-count "forever". Apply: echoes the benefit.
class Backend final : public bv1::Benefits::CallbackService {
 public:
  std::atomic<int> cancelled{0};
  std::atomic<int> user_agents{0};

  grpc::ServerUnaryReactor* GetDecision(grpc::CallbackServerContext* context,
                                        const bv1::GetDecisionRequest* request,
                                        bv1::Decision* response) override {
    if (request->decision_id() == "slow") {
      class Slow final : public grpc::ServerUnaryReactor {
       public:
        explicit Slow(Backend* backend) : backend_(backend) {}
        void OnCancel() override {
          ++backend_->cancelled;
          Finish(grpc::Status(grpc::StatusCode::CANCELLED, "cancelled"));
        }
        void OnDone() override { delete this; }

       private:
        Backend* backend_;
      };
      return new Slow(this);
    }
    auto* reactor = context->DefaultReactor();
    // One user-agent: the proxy's call sets its own instead of forwarding the caller's.
    if (context->client_metadata().count("user-agent") == 1) ++user_agents;
    if (request->decision_id() == "missing") {
      context->AddTrailingMetadata("x-why", "no such decision");
      reactor->Finish(
          grpc::Status(grpc::StatusCode::NOT_FOUND, "decision_id: no decision \"missing\""));
      return reactor;
    }
    context->AddInitialMetadata("x-backend", "benefits-1");
    context->AddTrailingMetadata("x-cost", "3");
    response->set_decision_id(request->decision_id());
    response->set_outcome(absl::StrCat(Metadata(*context, kCallerOrganizationMetadata), "|",
                                       Metadata(*context, "x-trace")));
    reactor->Finish(grpc::Status::OK);
    return reactor;
  }

  grpc::ServerWriteReactor<bv1::Decision>* ListDecisions(
      grpc::CallbackServerContext* context, const bv1::ListDecisionsRequest*) override {
    class Writer final : public grpc::ServerWriteReactor<bv1::Decision> {
     public:
      Writer(Backend* backend, int count) : backend_(backend), count_(count) { Next(); }
      void OnWriteDone(bool ok) override {
        if (!ok) {
          Finish(grpc::Status(grpc::StatusCode::CANCELLED, "gone"));
          return;
        }
        Next();
      }
      void OnCancel() override { ++backend_->cancelled; }
      void OnDone() override { delete this; }

     private:
      void Next() {
        if (count_ >= 0 && sent_ == count_) {
          Finish(grpc::Status::OK);
          return;
        }
        decision_.set_decision_id(absl::StrCat(sent_++));
        StartWrite(&decision_);
      }
      Backend* backend_;
      int count_;
      int sent_ = 0;
      bv1::Decision decision_;
    };
    const std::string count = Metadata(*context, "x-count");
    return new Writer(this, count == "forever" ? -1 : std::stoi(count));
  }

  grpc::ServerUnaryReactor* Apply(grpc::CallbackServerContext* context,
                                  const bv1::ApplyRequest* request,
                                  bv1::Decision* response) override {
    response->set_outcome(request->benefit());
    auto* reactor = context->DefaultReactor();
    reactor->Finish(grpc::Status::OK);
    return reactor;
  }
};

struct Setup {
  Backend backend;
  GrpcServer backend_server;
  Metrics metrics;
  std::unique_ptr<ServiceProxy> proxy;
  GrpcServer node;
  std::unique_ptr<bv1::Benefits::Stub> stub;

  Setup() {
    backend_server.AddService(&backend, bv1::Benefits::service_full_name());
    REQUIRE(backend_server.Start("127.0.0.1:0", nullptr).ok());
    proxy = std::make_unique<ServiceProxy>(
        std::vector<ServiceBackend>{
            {"fi.example.benefits.v1.Benefits", absl::StrCat("127.0.0.1:", backend_server.port())},
            {"fi.example.down.v1.Down", "127.0.0.1:1"}},
        nullptr, &metrics);
    node.SetGenericService(proxy.get());
    REQUIRE(node.Start("127.0.0.1:0", &metrics).ok());
    stub = bv1::Benefits::NewStub(grpc::CreateChannel(absl::StrCat("127.0.0.1:", node.port()),
                                                      grpc::InsecureChannelCredentials()));
  }
  ~Setup() {
    node.Shutdown(absl::Seconds(2));
    backend_server.Shutdown(absl::Seconds(2));
  }
};

void Deadline(grpc::ClientContext* context, int milliseconds = 5000) {
  context->set_deadline(std::chrono::system_clock::now() + std::chrono::milliseconds(milliseconds));
}

}  // namespace

TEST_CASE("the proxy forwards unary calls with metadata and status both ways", "[network]") {
  Setup setup;
  grpc::ClientContext context;
  Deadline(&context);
  context.AddMetadata(kCallerOrganizationMetadata, "aaaaaaaa-0000-4000-8000-00000000000a");
  context.AddMetadata("x-trace", "t-1");
  bv1::GetDecisionRequest request;
  request.set_decision_id("d-7");
  bv1::Decision decision;
  grpc::Status status = setup.stub->GetDecision(&context, request, &decision);
  INFO(status.error_message());
  REQUIRE(status.ok());
  CHECK(decision.decision_id() == "d-7");
  CHECK(decision.outcome() == "aaaaaaaa-0000-4000-8000-00000000000a|t-1");
  CHECK(setup.backend.user_agents == 1);
  const auto initial = context.GetServerInitialMetadata().find("x-backend");
  REQUIRE(initial != context.GetServerInitialMetadata().end());
  CHECK(std::string(initial->second.data(), initial->second.size()) == "benefits-1");
  const auto trailing = context.GetServerTrailingMetadata().find("x-cost");
  REQUIRE(trailing != context.GetServerTrailingMetadata().end());
  CHECK(std::string(trailing->second.data(), trailing->second.size()) == "3");

  // The backend's error, its message and trailing metadata reach the caller as they were.
  grpc::ClientContext missing_context;
  Deadline(&missing_context);
  request.set_decision_id("missing");
  status = setup.stub->GetDecision(&missing_context, request, &decision);
  CHECK(status.error_code() == grpc::StatusCode::NOT_FOUND);
  CHECK(status.error_message() == "decision_id: no decision \"missing\"");
  CHECK(missing_context.GetServerTrailingMetadata().count("x-why") == 1);

  // Other methods of the same service.
  grpc::ClientContext apply_context;
  Deadline(&apply_context);
  bv1::ApplyRequest apply;
  apply.set_benefit("housing");
  REQUIRE(setup.stub->Apply(&apply_context, apply, &decision).ok());
  CHECK(decision.outcome() == "housing");

  const std::string exposition = [&] {
    std::string text;
    for (const auto& family : setup.metrics.registry().Collect()) {
      if (family.name != "aurora_network_proxied_calls_total") continue;
      for (const auto& metric : family.metric) {
        if (metric.counter.value == 0) continue;
        for (const auto& label : metric.label) absl::StrAppend(&text, label.value, " ");
        absl::StrAppend(&text, metric.counter.value, "\n");
      }
    }
    return text;
  }();
  CHECK_THAT(exposition, Contains("OK fi.example.benefits.v1.Benefits 2"));
  CHECK_THAT(exposition, Contains("NOT_FOUND fi.example.benefits.v1.Benefits 1"));
}

TEST_CASE("the proxy streams with flow control, deadlines and cancellation", "[network]") {
  Setup setup;
  {
    grpc::ClientContext context;
    Deadline(&context, 20000);
    context.AddMetadata("x-count", "2000");
    auto reader = setup.stub->ListDecisions(&context, {});
    bv1::Decision decision;
    int received = 0;
    bool in_order = true;
    while (reader->Read(&decision)) {
      in_order = in_order && decision.decision_id() == absl::StrCat(received);
      ++received;
    }
    REQUIRE(reader->Finish().ok());
    CHECK(received == 2000);
    CHECK(in_order);
  }
  {
    // The caller's deadline is the backend's: the backend's call is cancelled with it.
    grpc::ClientContext context;
    Deadline(&context, 300);
    bv1::GetDecisionRequest request;
    request.set_decision_id("slow");
    bv1::Decision decision;
    const auto started = std::chrono::steady_clock::now();
    grpc::Status status = setup.stub->GetDecision(&context, request, &decision);
    CHECK(status.error_code() == grpc::StatusCode::DEADLINE_EXCEEDED);
    CHECK(std::chrono::steady_clock::now() - started < std::chrono::seconds(3));
    for (int i = 0; i < 100 && setup.backend.cancelled < 1; ++i) {
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    CHECK(setup.backend.cancelled >= 1);
  }
  {
    // A caller that cancels an endless stream: the backend's stream is cancelled too.
    const int before = setup.backend.cancelled;
    grpc::ClientContext context;
    Deadline(&context, 20000);
    context.AddMetadata("x-count", "forever");
    auto reader = setup.stub->ListDecisions(&context, {});
    bv1::Decision decision;
    for (int i = 0; i < 10; ++i) REQUIRE(reader->Read(&decision));
    context.TryCancel();
    while (reader->Read(&decision)) {
    }
    CHECK(reader->Finish().error_code() == grpc::StatusCode::CANCELLED);
    for (int i = 0; i < 100 && setup.backend.cancelled <= before; ++i) {
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    CHECK(setup.backend.cancelled > before);
  }
}

TEST_CASE("the proxy refuses services it has no backend for, and reports a backend down",
          "[network]") {
  Setup setup;
  auto channel = grpc::CreateChannel(absl::StrCat("127.0.0.1:", setup.node.port()),
                                     grpc::InsecureChannelCredentials());
  grpc::GenericStub generic(channel);
  const auto call = [&](const std::string& method) {
    grpc::ClientContext context;
    Deadline(&context, 3000);
    grpc::Slice empty("");  // an empty message (a ByteBuffer without slices is not one)
    grpc::ByteBuffer request(&empty, 1), response;
    grpc::Status result;
    std::mutex mu;
    std::condition_variable cv;
    bool done = false;
    generic.UnaryCall(&context, method, grpc::StubOptions(), &request, &response,
                      [&](grpc::Status status) {
                        std::lock_guard lock(mu);
                        result = status;
                        done = true;
                        cv.notify_one();
                      });
    std::unique_lock lock(mu);
    cv.wait(lock, [&] { return done; });
    return result;
  };
  grpc::Status status = call("/fi.example.pensions.v1.Pensions/Get");
  CHECK(status.error_code() == grpc::StatusCode::UNIMPLEMENTED);
  CHECK_THAT(status.error_message(), Contains("fi.example.pensions.v1.Pensions"));
  status = call("/fi.example.down.v1.Down/Get");
  CHECK(status.error_code() == grpc::StatusCode::UNAVAILABLE);

  CHECK(ParseServiceBackend("fi.example.v1.X=127.0.0.1:7001").ok());
  for (const char* bad : {"fi.example.v1.X", "=127.0.0.1:1", "X=127.0.0.1:1",
                          "aurora.directory.v1.Directory=127.0.0.1:1", "fi.example.v1.X=host"}) {
    auto parsed = ParseServiceBackend(bad);
    INFO(bad);
    CHECK(parsed.status().code() == absl::StatusCode::kInvalidArgument);
    CHECK_THAT(std::string(parsed.status().message()), Contains("--service-backends"));
  }
}

}  // namespace aurora::network
