// Checkpoint records: what goes in comes out, and a damaged file is an error naming it.
#include <catch2/catch.hpp>

#include "simfuse/core/Checkpoint.hpp"

using namespace simfuse;

TEST_CASE("Checkpoint records round-trip through their byte string", "[checkpoint]") {
  CheckpointData d;
  d.put("step", 42L);
  d.put("t", 0.125);
  d.put("name", std::string("heat2d"));
  d.put("h", std::vector<double>{1e-3, 2e-3, 0.0});
  CheckpointData solver = d.scoped("solver/");
  solver.put("have_old", true);
  const CheckpointData back = CheckpointData::parse(d.serialize(), "test");
  CHECK(back.size() == 5);
  CHECK(back.get<long>("step") == 42);
  CHECK(back.get<double>("t") == 0.125);
  CHECK(back.get<std::string>("name") == "heat2d");
  CHECK(back.get<std::vector<double>>("h") == std::vector<double>{1e-3, 2e-3, 0.0});
  CHECK(back.scoped("solver/").get<bool>("have_old"));
  CHECK(back.has("solver/have_old"));
  CHECK_THROWS_WITH(back.get<double>("missing"), Catch::Contains("no record 'missing'"));
  CHECK_THROWS_WITH(back.get<int>("t"), Catch::Contains("has 8 bytes, 4 were expected"));
}

TEST_CASE("A damaged checkpoint file is an error naming it, never a crash", "[checkpoint]") {
  CheckpointData d;
  d.put("v", std::vector<double>(100, 1.0));
  const std::string bytes = d.serialize();
  // Every truncation, and a wrong signature, is refused with the file's name.
  for (size_t n = 0; n < bytes.size(); n += 7)
    CHECK_THROWS_WITH(CheckpointData::parse(bytes.substr(0, n), "ck.bin"), Catch::Contains("ck.bin"));
  std::string wrong = bytes;
  wrong[0] = 'X';
  CHECK_THROWS_WITH(CheckpointData::parse(wrong, "ck.bin"), Catch::Contains("signature"));
  CHECK_THROWS_WITH(CheckpointData::parse(bytes + "x", "ck.bin"), Catch::Contains("follow the last record"));
  // A huge length field does not allocate.
  std::string huge = bytes;
  huge[16] = '\xff';
  huge[23] = '\x7f';
  CHECK_THROWS_AS(CheckpointData::parse(huge, "ck.bin"), CheckpointError);
  CHECK(fnv1a64_hex("") == "cbf29ce484222325");  // the FNV-1a offset basis
}
