// StaticFiles: what a web root serves, and what it never does.
#include "gateway/static_files.h"

#include <catch2/catch.hpp>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>

namespace fs = std::filesystem;
using aurora::gateway::StaticFiles;

namespace {

void Write(const fs::path& path, const std::string& content) {
  fs::create_directories(path.parent_path());
  std::ofstream(path, std::ios::binary) << content;
}

struct WebRoot {
  WebRoot() {
    char pattern[] = "/tmp/aurora-web-XXXXXX";
    root = mkdtemp(pattern);
    Write(root / "index.html", "<!doctype html><title>Miten menee?</title>");
    Write(root / "app.js", "export const x = 1;\n");
    Write(root / "img" / "chart.SVG", "<svg/>");
    Write(root / "sub" / "page.css", "body{}");
    Write(root / ".env", "SECRET=1");
    Write(root / ".git" / "config", "[core]");
  }
  ~WebRoot() { fs::remove_all(root); }
  fs::path root;
};

}  // namespace

TEST_CASE("static files: paths, index.html, types, ETags and cache policy") {
  WebRoot web;
  auto files = StaticFiles::Load(web.root.string());
  REQUIRE(files.ok());
  CHECK((*files)->size() == 4);
  const auto* index = (*files)->Find("/");
  REQUIRE(index != nullptr);
  CHECK(index == (*files)->Find("/index.html"));
  CHECK(index->content_type == "text/html; charset=utf-8");
  CHECK(index->cache_control == "no-cache");
  CHECK(index->etag.size() == 34);
  const auto* script = (*files)->Find("/app.js");
  REQUIRE(script != nullptr);
  CHECK(script->body == "export const x = 1;\n");
  CHECK(script->content_type == "text/javascript; charset=utf-8");
  CHECK(script->cache_control == "public, max-age=3600");
  CHECK(script->etag != index->etag);
  REQUIRE((*files)->Find("/img/chart.SVG") != nullptr);
  CHECK((*files)->Find("/img/chart.SVG")->content_type == "image/svg+xml");
  CHECK((*files)->Find("/sub/page.css") != nullptr);
}

TEST_CASE("static files: nothing outside the root, no dot files, no listings") {
  WebRoot web;
  Write(web.root.parent_path() / (web.root.filename().string() + "-outside.txt"), "outside");
  auto files = StaticFiles::Load(web.root.string());
  REQUIRE(files.ok());
  for (const char* path : {"/.env", "/.git/config", "/../etc/passwd", "/sub/", "/sub",
                           "/img/../app.js", "//app.js", "/APP.JS", "", "/nope.html"}) {
    INFO(path);
    CHECK((*files)->Find(path) == nullptr);
  }
  fs::remove(web.root.parent_path() / (web.root.filename().string() + "-outside.txt"));
}

TEST_CASE("static files: a web root that is not a folder, or too large, is refused") {
  auto missing = StaticFiles::Load("/nonexistent/aurora-web");
  REQUIRE_FALSE(missing.ok());
  CHECK(std::string(missing.status().message()).find("--web-root: \"/nonexistent/aurora-web\"") !=
        std::string::npos);
  WebRoot web;
  auto large = StaticFiles::Load(web.root.string(), 10);
  REQUIRE_FALSE(large.ok());
  CHECK(std::string(large.status().message()).find("holds more than") != std::string::npos);
}
