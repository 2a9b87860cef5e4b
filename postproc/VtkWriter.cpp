#include "simfuse/postproc/VtkWriter.hpp"

#include <fmt/format.h>
#include <unistd.h>
#include <vtkDoubleArray.h>
#include <vtkFieldData.h>
#include <vtkImageData.h>
#include <vtkInformation.h>
#include <vtkIntArray.h>
#include <vtkMPI.h>
#include <vtkMPICommunicator.h>
#include <vtkMPIController.h>
#include <vtkNew.h>
#include <vtkPointData.h>
#include <vtkSmartPointer.h>
#include <vtkStreamingDemandDrivenPipeline.h>
#include <vtkTrivialProducer.h>
#include <vtkXMLDataElement.h>
#include <vtkXMLImageDataWriter.h>
#include <vtkXMLPImageDataWriter.h>
#include <vtkXMLUtilities.h>

#include <filesystem>
#include <fstream>

#include "simfuse/core/Files.hpp"
#include "simfuse/postproc/detail/QuietVtk.hpp"

namespace simfuse {

namespace fs = std::filesystem;

struct VtkSeriesWriter::Impl {
  vtkSmartPointer<vtkMPIController> controller;
  MPI_Comm comm = MPI_COMM_NULL;
  long tag = 0;  // rank 0's process id: the temporary folder's name, the same on every rank
};

VtkSeriesWriter::VtkSeriesWriter(const Grid& grid, std::string dir, std::string base)
    : impl_(std::make_unique<Impl>()), grid_(grid), dir_(std::move(dir)), base_(std::move(base)) {
  pvd_ = (fs::path(dir_) / (base_ + ".pvd")).string();
  ensure_directory(dir_, grid.comm());
  impl_->tag = static_cast<long>(getpid());
  MPI_Bcast(&impl_->tag, 1, MPI_LONG, 0, grid.comm());
  if (grid.size() > 1) {
    MPI_Comm_dup(grid.comm(), &impl_->comm);
    vtkMPICommunicatorOpaqueComm opaque(&impl_->comm);
    vtkNew<vtkMPICommunicator> vc;
    vc->InitializeExternal(&opaque);
    impl_->controller = vtkSmartPointer<vtkMPIController>::New();
    impl_->controller->SetCommunicator(vc);
  }
}

VtkSeriesWriter::~VtkSeriesWriter() {
  impl_->controller = nullptr;
  if (impl_->comm != MPI_COMM_NULL) MPI_Comm_free(&impl_->comm);
}

std::string VtkSeriesWriter::write(const std::vector<const Field*>& fields, double t, long step) {
  const int dim = grid_.dim();
  const Box& own = grid_.owned();
  // This rank's piece: its points plus one layer above (shared with the next piece), so
  // pieces join without gaps. Periodic wrap points are not repeated.
  int ext[6] = {0, 0, 0, 0, 0, 0};
  int whole[6] = {0, 0, 0, 0, 0, 0};
  for (int d = 0; d < 3; ++d) {
    const PetscInt hi_owned = own.lo[d] + own.n[d] - 1;
    ext[2 * d] = static_cast<int>(own.lo[d]);
    ext[2 * d + 1] = static_cast<int>(d < dim && hi_owned < grid_.n(d) - 1 ? hi_owned + 1 : hi_owned);
    whole[2 * d + 1] = static_cast<int>(grid_.n(d) - 1);
  }
  Box piece;
  for (int d = 0; d < 3; ++d) {
    piece.lo[d] = ext[2 * d];
    piece.n[d] = ext[2 * d + 1] - ext[2 * d] + 1;
  }

  auto image = vtkSmartPointer<vtkImageData>::New();
  image->SetExtent(ext);
  image->SetOrigin(grid_.x(0, 0), dim > 1 ? grid_.x(1, 0) : 0.0, dim > 2 ? grid_.x(2, 0) : 0.0);
  image->SetSpacing(grid_.h(0), dim > 1 ? grid_.h(1) : 1.0, dim > 2 ? grid_.h(2) : 1.0);
  // The time in the file itself, not only in the .pvd: ParaView and VisIt read the field
  // arrays TimeValue and CYCLE when a single file is opened.
  {
    vtkNew<vtkDoubleArray> time;
    time->SetName("TimeValue");
    time->InsertNextValue(t);
    image->GetFieldData()->AddArray(time);
    vtkNew<vtkIntArray> cycle;
    cycle->SetName("CYCLE");
    cycle->InsertNextValue(static_cast<int>(step));
    image->GetFieldData()->AddArray(cycle);
  }

  for (const Field* f : fields) {
    const int nc = f->ncomp();
    GhostedVec local(grid_.dm(nc, 1, true), f->vec());
    const ArrayView a(local.get(), local.box(), nc, true);
    auto put = [&](const std::string& name, int ncomp_out, auto&& value) {
      auto arr = vtkSmartPointer<vtkDoubleArray>::New();
      arr->SetName(name.c_str());
      arr->SetNumberOfComponents(ncomp_out);
      arr->SetNumberOfTuples(piece.size());
      vtkIdType id = 0;
      for_each(piece, [&](PetscInt i, PetscInt j, PetscInt k) {
        for (int c = 0; c < ncomp_out; ++c) arr->SetComponent(id, c, value(i, j, k, c));
        ++id;
      });
      image->GetPointData()->AddArray(arr);
    };
    if (f->is_vector()) {
      put(f->name(), 3, [&](PetscInt i, PetscInt j, PetscInt k, int c) { return c < nc ? a(i, j, k, c) : 0.0; });
    } else {
      for (int comp = 0; comp < nc; ++comp)
        put(nc == 1 ? f->name() : f->components()[comp], 1,
            [&](PetscInt i, PetscInt j, PetscInt k, int) { return a(i, j, k, comp); });
    }
  }

  // Numbered by step, as the PNGs are: heat_000100.vti and heat_000100.png are one moment.
  // Written into a temporary folder beside, then moved into place by rank 0 once every rank
  // wrote its piece: a reader (or a full disk) never meets a half-written file under its
  // final name, and the .pvd lists only complete ones. VTK's own error lines are held back;
  // the first failure is one message.
  const std::string stem = fmt::format("{}_{:06d}", base_, step);
  const std::string rel = stem + (grid_.size() == 1 ? ".vti" : ".pvti");
  const fs::path tmp = fs::path(dir_) / fmt::format(".tmp_{}_{}", stem, impl_->tag);
  bool ok = true;
  if (grid_.rank() == 0) {
    std::error_code ec;
    fs::remove_all(tmp, ec);
    fs::create_directory(tmp, ec);
    ok = !ec;
  }
  int made = ok ? 1 : 0;
  MPI_Bcast(&made, 1, MPI_INT, 0, grid_.comm());
  ok = made != 0;
  const QuietVtk quiet;  // VTK's own error lines held back: the one message below says what failed
  if (ok && grid_.size() == 1) {
    vtkNew<vtkXMLImageDataWriter> w;
    w->SetInputData(image);
    w->SetFileName((tmp / rel).string().c_str());
    w->SetDataModeToAppended();
    w->EncodeAppendedDataOff();
    w->SetCompressorTypeToNone();
    ok = w->Write() == 1 && w->GetErrorCode() == 0;
  } else if (ok) {
    vtkNew<vtkTrivialProducer> producer;
    producer->SetOutput(image);
    producer->SetWholeExtent(whole);
    vtkNew<vtkXMLPImageDataWriter> w;
    w->SetInputConnection(producer->GetOutputPort());
    w->SetController(impl_->controller);
    w->SetFileName((tmp / rel).string().c_str());
    w->SetNumberOfPieces(grid_.size());
    w->SetStartPiece(grid_.rank());
    w->SetEndPiece(grid_.rank());
    w->SetUseSubdirectory(true);
    w->SetWriteSummaryFile(1);  // collective gather of extents; VTK writes it on rank 0 only
    w->SetDataModeToAppended();
    w->EncodeAppendedDataOff();
    w->SetCompressorTypeToNone();
    ok = w->Write() == 1 && w->GetErrorCode() == 0;
  }
  int all_ok = ok ? 1 : 0;
  MPI_Allreduce(MPI_IN_PLACE, &all_ok, 1, MPI_INT, MPI_MIN, grid_.comm());
  std::string why;
  if (grid_.rank() == 0) {
    std::error_code ec;
    if (all_ok) {  // the pieces' folder first, the file that names them last
      if (grid_.size() > 1) {
        fs::remove_all(fs::path(dir_) / stem, ec);
        fs::rename(tmp / stem, fs::path(dir_) / stem, ec);
      }
      if (!ec) fs::rename(tmp / rel, fs::path(dir_) / rel, ec);
      if (ec) why = ec.message();
    }
    fs::remove_all(tmp, ec);
  }
  int failed = !all_ok || !why.empty() ? 1 : 0;
  MPI_Bcast(&failed, 1, MPI_INT, 0, grid_.comm());
  if (failed)
    throw UserError(fmt::format("could not write VTK output {} in '{}'{}", rel, dir_, why.empty() ? "" : ": " + why),
                    "check that the output folder is writable and the disk is not full (or the file size limit, "
                    "ulimit -f)");
  files_.push_back(rel);
  times_.push_back(t);
  if (grid_.rank() == 0) write_pvd();
  MPI_Barrier(grid_.comm());
  return (fs::path(dir_) / rel).string();
}

void VtkSeriesWriter::continue_series(std::vector<std::string> files, std::vector<double> times) {
  files_ = std::move(files);
  times_ = std::move(times);
  if (grid_.rank() == 0) write_pvd();
  MPI_Barrier(grid_.comm());
}

void VtkSeriesWriter::write_pvd() const {
  vtkNew<vtkXMLDataElement> root;
  root->SetName("VTKFile");
  root->SetAttribute("type", "Collection");
  root->SetAttribute("version", "0.1");
  root->SetAttribute("byte_order", "LittleEndian");
  vtkNew<vtkXMLDataElement> coll;
  coll->SetName("Collection");
  for (size_t i = 0; i < files_.size(); ++i) {
    vtkNew<vtkXMLDataElement> ds;
    ds->SetName("DataSet");
    ds->SetDoubleAttribute("timestep", times_[i]);
    ds->SetAttribute("group", "");
    ds->SetAttribute("part", "0");
    ds->SetAttribute("file", files_[i].c_str());
    coll->AddNestedElement(ds);
  }
  root->AddNestedElement(coll);
  std::ostringstream os;
  os << "<?xml version=\"1.0\"?>\n";
  vtkIndent indent;
  vtkXMLUtilities::FlattenElement(root, os, &indent);
  os << "\n";
  write_file_atomic(pvd_, os.str());
}

}  // namespace simfuse
