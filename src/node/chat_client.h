#pragma once
// `aurora chat`: the service-finding chatbot in the terminal, over the node's gRPC
// Recommender.Converse (the same conversation engine as the web widget). Reads the person's lines
// from `in` and writes the bot's replies, the services found (name, provider, why, links) and the
// quick replies to `out`. The conversation's state lives only in this process: "/clear" forgets
// it, "/quit" or the end of input ends. Nothing is written anywhere else.

#include <istream>
#include <ostream>
#include <string>

#include "aurora/recommender/v1/recommender.grpc.pb.h"

namespace aurora::node {

struct ChatOptions {
  std::string language = "fi";
  bool prompt = false;  // write "> " before reading (a terminal)
  int timeout_seconds = 30;
};

// Returns the process exit code: 0 at the end of input or /quit; 1 when the node cannot be
// reached (the error is written to `err`). Refused messages (e.g. too long) are reported and the
// conversation goes on.
int RunChat(aurora::recommender::v1::Recommender::StubInterface* stub, std::istream& in,
            std::ostream& out, std::ostream& err, const ChatOptions& options);

}  // namespace aurora::node
