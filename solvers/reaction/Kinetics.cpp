#include "simfuse/solvers/reaction/Kinetics.hpp"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <cmath>

namespace simfuse {

namespace {

// Two-variable Oregonator (Tyson & Fife 1980), the standard model of
// Belousov-Zhabotinsky spiral waves; stiff for small eps:
//   du/dt = (u - u^2 - f v (u - q)/(u + q)) / eps,   dv/dt = u - v
class Oregonator final : public Kinetics {
 public:
  Oregonator(double eps, double f, double q) : eps_(eps), f_(f), q_(q) {}
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
  std::string describe() const override { return fmt::format("oregonator(eps={:g}, f={:g}, q={:g})", eps_, f_, q_); }

 private:
  double eps_, f_, q_;
  std::vector<std::string> names_{"u", "v"};
};

// Gray-Scott: du/dt = -u v^2 + F (1 - u),  dv/dt = u v^2 - (F + k) v.
class GrayScott final : public Kinetics {
 public:
  GrayScott(double F, double k) : F_(F), k_(k) {}
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
  std::string describe() const override { return fmt::format("gray_scott(F={:g}, k={:g})", F_, k_); }

 private:
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
          s.add_real("f", "stoichiometric factor").def(1.4).positive();
          s.add_real("q", "excitability parameter").def(0.002).positive();
        },
        [](const Params& p) {
          return std::make_unique<Oregonator>(p.get<double>("eps"), p.get<double>("f"), p.get<double>("q"));
        });
    reg->add(
        "gray_scott", "Gray-Scott autocatalysis u + 2v -> 3v",
        [](Schema& s) {
          s.add_real("F", "feed rate").def(0.04).positive();
          s.add_real("k", "kill rate").def(0.06).positive();
        },
        [](const Params& p) { return std::make_unique<GrayScott>(p.get<double>("F"), p.get<double>("k")); });
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
