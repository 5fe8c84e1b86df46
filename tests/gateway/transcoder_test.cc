#include <catch2/catch.hpp>
TEST_CASE("wip") { CHECK(true); }
