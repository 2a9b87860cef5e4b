#include "simfuse/solvers/common/Boundary.hpp"

#include <fmt/format.h>

namespace simfuse {

namespace {
const char* kFaceNames[6] = {"x_lo", "x_hi", "y_lo", "y_hi", "z_lo", "z_hi"};
}

const char* BoundaryConditions::face_name(int f) {
  return kFaceNames[f];
}

BcRegistry& bc_registry() {
  static BcRegistry* r = [] {
    function_registry();  // the "function" family must exist for value/flux
    auto* reg = new BcRegistry("bc");
    reg->add(
        "dirichlet", "prescribed value u = value on the face",
        [](Schema& s) { s.add_block("value", "function", "boundary value g(x, y, z, t)").def("0.0"); },
        [](const Params& p, const Constants& c) {
          return std::make_unique<FaceCondition>(FaceCondition{BcKind::dirichlet, make_function(p, "value", c)});
        });
    reg->add(
        "neumann", "prescribed flux kappa * du/dn = flux (n the outward normal; positive heats)",
        [](Schema& s) { s.add_block("flux", "function", "inward flux q(x, y, z, t)").def("0.0"); },
        [](const Params& p, const Constants& c) {
          return std::make_unique<FaceCondition>(FaceCondition{BcKind::neumann, make_function(p, "flux", c)});
        });
    Catalog::instance().set_shorthand("bc", Catalog::type_name_shorthand,
                                      "a name means {type: name} with default values (0)");
    return reg;
  }();
  return *r;
}

void BoundaryConditions::declare(Schema& s, const std::string& default_condition) {
  bc_registry();
  s.add_block("default", "bc", "condition on every wall face not listed").def(default_condition);
  for (int f = 0; f < 6; ++f)
    s.add_block(kFaceNames[f], "bc",
                fmt::format("condition on the {} {} face", f % 2 ? "upper" : "lower", std::string(1, "xyz"[f / 2])));
}

BoundaryConditions BoundaryConditions::from(const Params& p, const Grid& grid, const Constants& c) {
  BoundaryConditions bc;
  auto build = [&](const std::string& key) { return *bc_registry().create(p.type_of(key), p.sub(key), c); };
  const FaceCondition def = build("default");
  for (int f = 0; f < 6; ++f) {
    const int d = f / 2;
    const bool exists = d < grid.dim() && !grid.periodic(d);
    if (p.is_set(kFaceNames[f]) && !exists)
      p.fail(kFaceNames[f],
             d >= grid.dim() ? fmt::format("the grid is {}D and has no {} face", grid.dim(), kFaceNames[f])
                             : fmt::format("direction {} is periodic, so face {} has no boundary condition", "xyz"[d],
                                           kFaceNames[f]),
             "remove this key, or make the direction walled (grid.periodic)");
    if (!exists) {
      bc.face[f].kind = BcKind::periodic;
      continue;
    }
    bc.face[f] = p.is_set(kFaceNames[f]) ? build(kFaceNames[f]) : def;
  }
  return bc;
}

BoundaryConditions BoundaryConditions::all(const Grid& grid, BcKind kind, std::shared_ptr<Function> value) {
  BoundaryConditions bc;
  for (int f = 0; f < 6; ++f) {
    const int d = f / 2;
    if (d < grid.dim() && !grid.periodic(d))
      bc.face[f] = FaceCondition{kind, value};
    else
      bc.face[f].kind = BcKind::periodic;
  }
  return bc;
}

bool BoundaryConditions::any_dirichlet() const {
  for (const auto& f : face)
    if (f.kind == BcKind::dirichlet) return true;
  return false;
}

}  // namespace simfuse
