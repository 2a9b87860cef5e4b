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

}  // namespace simfuse
