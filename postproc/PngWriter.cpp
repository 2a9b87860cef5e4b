#include "simfuse/postproc/PngWriter.hpp"

#include <fmt/format.h>
#include <unistd.h>
#include <vtkDoubleArray.h>
#include <vtkFreeTypeTools.h>
#include <vtkImageData.h>
#include <vtkImageMapToColors.h>
#include <vtkImageResize.h>
#include <vtkLookupTable.h>
#include <vtkNew.h>
#include <vtkPNGWriter.h>
#include <vtkPointData.h>
#include <vtkStdString.h>
#include <vtkTextProperty.h>
#include <vtkUnsignedCharArray.h>

#include <algorithm>
#include <array>
#include <cmath>
#include <filesystem>
#include <limits>
#include <map>

#include "simfuse/postproc/detail/QuietVtk.hpp"

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

// An RGB picture, row 0 at the bottom (VTK's image order, which vtkPNGWriter flips).
class Canvas {
 public:
  Canvas(int w, int h) : w_(w), h_(h), px_(static_cast<size_t>(w) * h * 3, 255) {}
  int width() const { return w_; }
  int height() const { return h_; }
  void set(int x, int y, const unsigned char* rgb) {
    if (x < 0 || y < 0 || x >= w_ || y >= h_) return;
    std::copy(rgb, rgb + 3, &px_[(static_cast<size_t>(y) * w_ + x) * 3]);
  }
  void blend(int x, int y, const unsigned char* rgb, double alpha) {
    if (x < 0 || y < 0 || x >= w_ || y >= h_ || alpha <= 0) return;
    unsigned char* p = &px_[(static_cast<size_t>(y) * w_ + x) * 3];
    for (int c = 0; c < 3; ++c) p[c] = static_cast<unsigned char>(std::lround((1 - alpha) * p[c] + alpha * rgb[c]));
  }
  /// The outline of the box [x0, x1] x [y0, y1], one pixel wide, in dark grey.
  void frame(int x0, int y0, int x1, int y1) {
    const unsigned char ink[3] = {40, 40, 40};
    for (int x = x0; x <= x1; ++x) {
      set(x, y0, ink);
      set(x, y1, ink);
    }
    for (int y = y0; y <= y1; ++y) {
      set(x0, y, ink);
      set(x1, y, ink);
    }
  }
  /// Draws `s` with its anchor at (x, y): halign 0 left, 1 centre, 2 right; valign 0
  /// bottom, 1 centre, 2 top.
  void text(const std::string& s, int x, int y, int size, int halign, int valign) {
    if (s.empty()) return;
    vtkNew<vtkTextProperty> tp;
    tp->SetFontFamilyToArial();
    tp->SetFontSize(size);
    tp->SetColor(0.1, 0.1, 0.1);
    tp->SetJustificationToLeft();
    tp->SetVerticalJustificationToBottom();
    vtkNew<vtkImageData> img;
    int dims[2] = {0, 0};
    if (!vtkFreeTypeTools::GetInstance()->RenderString(tp, vtkStdString(s), 72, img, dims)) return;
    int ext[6];
    img->GetExtent(ext);
    const int x0 = x - (halign == 1 ? dims[0] / 2 : halign == 2 ? dims[0] : 0);
    const int y0 = y - (valign == 1 ? dims[1] / 2 : valign == 2 ? dims[1] : 0);
    const int nc = img->GetNumberOfScalarComponents();
    if (nc < 4) return;
    for (int j = ext[2]; j <= ext[3]; ++j)
      for (int i = ext[0]; i <= ext[1]; ++i) {
        const auto* p = static_cast<const unsigned char*>(img->GetScalarPointer(i, j, 0));
        blend(x0 + i - ext[0], y0 + j - ext[2], p, p[3] / 255.0);
      }
  }
  /// The picture as a VTK image (for vtkPNGWriter).
  vtkSmartPointer<vtkImageData> image() const {
    auto img = vtkSmartPointer<vtkImageData>::New();
    img->SetDimensions(w_, h_, 1);
    auto arr = vtkSmartPointer<vtkUnsignedCharArray>::New();
    arr->SetNumberOfComponents(3);
    arr->SetNumberOfTuples(static_cast<vtkIdType>(w_) * h_);
    std::copy(px_.begin(), px_.end(), arr->GetPointer(0));
    img->GetPointData()->SetScalars(arr);
    return img;
  }

 private:
  int w_, h_;
  std::vector<unsigned char> px_;
};

std::string number(double v) {
  return fmt::format("{:.4g}", v);
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
    info.width = info.image_width = static_cast<int>(nx) * scale;
    info.height = info.image_height = static_cast<int>(ny) * scale;

    vtkSmartPointer<vtkImageData> picture;
    if (opt.annotate) {
      resize->Update();
      vtkImageData* field = resize->GetOutput();
      const int W = info.image_width, H = info.image_height;
      const int font = std::clamp(H / 28, 13, 28);
      const int left = 5 * font, bottom = 3 * font, top = 2 * font + font / 2;
      const int bar_gap = font, bar_w = std::max(12, font), labels = 6 * font;
      Canvas c(left + W + bar_gap + bar_w + labels, bottom + H + top);
      // The field.
      for (int j = 0; j < H; ++j)
        for (int i = 0; i < W; ++i)
          c.set(left + i, bottom + j, static_cast<const unsigned char*>(field->GetScalarPointer(i, j, 0)));
      c.frame(left - 1, bottom - 1, left + W, bottom + H);
      // The colour bar, lo at the bottom, and its values.
      const int bx = left + W + bar_gap;
      for (int j = 0; j < H; ++j) {
        double rgb[3];
        lut->GetColor(lo + (hi - lo) * (j + 0.5) / H, rgb);
        const unsigned char px[3] = {static_cast<unsigned char>(std::lround(255 * rgb[0])),
                                     static_cast<unsigned char>(std::lround(255 * rgb[1])),
                                     static_cast<unsigned char>(std::lround(255 * rgb[2]))};
        for (int i = 0; i < bar_w; ++i) c.set(bx + i, bottom + j, px);
      }
      c.frame(bx - 1, bottom - 1, bx + bar_w, bottom + H);
      for (int q = 0; q <= 4; ++q) {
        const int y = bottom + (H - 1) * q / 4;
        const unsigned char ink[3] = {40, 40, 40};
        for (int i = 0; i < font / 3; ++i) c.set(bx + bar_w + 1 + i, y, ink);
        c.text(number(lo + (hi - lo) * q / 4.0), bx + bar_w + font / 2, y, font, 0, 1);
      }
      // The extent: lower and upper coordinates of both axes, and their names.
      const char* names[3] = {"x", "y", "z"};
      const double x_lo = grid.lower(ax[0]), x_hi = grid.spec().upper[ax[0]];
      const double y_lo = grid.lower(ax[1]), y_hi = grid.spec().upper[ax[1]];
      c.text(number(x_lo), left, bottom - font / 3, font, 0, 2);
      c.text(number(x_hi), left + W, bottom - font / 3, font, 2, 2);
      c.text(names[ax[0]], left + W / 2, bottom - font / 3, font, 1, 2);
      c.text(number(y_lo), left - font / 3, bottom, font, 2, 0);
      c.text(number(y_hi), left - font / 3, bottom + H, font, 2, 2);
      c.text(names[ax[1]], left - font / 3, bottom + H / 2, font, 2, 1);
      // The title: what, when, and for a 3D field where the slice is.
      std::string title =
          opt.title.empty() ? f.name() + (f.ncomp() > 1 ? "." + f.components()[opt.component] : "") : opt.title;
      if (std::isfinite(opt.time)) title += "    t = " + number(opt.time);
      if (opt.step >= 0) title += fmt::format("  (step {})", opt.step);
      if (dim == 3)
        title += fmt::format("    slice {} = {}", names[opt.slice_axis], number(grid.x(opt.slice_axis, slice)));
      c.text(title, left, bottom + H + font / 2 + 2, font + 2, 0, 0);
      picture = c.image();
      info.width = c.width();
      info.height = c.height();
      info.image_x = left;
      info.image_y = bottom;
    }

    const std::string tmp = path + ".tmp." + std::to_string(getpid()) + ".png";
    vtkNew<vtkPNGWriter> w;
    if (picture)
      w->SetInputData(picture);
    else
      w->SetInputConnection(resize->GetOutputPort());
    w->SetFileName(tmp.c_str());
    {
      const QuietVtk quiet;  // the one message below says what failed
      w->Write();
    }
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
  int size[6] = {info.width, info.height, info.image_x, info.image_y, info.image_width, info.image_height};
  MPI_Bcast(range, 2, MPI_DOUBLE, 0, grid.comm());
  MPI_Bcast(size, 6, MPI_INT, 0, grid.comm());
  info.min = range[0];
  info.max = range[1];
  info.width = size[0];
  info.height = size[1];
  info.image_x = size[2];
  info.image_y = size[3];
  info.image_width = size[4];
  info.image_height = size[5];
  return info;
}

}  // namespace simfuse
