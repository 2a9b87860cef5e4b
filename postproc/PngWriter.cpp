#include "postproc/PngWriter.hpp"

#include <fmt/format.h>
#include <unistd.h>
#include <vtkDoubleArray.h>
#include <vtkImageData.h>
#include <vtkImageMapToColors.h>
#include <vtkImageResize.h>
#include <vtkLookupTable.h>
#include <vtkNew.h>
#include <vtkPNGWriter.h>
#include <vtkPointData.h>

#include <array>
#include <cmath>
#include <filesystem>
#include <limits>
#include <map>

namespace simfuse {

namespace {

using Rgb = std::array<double, 3>;

// Colour maps as control points, interpolated linearly (viridis/inferno from the
// matplotlib definitions, sampled at 9 points).
const std::map<std::string, std::vector<Rgb>>& maps() {
  static const std::map<std::string, std::vector<Rgb>> m = {
      {"viridis",
       {{0.267, 0.005, 0.329},
        {0.283, 0.141, 0.458},
        {0.254, 0.265, 0.530},
        {0.207, 0.372, 0.553},
        {0.164, 0.471, 0.558},
        {0.128, 0.567, 0.551},
        {0.135, 0.659, 0.518},
        {0.267, 0.749, 0.441},
        {0.478, 0.821, 0.318},
        {0.741, 0.873, 0.150},
        {0.993, 0.906, 0.144}}},
      {"inferno",
       {{0.001, 0.000, 0.014},
        {0.122, 0.047, 0.282},
        {0.333, 0.059, 0.427},
        {0.533, 0.133, 0.416},
        {0.729, 0.212, 0.333},
        {0.890, 0.350, 0.200},
        {0.976, 0.550, 0.039},
        {0.977, 0.780, 0.170},
        {0.988, 0.998, 0.645}}},
      {"coolwarm",
       {{0.230, 0.299, 0.754},
        {0.552, 0.690, 0.996},
        {0.865, 0.865, 0.865},
        {0.958, 0.604, 0.482},
        {0.706, 0.016, 0.150}}},
      {"gray", {{0, 0, 0}, {1, 1, 1}}},
  };
  return m;
}

}  // namespace

std::vector<std::string> colormaps() {
  std::vector<std::string> n;
  for (const auto& [k, v] : maps()) n.push_back(k);
  return n;
}

PngInfo write_png(const Field& f, const std::string& path, const PngOptions& opt) {
  const Grid& grid = f.grid();
  const int dim = grid.dim();
  SIMFUSE_REQUIRE(dim >= 2, "PNG output needs a 2D or 3D grid");
  SIMFUSE_REQUIRE(opt.component >= 0 && opt.component < f.ncomp(), "PNG component out of range");
  // The two in-plane axes and the slice.
  int ax[2] = {0, 1};
  PetscInt slice = 0;
  if (dim == 3) {
    int a = 0;
    for (int d = 0; d < 3; ++d)
      if (d != opt.slice_axis) ax[a++] = d;
    slice = opt.slice_index >= 0 ? opt.slice_index : grid.n(opt.slice_axis) / 2;
    SIMFUSE_REQUIRE(slice < grid.n(opt.slice_axis), "PNG slice index out of range");
  }
  const PetscInt nx = grid.n(ax[0]), ny = grid.n(ax[1]);
  // Each point is owned by one rank: assemble the slice by a sum reduction to rank 0.
  std::vector<double> local(static_cast<size_t>(nx * ny), 0.0), all;
  {
    const ArrayView v = f.view_read();
    for_each(grid.owned(), [&](PetscInt i, PetscInt j, PetscInt k) {
      const PetscInt idx[3] = {i, j, k};
      if (dim == 3 && idx[opt.slice_axis] != slice) return;
      local[idx[ax[1]] * nx + idx[ax[0]]] = v(i, j, k, opt.component);
    });
  }
  if (grid.rank() == 0) all.resize(local.size());
  MPI_Reduce(local.data(), grid.rank() == 0 ? all.data() : nullptr, static_cast<int>(local.size()), MPI_DOUBLE, MPI_SUM,
             0, grid.comm());

  PngInfo info;
  info.path = path;
  char err[512] = {0};
  if (grid.rank() == 0) {
    double lo = std::numeric_limits<double>::infinity(), hi = -lo;
    for (double x : all)
      if (std::isfinite(x)) {
        lo = std::min(lo, x);
        hi = std::max(hi, x);
      }
    if (opt.range) std::tie(lo, hi) = *opt.range;
    if (!(lo <= hi)) lo = hi = 0;  // all NaN
    if (hi - lo <= 1e-300) {
      lo -= 0.5;
      hi += 0.5;
    }
    info.min = lo;
    info.max = hi;

    auto img = vtkSmartPointer<vtkImageData>::New();
    img->SetDimensions(static_cast<int>(nx), static_cast<int>(ny), 1);
    auto arr = vtkSmartPointer<vtkDoubleArray>::New();
    arr->SetNumberOfTuples(nx * ny);
    for (vtkIdType i = 0; i < nx * ny; ++i) arr->SetValue(i, all[i]);
    img->GetPointData()->SetScalars(arr);

    auto cm = maps().find(opt.colormap);
    SIMFUSE_REQUIRE(cm != maps().end(), "unknown colour map " + opt.colormap);
    const auto& pts = cm->second;
    vtkNew<vtkLookupTable> lut;
    lut->SetNumberOfTableValues(256);
    lut->SetRange(lo, hi);
    for (int i = 0; i < 256; ++i) {
      const double s = i / 255.0 * static_cast<double>(pts.size() - 1);
      const size_t a = std::min(static_cast<size_t>(s), pts.size() - 2);
      const double w = s - static_cast<double>(a);
      lut->SetTableValue(i, (1 - w) * pts[a][0] + w * pts[a + 1][0], (1 - w) * pts[a][1] + w * pts[a + 1][1],
                         (1 - w) * pts[a][2] + w * pts[a + 1][2], 1.0);
    }
    lut->SetNanColor(1.0, 0.0, 1.0, 1.0);
    lut->UseBelowRangeColorOff();
    lut->UseAboveRangeColorOff();
    lut->Build();

    vtkNew<vtkImageMapToColors> colors;
    colors->SetInputData(img);
    colors->SetLookupTable(lut);
    colors->SetOutputFormatToRGB();

    const int scale =
        std::max<int>(1, static_cast<int>(std::ceil(opt.min_pixels / static_cast<double>(std::max(nx, ny)))));
    vtkNew<vtkImageResize> resize;
    resize->SetInputConnection(colors->GetOutputPort());
    resize->SetResizeMethodToOutputDimensions();
    resize->SetOutputDimensions(static_cast<int>(nx) * scale, static_cast<int>(ny) * scale, 1);
    resize->InterpolateOff();
    info.width = static_cast<int>(nx) * scale;
    info.height = static_cast<int>(ny) * scale;

    const std::string tmp = path + ".tmp." + std::to_string(getpid()) + ".png";
    vtkNew<vtkPNGWriter> w;
    w->SetInputConnection(resize->GetOutputPort());
    w->SetFileName(tmp.c_str());
    w->Write();
    std::error_code ec;
    if (w->GetErrorCode() != 0 || !std::filesystem::exists(tmp, ec)) {
      std::snprintf(err, sizeof err, "could not write PNG '%s'", path.c_str());
      std::filesystem::remove(tmp, ec);
    } else {
      std::filesystem::rename(tmp, path, ec);
      if (ec) std::snprintf(err, sizeof err, "could not write PNG '%s': %s", path.c_str(), ec.message().c_str());
    }
  }
  MPI_Bcast(err, sizeof err, MPI_CHAR, 0, grid.comm());
  if (err[0]) throw UserError(err, "check that the output folder is writable and the disk is not full");
  double range[2] = {info.min, info.max};
  int size[2] = {info.width, info.height};
  MPI_Bcast(range, 2, MPI_DOUBLE, 0, grid.comm());
  MPI_Bcast(size, 2, MPI_INT, 0, grid.comm());
  info.min = range[0];
  info.max = range[1];
  info.width = size[0];
  info.height = size[1];
  return info;
}

}  // namespace simfuse
