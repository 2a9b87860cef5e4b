#pragma once
/// \file QuietVtk.hpp
/// Internal: while a QuietVtk lives, VTK's own warning and error lines are held back, so a
/// writer that fails (a full disk, a file-size limit) reports one message of its own instead
/// of a spew of `ERR|` lines. The previous setting comes back when it goes.
#include <vtkObject.h>

namespace simfuse {

class QuietVtk {
 public:
  QuietVtk() : saved_(vtkObject::GetGlobalWarningDisplay()) { vtkObject::GlobalWarningDisplayOff(); }
  ~QuietVtk() { vtkObject::SetGlobalWarningDisplay(saved_); }
  QuietVtk(const QuietVtk&) = delete;
  QuietVtk& operator=(const QuietVtk&) = delete;

 private:
  int saved_;
};

}  // namespace simfuse
