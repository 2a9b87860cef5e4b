#include "simfuse/core/base/Function.hpp"

#include <fmt/format.h>
#include <muParser.h>

#include <cmath>

namespace simfuse {

namespace {

class ConstantFunction final : public Function {
 public:
  explicit ConstantFunction(double v) : v_(v) {}
  double operator()(double, double, double, double) const override { return v_; }
  bool time_independent() const override { return true; }
  bool is_constant() const override { return true; }
  std::string describe() const override { return fmt::format("{:g}", v_); }

 private:
  double v_;
};

class ExpressionFunction final : public Function {
 public:
  ExpressionFunction(const std::string& expr, const Constants& constants) : expr_(expr) {
    parser_.DefineConst("pi", M_PI);
    parser_.DefineConst("e", M_E);
    for (const auto& [name, value] : constants) parser_.DefineConst(name, value);
    parser_.DefineVar("x", &x_);
    parser_.DefineVar("y", &y_);
    parser_.DefineVar("z", &z_);
    parser_.DefineVar("t", &t_);
    // muparser's assignment (x = 3) and comma (1, 2) operators parse, but an expression
    // here is one value of x, y, z, t: refuse both (a comparison is ==, <=, >=, !=).
    for (size_t i = 0; i < expr.size(); ++i)
      if (expr[i] == '=' && (i == 0 || std::string("<>=!").find(expr[i - 1]) == std::string::npos) &&
          (i + 1 == expr.size() || expr[i + 1] != '='))
        throw mu::ParserError("'=' assigns to a variable, and an expression here is one value (to compare, write ==)",
                              static_cast<int>(i));
    parser_.SetExpr(expr);
    parser_.Eval();  // parse now, so errors surface at set-up
    if (parser_.GetNumResults() != 1) {
      int depth = 0;
      size_t at = 0;
      for (size_t i = 0; i < expr.size() && !at; ++i) {
        depth += expr[i] == '(' ? 1 : expr[i] == ')' ? -1 : 0;
        if (expr[i] == ',' && depth == 0) at = i;
      }
      throw mu::ParserError(fmt::format("it gives {} values separated by ',', and an expression here is one value",
                                        parser_.GetNumResults())
                                .c_str(),
                            static_cast<int>(at));
    }
    const auto used = parser_.GetUsedVar();
    time_independent_ = used.count("t") == 0;
  }
  double operator()(double x, double y, double z, double t) const override {
    x_ = x;
    y_ = y;
    z_ = z;
    t_ = t;
    return parser_.Eval();
  }
  bool time_independent() const override { return time_independent_; }
  std::string describe() const override { return expr_; }

 private:
  std::string expr_;
  mutable mu::Parser parser_;
  mutable double x_ = 0, y_ = 0, z_ = 0, t_ = 0;
  bool time_independent_ = false;
};

class GaussianFunction final : public Function {
 public:
  // Only the coordinates the centre names count: [x0, y0] is a 2D Gaussian (a 3D default
  // centre made every 2D Gaussian smaller by its distance to z = 0.5).
  GaussianFunction(double a, std::vector<double> c, double w, double off) : a_(a), c_(std::move(c)), w_(w), off_(off) {}
  double operator()(double x, double y, double z, double) const override {
    const double p[3] = {x, y, z};
    double r2 = 0;
    for (size_t d = 0; d < c_.size(); ++d) r2 += (p[d] - c_[d]) * (p[d] - c_[d]);
    return off_ + a_ * std::exp(-r2 / (2 * w_ * w_));
  }
  bool time_independent() const override { return true; }
  std::string describe() const override {
    return fmt::format("{:g} + {:g}*exp(-|r-[{:g}]|^2/(2*{:g}^2))", off_, a_, fmt::join(c_, ","), w_);
  }

 private:
  double a_;
  std::vector<double> c_;
  double w_, off_;
};

void register_builtin_functions(FunctionRegistry& r) {
  r.add(
      "constant", "the same value everywhere", [](Schema& s) { s.add_real("value", "the value").required(); },
      [](const Params& p, const Constants&) { return std::make_unique<ConstantFunction>(p.get<double>("value")); });
  r.add(
      "expression", "an expression of x, y, z, t (muparser syntax: sin, cos, exp, sqrt, ^, ...)",
      [](Schema& s) { s.add_string("value", "the expression, e.g. \"sin(pi*x)*exp(-t)\"").required(); },
      [](const Params& p, const Constants& c) -> std::unique_ptr<Function> {
        const std::string expr = p.get<std::string>("value");
        try {
          return std::make_unique<ExpressionFunction>(expr, c);
        } catch (const mu::Parser::exception_type& e) {
          std::string names = "x, y, z, t, pi, e";
          for (const auto& [k, v] : c) names += ", " + k;
          p.fail("value",
                 fmt::format("cannot parse expression \"{}\": {} (at character {})", expr, e.GetMsg(), e.GetPos() + 1),
                 "expressions use muparser syntax (+ - * / ^, sin, cos, exp, log, sqrt, abs, min, max) and the "
                 "names " +
                     names);
        }
      });
  r.add(
      "gaussian", "offset + amplitude * exp(-|r - center|^2 / (2 width^2))",
      [](Schema& s) {
        s.add_real("amplitude", "peak height above the offset").def(1.0);
        s.add("center", ParamType::RealList,
              "centre point, one coordinate per direction of the grid (the "
              "coordinates it names are the ones that count)")
            .required()
            .size(1, 3);
        s.add_real("width", "standard deviation").def(0.1).positive();
        s.add_real("offset", "value far from the centre").def(0.0);
      },
      [](const Params& p, const Constants&) {
        return std::make_unique<GaussianFunction>(p.get<double>("amplitude"), p.get<std::vector<double>>("center"),
                                                  p.get<double>("width"), p.get<double>("offset"));
      });
  Catalog::instance().set_shorthand(
      "function",
      [](const YAML::Node& n) -> YAML::Node {
        if (!n.IsScalar()) return YAML::Node();
        YAML::Node out(YAML::NodeType::Map);
        double v;
        out["type"] = YAML::convert<double>::decode(n, v) ? "constant" : "expression";
        out["value"] = n;
        return out;
      },
      "a number means {type: constant, value: N}; a string means {type: expression, value: S}");
}

}  // namespace

FunctionRegistry& function_registry() {
  static FunctionRegistry* r = [] {
    auto* reg = new FunctionRegistry("function");
    register_builtin_functions(*reg);
    return reg;
  }();
  return *r;
}

std::unique_ptr<Function> make_function(const Params& parent, const std::string& key, const Constants& constants) {
  auto f = function_registry().create(parent.type_of(key), parent.sub(key), constants);
  f->set_origin(parent.diag(key, ""));
  return f;
}

std::unique_ptr<Function> constant_function(double value) {
  return std::make_unique<ConstantFunction>(value);
}

std::unique_ptr<Function> expression_function(const std::string& expr, const Constants& constants) {
  try {
    return std::make_unique<ExpressionFunction>(expr, constants);
  } catch (const mu::Parser::exception_type& e) {
    throw UserError(
        fmt::format("cannot parse expression \"{}\": {} (at character {})", expr, e.GetMsg(), e.GetPos() + 1));
  }
}

}  // namespace simfuse
