#include "simfuse/solvers/kinetics/Kinetics.hpp"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <cmath>

namespace simfuse {

namespace {

// A kinetics parameter that may be an expression of t: a number, or a function block
// ("2.5 - 0.3*(t > 50)"), evaluated at the time set_time() was given.
class TimeParam {
 public:
  TimeParam(const Params& p, const std::string& key) : name_(key) {
    fn_ = make_function(p, key, {});
    varies_ = !fn_->time_independent();
    value_ = (*fn_)(0, 0, 0, 0.0);
    if (!(value_ > 0))
      p.fail(key, fmt::format("is {:g} at t = 0; it must be positive", value_), "give a positive value");
  }
  double value() const { return value_; }
  void at(double t) {
    if (!varies_) return;
    value_ = (*fn_)(0, 0, 0, t);
    if (!(value_ > 0))
      throw UserError(fmt::format("kinetics parameter {} = {} is {:g} at t = {:g}; it must be positive", name_,
                                  fn_->describe(), value_, t),
                      "change its expression so that it stays positive");
  }
  std::string describe() const { return varies_ ? "\"" + fn_->describe() + "\"" : fmt::format("{:g}", value_); }

 private:
  std::string name_;
  std::unique_ptr<Function> fn_;
  bool varies_ = false;
  double value_ = 0;
};

// Two-variable Oregonator (Tyson & Fife 1980), the standard model of
// Belousov-Zhabotinsky spiral waves; stiff for small eps:
//   du/dt = (u - u^2 - f v (u - q)/(u + q)) / eps,   dv/dt = u - v
class Oregonator final : public Kinetics {
 public:
  Oregonator(double eps, TimeParam f, double q) : eps_(eps), fp_(std::move(f)), f_(fp_.value()), q_(q) {}
  void set_time(double t) override {
    fp_.at(t);
    f_ = fp_.value();
  }
  const std::vector<std::string>& species() const override { return names_; }
  void rhs(const double* y, double* out) const override {
    const double u = y[0], v = y[1];
    out[0] = (u - u * u - f_ * v * (u - q_) / (u + q_)) / eps_;
    out[1] = u - v;
  }
  void jacobian(const double* y, double* J) const override {
    const double u = y[0], v = y[1], s = u + q_;
    J[0] = (1 - 2 * u - f_ * v * 2 * q_ / (s * s)) / eps_;
    J[1] = -f_ * (u - q_) / s / eps_;
    J[2] = 1;
    J[3] = -1;
  }
  std::string describe() const override {
    return fmt::format("oregonator(eps={:g}, f={}, q={:g})", eps_, fp_.describe(), q_);
  }

 private:
  double eps_;
  TimeParam fp_;
  double f_, q_;
  std::vector<std::string> names_{"u", "v"};
};

// Gray-Scott: du/dt = -u v^2 + F (1 - u),  dv/dt = u v^2 - (F + k) v.
class GrayScott final : public Kinetics {
 public:
  GrayScott(TimeParam F, TimeParam k) : Fp_(std::move(F)), kp_(std::move(k)), F_(Fp_.value()), k_(kp_.value()) {}
  void set_time(double t) override {
    Fp_.at(t);
    kp_.at(t);
    F_ = Fp_.value();
    k_ = kp_.value();
  }
  const std::vector<std::string>& species() const override { return names_; }
  void rhs(const double* y, double* out) const override {
    const double u = y[0], v = y[1], uvv = u * v * v;
    out[0] = -uvv + F_ * (1 - u);
    out[1] = uvv - (F_ + k_) * v;
  }
  void jacobian(const double* y, double* J) const override {
    const double u = y[0], v = y[1];
    J[0] = -v * v - F_;
    J[1] = -2 * u * v;
    J[2] = v * v;
    J[3] = 2 * u * v - (F_ + k_);
  }
  std::string describe() const override {
    return fmt::format("gray_scott(F={}, k={})", Fp_.describe(), kp_.describe());
  }

 private:
  TimeParam Fp_, kp_;
  double F_, k_;
  std::vector<std::string> names_{"u", "v"};
};

// Linear kinetics dy/dt = A y (n = 1..4), for verification: with diffusion, Fourier
// modes have an exact solution.
class Linear final : public Kinetics {
 public:
  explicit Linear(std::vector<double> a) : a_(std::move(a)) {
    const int n = static_cast<int>(std::lround(std::sqrt(static_cast<double>(a_.size()))));
    for (int i = 0; i < n; ++i) names_.push_back("y" + std::to_string(i));
  }
  const std::vector<std::string>& species() const override { return names_; }
  void rhs(const double* y, double* out) const override {
    const int n = size();
    for (int i = 0; i < n; ++i) {
      out[i] = 0;
      for (int j = 0; j < n; ++j) out[i] += a_[i * n + j] * y[j];
    }
  }
  void jacobian(const double*, double* J) const override { std::copy(a_.begin(), a_.end(), J); }
  std::string describe() const override { return fmt::format("linear(A=[{}])", fmt::join(a_, ", ")); }
  bool nonnegative() const override { return false; }

 private:
  std::vector<double> a_;
  std::vector<std::string> names_;
};

}  // namespace

KineticsRegistry& kinetics_registry() {
  static KineticsRegistry* r = [] {
    auto* reg = new KineticsRegistry("kinetics");
    reg->add(
        "oregonator", "two-variable Oregonator of the Belousov-Zhabotinsky reaction (stiff for small eps)",
        [](Schema& s) {
          s.add_real("eps", "time-scale ratio of the fast variable u").def(0.02).positive();
          function_registry();
          s.add_block("f", "function", "stoichiometric factor, a number or an expression of t (drift)").def("1.4");
          s.add_real("q", "excitability parameter").def(0.002).positive();
        },
        [](const Params& p) {
          return std::make_unique<Oregonator>(p.get<double>("eps"), TimeParam(p, "f"), p.get<double>("q"));
        });
    reg->add(
        "gray_scott", "Gray-Scott autocatalysis u + 2v -> 3v",
        [](Schema& s) {
          function_registry();
          s.add_block("F", "function", "feed rate, a number or an expression of t (drift)").def("0.04");
          s.add_block("k", "function", "kill rate, a number or an expression of t (drift)").def("0.06");
        },
        [](const Params& p) { return std::make_unique<GrayScott>(TimeParam(p, "F"), TimeParam(p, "k")); });
    reg->add(
        "linear", "linear kinetics dy/dt = A y (species y0, y1, ...), for verification",
        [](Schema& s) {
          s.add("matrix", ParamType::RealList, "A, row by row (1, 4, 9 or 16 entries)").required().size(1, 16);
        },
        [](const Params& p) {
          auto a = p.get<std::vector<double>>("matrix");
          const auto n = std::lround(std::sqrt(static_cast<double>(a.size())));
          if (n * n != static_cast<long>(a.size()))
            p.fail("matrix", fmt::format("{} entries do not form a square matrix", a.size()),
                   "give n*n entries row by row, e.g. [-1, 0.5, 0, -2]");
          return std::make_unique<Linear>(std::move(a));
        });
    return reg;
  }();
  return *r;
}

}  // namespace simfuse
