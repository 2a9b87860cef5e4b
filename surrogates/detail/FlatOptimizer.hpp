#pragma once
/// \file FlatOptimizer.hpp
/// The optimizer of `simfuse train` and of the online policy's trainer: the model's
/// parameters and gradients as views into one flat buffer each, so the optimizer updates
/// a single tensor (a few kernels per step instead of a few per parameter tensor) and the
/// gradient all-reduce of data-parallel training needs no packing. The last slot of the
/// gradient buffer carries the batch loss through the same all-reduce. Internal to
/// simfuse_surrogates (includes torch/torch.h and MPI).
#include <mpi.h>
#include <torch/torch.h>

#include <cmath>
#include <memory>
#include <string>
#include <vector>

#include "simfuse/core/base/Config.hpp"

namespace simfuse {

class FlatOptimizer {
 public:
  struct Settings {
    double lr = 1e-3;
    bool adam = true;
    double momentum = 0.9, weight_decay = 0;
    std::string schedule = "none";  ///< none | cosine | step
    double lr_min = 0, gamma = 1;
    int step_every = 1;
    long epochs = 1;
    /// From a training spec's `training:` section.
    static Settings from(const Params& tp) {
      Settings s;
      s.lr = tp.get<double>("lr");
      s.adam = tp.get<std::string>("optimizer") == "adam";
      s.momentum = tp.get<double>("momentum");
      s.weight_decay = tp.get<double>("weight_decay");
      const Params& sp = tp.sub("schedule");
      s.schedule = sp.get<std::string>("type");
      s.lr_min = sp.get<double>("lr_min");
      s.gamma = sp.get<double>("gamma");
      s.step_every = sp.get<int>("step_every");
      s.epochs = tp.get<int>("epochs");
      return s;
    }
  };

  FlatOptimizer(torch::nn::Sequential& model, torch::Dtype dtype, const Settings& s) : model_(model), s_(s) {
    for (const auto& prm : model_->parameters()) nparams_ += prm.numel();
    const auto fopts = torch::TensorOptions().dtype(dtype);
    param_ = torch::zeros({nparams_}, fopts);
    comm_ = torch::zeros({nparams_ + 1}, fopts);
    grad_ = comm_.narrow(0, 0, nparams_);
    bind();
    param_.mutable_grad() = grad_;
    const std::vector<torch::Tensor> ps{param_};
    if (s_.adam)
      optim_ = std::make_unique<torch::optim::Adam>(ps, torch::optim::AdamOptions(s_.lr).weight_decay(s_.weight_decay));
    else
      optim_ = std::make_unique<torch::optim::SGD>(
          ps, torch::optim::SGDOptions(s_.lr).momentum(s_.momentum).weight_decay(s_.weight_decay));
  }

  /// (Re)binds the parameters to the buffers, keeping their values (after loading them).
  void bind() {
    torch::NoGradGuard ng;
    int64_t off = 0;
    for (auto& prm : model_->parameters()) {
      const int64_t k = prm.numel();
      param_.narrow(0, off, k).copy_(prm.detach().reshape({-1}));
      prm.set_data(param_.narrow(0, off, k).view(prm.sizes()));
      prm.mutable_grad() = grad_.narrow(0, off, k).view(prm.sizes());
      off += k;
    }
  }

  /// The learning rate of epoch e (0-based) under the schedule.
  double lr_at(long e) const {
    if (s_.schedule == "cosine") return s_.lr_min + 0.5 * (s_.lr - s_.lr_min) * (1 + std::cos(M_PI * e / s_.epochs));
    if (s_.schedule == "step") return s_.lr * std::pow(s_.gamma, e / s_.step_every);
    return s_.lr;
  }
  void set_epoch(long e) {
    const double lr = lr_at(e);
    for (auto& g : optim_->param_groups()) {
      if (s_.adam)
        static_cast<torch::optim::AdamOptions&>(g.options()).lr(lr);
      else
        static_cast<torch::optim::SGDOptions&>(g.options()).lr(lr);
    }
  }

  /// Zeroes gradients and loss slot (not optim->zero_grad(): the gradients must stay views).
  void zero() { comm_.zero_(); }
  /// Sums gradients and the batch sum of squared errors `sse` over ranks; returns the sum.
  double allreduce(double sse, MPI_Comm comm, int size) {
    if (size == 1) return sse;
    comm_[nparams_] = sse;
    MPI_Allreduce(MPI_IN_PLACE, comm_.data_ptr(), static_cast<int>(comm_.numel()),
                  comm_.scalar_type() == torch::kDouble ? MPI_DOUBLE : MPI_FLOAT, MPI_SUM, comm);
    return comm_[nparams_].item<double>();
  }
  void step() { optim_->step(); }
  torch::optim::Optimizer& optimizer() { return *optim_; }
  const torch::optim::Optimizer& optimizer() const { return *optim_; }
  /// The flat parameter buffer (the model's parameters are views of it).
  const torch::Tensor& parameters() const { return param_; }

 private:
  torch::nn::Sequential& model_;
  Settings s_;
  int64_t nparams_ = 0;
  torch::Tensor param_, comm_, grad_;
  std::unique_ptr<torch::optim::Optimizer> optim_;
};

}  // namespace simfuse
