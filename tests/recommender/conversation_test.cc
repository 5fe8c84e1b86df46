// The chatbot's conversation logic (ConversationEngine) over the real demo catalogue: it asks for
// the municipality and the age only when the services found depend on them and each at most once,
// understands their answers in inflected forms, takes an answer it does not understand as more of
// the need, answers a crisis at once, and refuses bad input naming the field.

#include "recommender/conversation.h"

#include <catch2/catch.hpp>
#include <string>

#include "absl/strings/match.h"
#include "catalogue_fixture.h"

namespace aurora::recommender {
namespace {

using testing::Demo;
namespace rv1 = aurora::recommender::v1;

const ConversationEngine& Engine() {
  static const ConversationEngine engine(Demo().ranker.get(), Demo().analyzer.get(),
                                         Demo().codes.get());
  return engine;
}

ConversationStep Turn(const std::string& message, const rv1::ConversationState& state = {},
                      const std::string& language = "fi") {
  rv1::ConverseRequest request;
  request.set_message(message);
  *request.mutable_state() = state;
  request.set_language(language);
  auto step = Engine().Step(request);
  REQUIRE(step.ok());
  return *step;
}

}  // namespace

TEST_CASE("conversation: municipalities in codes and inflected Finnish and Swedish names") {
  const ConversationEngine& engine = Engine();
  CHECK(engine.FindMunicipality("Asun Turussa") == "853");
  CHECK(engine.FindMunicipality("helsingissä") == "091");
  CHECK(engine.FindMunicipality("Oulusta") == "564");
  CHECK(engine.FindMunicipality("Tampereella asun") == "837");
  CHECK(engine.FindMunicipality("jag bor i Vasa") == "905");
  CHECK(engine.FindMunicipality("kunta 091") == "091");
  CHECK(engine.FindMunicipality("999") == "");
  CHECK(engine.FindMunicipality("en tiedä") == "");
}

TEST_CASE("conversation: a local need asks for the municipality once, then answers") {
  ConversationStep first = Turn("tarvitsen vuokra-asunnon");
  REQUIRE_FALSE(first.answer);
  CHECK(first.state.awaiting() == "municipality");
  CHECK(first.replies == std::vector<std::string>{
                             "Missä kunnassa asut? Palvelut riippuvat kunnasta."});
  CHECK(first.suggestions.back() == "En halua kertoa");
  CHECK(first.state.need() == "tarvitsen vuokra-asunnon");

  ConversationStep second = Turn("Asun Turussa", first.state);
  REQUIRE(second.answer);
  CHECK(second.state.municipality_code() == "853");
  CHECK(second.state.awaiting().empty());
  CHECK(second.state.need() == "tarvitsen vuokra-asunnon");  // the answer is not part of the need
  CHECK(second.request.municipality_code == "853");
  CHECK(second.request.text == "tarvitsen vuokra-asunnon");

  // More of the need later: asked already, so never asked again, even without a municipality.
  rv1::ConversationState declined = first.state;
  ConversationStep third = Turn("en halua kertoa", declined);
  REQUIRE(third.answer);
  CHECK(third.state.municipality_code().empty());
  ConversationStep fourth = Turn("myös asumistuki kiinnostaa", third.state);
  CHECK(fourth.answer);
  CHECK(fourth.state.need() == "tarvitsen vuokra-asunnon\nmyös asumistuki kiinnostaa");
}

TEST_CASE("conversation: an age-bound need asks the age after the municipality") {
  ConversationStep first = Turn("nuorten työpaja");
  REQUIRE(first.state.awaiting() == "municipality");
  ConversationStep second = Turn("Helsingissä", first.state);
  REQUIRE_FALSE(second.answer);
  CHECK(second.state.awaiting() == "age");
  CHECK(second.state.municipality_code() == "091");
  ConversationStep third = Turn("olen 19-vuotias", second.state);
  REQUIRE(third.answer);
  CHECK(third.state.age() == 19);
  CHECK(third.request.age == 19);
  CHECK(third.state.asked_size() == 2);
}

TEST_CASE("conversation: an answer not understood is taken as more of the need") {
  ConversationStep first = Turn("tarvitsen vuokra-asunnon");
  REQUIRE(first.state.awaiting() == "municipality");
  ConversationStep second = Turn("ja työpaikan", first.state);
  CHECK(second.answer);
  CHECK(second.replies.front() == "En tunnistanut kuntaa, joten etsin ilman sitä.");
  CHECK(second.state.need() == "tarvitsen vuokra-asunnon\nja työpaikan");
  CHECK(second.state.awaiting().empty());
}

TEST_CASE("conversation: a crisis is answered at once, whatever else is missing") {
  ConversationStep step = Turn("haluan tappaa itseni");
  REQUIRE(step.answer);
  CHECK(step.state.asked_size() == 0);
  RankResult found = Demo().ranker->Rank(step.request);
  REQUIRE_FALSE(found.crisis.empty());
  ConversationEngine::ResultReplies(found.services.size(), found.crisis, &step);
  CHECK(absl::StrContains(step.replies.back(), "112"));
  CHECK(Turn("I want to kill myself", {}, "en").answer);
}

TEST_CASE("conversation: the bot speaks the request's language") {
  ConversationStep sv = Turn("jag behöver hjälp med skulder", {}, "sv");
  REQUIRE(sv.answer);
  CHECK(sv.request.language == Language::kSwedish);
  ConversationEngine::ResultReplies(3, "", &sv);
  CHECK(sv.replies == std::vector<std::string>{
                          "Jag hittade de här tjänsterna. Berätta mer om du vill precisera."});
  ConversationStep en = Turn("I need a rental flat", {}, "en");
  REQUIRE_FALSE(en.answer);
  CHECK(en.replies.back() == "Which municipality do you live in? The services depend on it.");
  CHECK(en.request.language == Language::kEnglish);
}

TEST_CASE("conversation: bad input is refused naming the field and the value") {
  struct Case {
    std::string message, language, field;
    rv1::ConversationState state;
  };
  rv1::ConversationState bad_code;
  bad_code.set_municipality_code("999");
  rv1::ConversationState bad_age;
  bad_age.set_age(130);
  rv1::ConversationState bad_asked;
  bad_asked.add_asked("shoe size");
  rv1::ConversationState bad_awaiting;
  bad_awaiting.set_awaiting("password");
  rv1::ConversationState long_need;
  long_need.set_need(std::string(1001, 'a'));
  const Case cases[] = {
      {"", "fi", "message: required", {}},
      {"   ", "fi", "message: required", {}},
      {std::string(501, 'a'), "fi", "message: at most 500 characters, got 501", {}},
      {"a\x01", "fi", "message: control characters", {}},
      {"\xff", "fi", "message: not valid UTF-8", {}},
      {"hei", "de", "language: expected fi, sv or en, got \"de\"", {}},
      {"hei", "fi", "state.municipality_code: unknown municipality code \"999\"", bad_code},
      {"hei", "fi", "state.age: must be 0..120, got 130", bad_age},
      {"hei", "fi", "state.asked[0]: expected municipality or age, got \"shoe size\"", bad_asked},
      {"hei", "fi", "state.awaiting: expected municipality, age or empty, got \"password\"",
       bad_awaiting},
      {"hei", "fi", "state.need: at most 1000 characters", long_need},
  };
  for (const Case& c : cases) {
    rv1::ConverseRequest request;
    request.set_message(c.message);
    request.set_language(c.language);
    *request.mutable_state() = c.state;
    auto step = Engine().Step(request);
    INFO(c.field);
    REQUIRE_FALSE(step.ok());
    CHECK(step.status().code() == absl::StatusCode::kInvalidArgument);
    CHECK(absl::StartsWith(step.status().message(), c.field));
  }
}

TEST_CASE("conversation: a need that would grow past 1000 characters starts again") {
  rv1::ConversationState state;
  state.set_need(std::string(990, 'a'));
  ConversationStep step = Turn("toimeentulotuki ja asumistuki", state);
  CHECK(step.state.need() == "toimeentulotuki ja asumistuki");
}

}  // namespace aurora::recommender
