// The point-state record (core/base/PointStates.hpp): blocks per point, packed rows and back.
#include <catch2/catch.hpp>

#include "simfuse/core/base/Error.hpp"
#include "simfuse/core/base/PointStates.hpp"

using namespace simfuse;

TEST_CASE("Point-state records pack to rows and unpack to the same records", "[core]") {
  PointLayout l;
  l.components = 3;
  l.conditions = {"pressure"};
  l.memory = {"h", "order"};
  CHECK(l.row_size() == 6);
  PointStates s(l, 2);
  for (size_t q = 0; q < 2; ++q) {
    for (int c = 0; c < 3; ++c) s.state(q)[c] = 10.0 * static_cast<double>(q) + c;
    s.conditions(q)[0] = 100.0 + static_cast<double>(q);
    s.memory(q)[0] = 1e-6 * static_cast<double>(q + 1);
    s.memory(q)[1] = 2.0;
  }
  const std::vector<double> rows = s.pack();
  REQUIRE(rows.size() == 12);
  // Row 1 is point 1's state, condition, memory in turn.
  CHECK(rows[6] == 10.0);
  CHECK(rows[9] == 101.0);
  CHECK(rows[10] == 2e-6);
  PointStates t(l);
  t.unpack(rows.data(), 2);
  REQUIRE(t.size() == 2);
  CHECK(t.pack() == rows);
  // A slice, and append.
  const std::vector<double> second = s.pack(1, 2);
  CHECK(std::vector<double>(rows.begin() + 6, rows.end()) == second);
  PointStates u(l);
  u.append(s, 1);
  CHECK(u.pack() == second);
  // Records of another layout are refused (a bug, not a user's error).
  PointLayout other = l;
  other.memory.clear();
  PointStates v(other);
  CHECK_THROWS_AS(v.append(s, 0), InternalError);
  CHECK_THROWS_AS(s.pack(1, 3), InternalError);
}
