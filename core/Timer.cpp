#include "simfuse/core/Timer.hpp"

#include "simfuse/core/Petsc.hpp"

namespace simfuse {

StageTimer::StageTimer(const std::string& name) : name_(name) {
  PetscLogStage id = -1;
  SIMFUSE_PETSC(PetscLogStageGetId(name.c_str(), &id));
  if (id < 0) SIMFUSE_PETSC(PetscLogStageRegister(name.c_str(), &id));
  stage_ = id;
}

StageTimer::Scope::Scope(StageTimer& t) : t_(t), start_(wall_time()) {
  PetscLogStagePush(t_.stage_);
}

StageTimer::Scope::~Scope() {
  PetscLogStagePop();
  t_.seconds_ += wall_time() - start_;
  ++t_.calls_;
}

double wall_time() {
  return MPI_Wtime();
}

namespace {
thread_local double g_wait_seconds = 0;
thread_local int g_wait_depth = 0;
}  // namespace

double collective_wait_seconds() {
  return g_wait_seconds;
}

CollectiveWait::CollectiveWait() : t0_(wall_time()) {
  ++g_wait_depth;
}

CollectiveWait::~CollectiveWait() {
  if (--g_wait_depth == 0) g_wait_seconds += wall_time() - t0_;
}

}  // namespace simfuse
