#include "node/chat_client.h"

#include <grpcpp/grpcpp.h>

#include <chrono>

#include "absl/strings/ascii.h"
#include "absl/strings/str_join.h"

namespace aurora::node {
namespace {

namespace rv1 = aurora::recommender::v1;

const std::string& In(const aurora::common::v1::LocalizedText& text, const std::string& language) {
  if (language == "sv" && !text.sv().empty()) return text.sv();
  if (language == "en" && !text.en().empty()) return text.en();
  if (!text.fi().empty()) return text.fi();
  return !text.sv().empty() ? text.sv() : text.en();
}

const char* Label(const std::string& language, const char* fi, const char* sv, const char* en) {
  return language == "sv" ? sv : language == "en" ? en : fi;
}

void PrintServices(const rv1::ConverseResponse& response, const std::string& language,
                   std::ostream& out) {
  int n = 0;
  for (const rv1::RecommendedService& found : response.services()) {
    const auto& service = found.service();
    out << "  " << ++n << ". " << In(service.name(), language) << "\n";
    if (!In(service.summary(), language).empty()) {
      out << "     " << In(service.summary(), language) << "\n";
    }
    std::vector<std::string> why;
    if (!found.explanation().crisis().empty()) {
      why.push_back(Label(language, "kriisiapu", "krishjälp", "crisis help"));
    }
    for (const std::string& filter : found.explanation().filters()) why.push_back(filter);
    for (const std::string& rule : found.explanation().eligibility()) why.push_back(rule);
    if (!why.empty()) {
      out << "     " << Label(language, "miksi", "varför", "why") << ": "
          << absl::StrJoin(why, "; ") << "\n";
    }
    int links = 0;
    for (const auto& channel : service.channels()) {
      for (const std::string& url : channel.urls()) {
        if (links++ < 2) out << "     " << url << "\n";
      }
      for (const std::string& phone : channel.phones()) {
        if (links++ < 3) out << "     " << phone << "\n";
      }
    }
  }
}

}  // namespace

int RunChat(rv1::Recommender::StubInterface* stub, std::istream& in, std::ostream& out,
            std::ostream& err, const ChatOptions& options) {
  rv1::ConversationState state;
  bool started = false;
  out << Label(options.language,
               "Kerro, missä asiassa tarvitset apua. (/clear unohtaa keskustelun, /quit lopettaa)",
               "Berätta vad du behöver hjälp med. (/clear glömmer samtalet, /quit avslutar)",
               "Tell me what you need help with. (/clear forgets the conversation, /quit ends)")
      << "\n";
  std::string line;
  while (true) {
    if (options.prompt) out << "> " << std::flush;
    if (!std::getline(in, line)) break;
    const std::string message(absl::StripAsciiWhitespace(line));
    if (message.empty()) continue;
    if (message == "/quit") break;
    if (message == "/clear") {
      state.Clear();
      started = false;
      out << Label(options.language, "Keskustelu tyhjennetty.", "Samtalet rensat.",
                   "Conversation cleared.")
          << "\n";
      continue;
    }
    rv1::ConverseRequest request;
    request.set_message(message);
    request.set_language(options.language);
    if (started) *request.mutable_state() = state;
    rv1::ConverseResponse response;
    grpc::ClientContext context;
    context.set_deadline(std::chrono::system_clock::now() +
                         std::chrono::seconds(options.timeout_seconds));
    const grpc::Status status = stub->Converse(&context, request, &response);
    if (status.error_code() == grpc::StatusCode::INVALID_ARGUMENT) {
      out << "! " << status.error_message() << "\n";
      continue;
    }
    if (!status.ok()) {
      err << "aurora chat: the node did not answer: " << status.error_message() << "\n";
      return 1;
    }
    state = response.state();
    started = true;
    if (!response.crisis().empty()) out << "!!! 112 !!!\n";
    for (const std::string& reply : response.replies()) out << "Aurora: " << reply << "\n";
    PrintServices(response, options.language, out);
    if (!response.suggestions().empty()) {
      out << "  [" << absl::StrJoin(response.suggestions(), " | ") << "]\n";
    }
  }
  return 0;
}

}  // namespace aurora::node
