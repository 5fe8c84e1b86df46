// Unit tests of src/common: text checks, UUIDs, secrets, the executor and the option-free pieces.

#include <sys/stat.h>

#include <atomic>
#include <catch2/catch.hpp>
#include <chrono>
#include <filesystem>
#include <future>
#include <set>
#include <thread>
#include <vector>

#include "common/executor.h"
#include "common/files.h"
#include "common/log.h"
#include "common/secret_hash.h"
#include "common/text.h"

namespace aurora {

TEST_CASE("Utf8Length counts code points and rejects invalid UTF-8", "[common][text]") {
  CHECK(Utf8Length("") == 0u);
  CHECK(Utf8Length("abc") == 3u);
  CHECK(Utf8Length("äiti") == 4u);
  CHECK(Utf8Length("\xF0\x9F\x98\x80") == 1u);  // U+1F600
  CHECK_FALSE(Utf8Length("\xC3\x28"));          // bad continuation
  CHECK_FALSE(Utf8Length("\xC0\xAF"));          // overlong '/'
  CHECK_FALSE(Utf8Length("\xED\xA0\x80"));      // surrogate
  CHECK_FALSE(Utf8Length("\xF4\x90\x80\x80"));  // above U+10FFFF
  CHECK_FALSE(Utf8Length("\xE2\x82"));          // truncated
}

TEST_CASE("control characters", "[common][text]") {
  CHECK(HasControlCharacters("a\x01", true));
  CHECK(HasControlCharacters("a\nb", false));
  CHECK_FALSE(HasControlCharacters("a\nb\tc", true));
  CHECK(HasControlCharacters("a\x7F", true));
}

TEST_CASE("UUIDs: canonical form, random v4, name-based v5", "[common][uuid]") {
  CHECK(IsCanonicalUuid("003b61aa-139f-4e26-a83d-2b36b24d0aea"));
  CHECK_FALSE(IsCanonicalUuid("003B61AA-139F-4E26-A83D-2B36B24D0AEA"));
  CHECK_FALSE(IsCanonicalUuid("003b61aa139f4e26a83d2b36b24d0aea"));
  CHECK_FALSE(IsCanonicalUuid("003b61aa-139f-4e26-a83d-2b36b24d0ae"));
  std::set<std::string> seen;
  for (int i = 0; i < 100; ++i) {
    const std::string id = NewRandomUuid();
    CHECK(IsCanonicalUuid(id));
    CHECK(id[14] == '4');
    seen.insert(id);
  }
  CHECK(seen.size() == 100);
  // RFC 4122 appendix B example, corrected by the errata: DNS namespace, "www.example.com".
  CHECK(NameBasedUuid("6ba7b810-9dad-11d1-80b4-00c04fd430c8", "www.example.com") ==
        "2ed6657d-e927-568b-95e1-2665a8aea6a2");
}

TEST_CASE("QuoteForMessage shows values safely", "[common][text]") {
  CHECK(QuoteForMessage("abc") == "\"abc\"");
  CHECK(QuoteForMessage("a\"b") == "\"a\\\"b\"");
  CHECK(QuoteForMessage("\xC3\x28") == "\"\\xc3(\"");
  CHECK(QuoteForMessage(std::string(100, 'x'), 10) == "\"xxxxxxxxxx...\"");
  CHECK(QuoteForMessage("äää", 3) == "\"ää...\"");
}

TEST_CASE("secrets: random, hashed with a salt, verified in constant time", "[common][secret]") {
  const std::string secret = NewSecret();
  CHECK(secret.size() == 43);
  CHECK(NewSecret() != secret);
  const std::string hash = HashSecret(secret, 1000);
  CHECK(hash.rfind("pbkdf2-sha256$1000$", 0) == 0);
  CHECK(hash.find(secret) == std::string::npos);
  CHECK(HashSecret(secret, 1000) != hash);  // salted
  CHECK(VerifySecret(secret, hash));
  CHECK_FALSE(VerifySecret(secret + "x", hash));
  CHECK_FALSE(VerifySecret(secret, "pbkdf2-sha256$1000$bad"));
  CHECK_FALSE(VerifySecret(secret, "md5$1$a$b"));
  const std::string bytes("\x01\x02\xff\xfe\x00z", 6);
  auto decoded = Base64UrlDecode(Base64UrlEncode(bytes));
  REQUIRE(decoded.ok());
  CHECK(*decoded == bytes);
  CHECK_FALSE(Base64UrlDecode("a+b/").ok());
}

TEST_CASE("executor runs everything it accepted and refuses work beyond its queue",
          "[common][executor][concurrency]") {
  std::atomic<int> ran{0};
  {
    Executor executor("test", 2, 1000);
    for (int i = 0; i < 500; ++i) REQUIRE(executor.Submit([&] { ++ran; }));
    executor.Shutdown();
    CHECK_FALSE(executor.Submit([&] { ++ran; }));
  }
  CHECK(ran.load() == 500);

  // A full queue refuses: block the only worker, fill the queue.
  std::mutex gate;
  gate.lock();
  Executor small("small", 1, 2);
  REQUIRE(small.Submit([&] { std::lock_guard l(gate); }));
  // The worker may or may not have taken the first task yet: at most 3 accepted in total.
  int accepted = 1;
  for (int i = 0; i < 5; ++i) accepted += small.Submit([] {}) ? 1 : 0;
  CHECK(accepted <= 3);
  CHECK(accepted >= 2);
  gate.unlock();
}

TEST_CASE("executor runs short work on the caller's thread while a slot is free, within one bound",
          "[common][executor][concurrency]") {
  Executor executor("inline", 1, 1, 1);
  const std::thread::id caller = std::this_thread::get_id();
  std::thread::id ran_on;
  REQUIRE(executor.RunOrSubmit([&] { ran_on = std::this_thread::get_id(); }));
  CHECK(ran_on == caller);  // returned after running it here

  // The only slot taken by a task running on another caller's thread: the next task queues
  // (and does not run yet), the one after it is refused (queue of 1).
  std::promise<void> release;
  std::shared_future<void> released = release.get_future().share();
  std::promise<void> started;
  std::atomic<bool> holder_accepted{false};  // (Catch's assertions are for the main thread)
  std::thread holder([&] {
    holder_accepted = executor.RunOrSubmit([&] {
      started.set_value();
      released.wait();
    });
  });
  started.get_future().wait();
  std::atomic<bool> queued_ran{false};
  std::promise<std::thread::id> queued_on;
  REQUIRE(executor.RunOrSubmit([&] {
    queued_ran = true;
    queued_on.set_value(std::this_thread::get_id());
  }));
  CHECK_FALSE(queued_ran.load());  // RunOrSubmit returned without running it
  CHECK(executor.queued() == 1);
  CHECK_FALSE(executor.RunOrSubmit([] {}));  // slot taken, queue full
  CHECK_FALSE(executor.Submit([] {}));
  std::this_thread::sleep_for(std::chrono::milliseconds(50));
  CHECK_FALSE(queued_ran.load());  // the pool's thread waits for the slot too
  release.set_value();
  holder.join();
  CHECK(holder_accepted.load());
  // Once the slot is free, the queued task runs on the pool's thread.
  std::future<std::thread::id> on = queued_on.get_future();
  REQUIRE(on.wait_for(std::chrono::seconds(10)) == std::future_status::ready);
  const std::thread::id pool_thread = on.get();
  CHECK(pool_thread != caller);
  CHECK(queued_ran.load());

  // At most `max_inline` on callers' threads: with one of two slots taken by a task on a
  // caller's thread, the next task runs on the pool's thread, at the same time.
  {
    Executor half("half", 2, 10, 1);
    std::promise<void> release_first, first_started;
    std::shared_future<void> first_released = release_first.get_future().share();
    std::thread first([&] {
      half.RunOrSubmit([&] {
        first_started.set_value();
        first_released.wait();
      });
    });
    first_started.get_future().wait();
    std::promise<std::thread::id> second_on;
    const std::thread::id here = std::this_thread::get_id();
    REQUIRE(half.RunOrSubmit([&] { second_on.set_value(std::this_thread::get_id()); }));
    std::future<std::thread::id> on_second = second_on.get_future();
    // It runs while the first still holds its slot, and not on this thread.
    REQUIRE(on_second.wait_for(std::chrono::seconds(10)) == std::future_status::ready);
    CHECK(on_second.get() != here);
    release_first.set_value();
    first.join();
  }
  // With max_inline 0, RunOrSubmit is Submit.
  {
    Executor never("never", 1, 10, 0);
    std::promise<std::thread::id> on;
    REQUIRE(never.RunOrSubmit([&] { on.set_value(std::this_thread::get_id()); }));
    std::future<std::thread::id> ran = on.get_future();
    REQUIRE(ran.wait_for(std::chrono::seconds(10)) == std::future_status::ready);
    CHECK(ran.get() != std::this_thread::get_id());
  }

  // Many callers at once never run more tasks than there are slots.
  Executor two("two", 2, 1000, 1);
  std::atomic<int> running{0}, most{0}, done{0}, refused{0};
  auto task = [&] {
    const int now = ++running;
    int seen = most.load();
    while (now > seen && !most.compare_exchange_weak(seen, now)) {
    }
    std::this_thread::sleep_for(std::chrono::microseconds(200));
    --running;
    ++done;
  };
  std::vector<std::thread> callers;
  for (int t = 0; t < 6; ++t) {
    callers.emplace_back([&] {
      for (int i = 0; i < 50; ++i) refused += two.RunOrSubmit(task) ? 0 : 1;
    });
  }
  for (auto& t : callers) t.join();
  two.Shutdown();
  CHECK(refused.load() == 0);
  CHECK(done.load() == 300);
  CHECK(most.load() <= 2);
  CHECK(most.load() >= 1);
  CHECK_FALSE(two.RunOrSubmit(task));  // after Shutdown
}

TEST_CASE("executor bounds its queue by the wait a task can expect", "[common][executor][concurrency]") {
  using std::chrono::milliseconds;
  // One thread; tasks of about 20 ms; a queued task may expect to wait at most 50 ms: with the
  // run time known, the queue takes two tasks (40 ms of waiting, 60 ms for a third; fewer when a
  // busy machine made the task slower), though its length allows 100.
  Executor executor("waits", 1, 100, 0, milliseconds(50));
  CHECK(executor.mean_run_time().count() == 0);
  std::promise<void> first_done;
  REQUIRE(executor.Submit([&] {
    std::this_thread::sleep_for(milliseconds(20));
    first_done.set_value();
  }));
  first_done.get_future().wait();
  std::this_thread::sleep_for(milliseconds(5));  // the run time is recorded after the task
  CHECK(executor.mean_run_time() >= milliseconds(19));
  CHECK(executor.mean_run_time() < milliseconds(1000));

  std::mutex gate;
  gate.lock();
  std::promise<void> holding;
  REQUIRE(executor.Submit([&] {
    holding.set_value();
    std::lock_guard l(gate);
  }));
  holding.get_future().wait();  // the only thread is busy: what follows is queued
  std::atomic<int> ran{0};
  int accepted = 0;
  for (int i = 0; i < 10; ++i) accepted += executor.Submit([&] { ++ran; }) ? 1 : 0;
  const int64_t mean_us = executor.mean_run_time().count();
  CHECK(accepted == std::min<int64_t>(10, 50000 / mean_us));
  CHECK(accepted >= 1);
  CHECK(executor.queued() == static_cast<size_t>(accepted));
  gate.unlock();
  executor.Shutdown();
  CHECK(ran.load() == accepted);  // everything accepted ran

  // Without a bound in time only the length counts.
  Executor unbounded("length", 1, 5);
  std::mutex gate2;
  gate2.lock();
  std::promise<void> holding2;
  REQUIRE(unbounded.Submit([&] {
    holding2.set_value();
    std::lock_guard l(gate2);
  }));
  holding2.get_future().wait();
  int accepted2 = 0;
  for (int i = 0; i < 10; ++i) accepted2 += unbounded.Submit([] {}) ? 1 : 0;
  CHECK(accepted2 == 5);
  gate2.unlock();
}

TEST_CASE("JSON quoting for log lines", "[common][log]") {
  CHECK(JsonQuote("a\"b\\c\n\x01") == "\"a\\\"b\\\\c\\n\\u0001\"");
  LogLevel level;
  CHECK(ParseLogLevel("warning", &level));
  CHECK(level == LogLevel::kWarning);
  CHECK_FALSE(ParseLogLevel("loud", &level));
}

TEST_CASE("secret files are written whole, private, and read back", "[common][files]") {
  namespace fs = std::filesystem;
  const fs::path dir = fs::temp_directory_path() / ("aurora-files-" + NewRandomUuid());
  fs::create_directories(dir);
  const std::string path = (dir / "secret.json").string();
  CHECK(ReadFile(path).status().code() == absl::StatusCode::kNotFound);
  CHECK_THAT(std::string(ReadFile(path).status().message()), Catch::Contains("secret.json"));
  REQUIRE(WriteFileAtomically(path, "first", 0600).ok());
  REQUIRE(WriteFileAtomically(path, "second, longer", 0600).ok());
  CHECK(*ReadFile(path) == "second, longer");
  struct stat info;
  REQUIRE(::stat(path.c_str(), &info) == 0);
  CHECK((info.st_mode & 0777) == 0600);
  // No temporary file is left behind, and a write into a missing folder says where.
  CHECK(std::distance(fs::directory_iterator(dir), fs::directory_iterator()) == 1);
  const absl::Status missing = WriteFileAtomically((dir / "no" / "x").string(), "x", 0600);
  CHECK(missing.code() == absl::StatusCode::kUnavailable);
  CHECK_THAT(std::string(missing.message()), Catch::Contains("no/x"));
  fs::remove_all(dir);
}

}  // namespace aurora
