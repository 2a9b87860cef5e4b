// Output files read back with VTK's own readers: dimensions, spacing, origin and values
// match the fields; the .pvd lists every output; the PNG has the right size and colours.
#include <vtkDataArray.h>
#include <vtkFieldData.h>
#include <vtkImageData.h>
#include <vtkNew.h>
#include <vtkPNGReader.h>
#include <vtkPointData.h>
#include <vtkUnsignedCharArray.h>
#include <vtkXMLDataElement.h>
#include <vtkXMLImageDataReader.h>
#include <vtkXMLPImageDataReader.h>
#include <vtkXMLUtilities.h>

#include <catch2/catch.hpp>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "simfuse/postproc/PngWriter.hpp"
#include "simfuse/postproc/VtkWriter.hpp"
#include "simfuse/solvers/common/Evaluate.hpp"
#include "support/TestUtil.hpp"

using namespace simfuse;
namespace fs = std::filesystem;

namespace {

vtkSmartPointer<vtkImageData> read_image(const std::string& path) {
  if (path.size() > 5 && path.substr(path.size() - 5) == ".pvti") {
    vtkNew<vtkXMLPImageDataReader> r;
    r->SetFileName(path.c_str());
    r->Update();
    return r->GetOutput();
  }
  vtkNew<vtkXMLImageDataReader> r;
  r->SetFileName(path.c_str());
  r->Update();
  return r->GetOutput();
}

}  // namespace

TEST_CASE("VTK series read back with VTK's readers", "[output][mpi]") {
  for (int dim : {2, 3}) {
    GridSpec g;
    g.dim = dim;
    g.n = {dim == 2 ? 21 : 9, dim == 2 ? 13 : 11, dim == 2 ? 1 : 7};
    g.lower = {-1, 0, 2};
    g.upper = {1, 3, 5};
    g.periodic = {false, dim == 2, false};
    Grid grid(PETSC_COMM_WORLD, g);
    Field u(grid, "u");
    Field vel(grid, "velocity", {"vx", "vy"}, true);
    Field species(grid, "c", {"a", "b"});
    sample(grid, *expression_function("x + 10*y + 100*z"), 0, u.vec());
    sample(grid, *expression_function("sin(x)"), 0, vel.vec(), 2, 0);
    sample(grid, *expression_function("cos(y)"), 0, vel.vec(), 2, 1);
    sample(grid, *expression_function("x*y"), 0, species.vec(), 2, 1);
    const std::string dir = test::temp_dir("vtk");
    VtkSeriesWriter w(grid, dir, "demo");
    std::string path;
    for (int i = 0; i < 3; ++i) path = w.write({&u, &vel, &species}, 0.5 * i, 5 * i);
    CHECK(fs::path(path).extension() == (test::world_size() == 1 ? ".vti" : ".pvti"));
    CHECK(fs::path(path).stem() == "demo_000010");  // numbered by step, as the PNGs are
    const auto nat_u = test::gather_natural(u);
    const auto nat_v = test::gather_natural(vel);
    const auto nat_c = test::gather_natural(species);
    if (test::world_rank() == 0) {
      auto img = read_image(path);
      // The time and step in the file itself (ParaView shows TimeValue for a lone file).
      auto* time = img->GetFieldData()->GetArray("TimeValue");
      auto* cycle = img->GetFieldData()->GetArray("CYCLE");
      REQUIRE(time);
      REQUIRE(cycle);
      CHECK(time->GetTuple1(0) == 1.0);
      CHECK(cycle->GetTuple1(0) == 10);
      int dims[3];
      img->GetDimensions(dims);
      for (int d = 0; d < 3; ++d) CHECK(dims[d] == grid.n(d));
      double sp[3], org[3];
      img->GetSpacing(sp);
      img->GetOrigin(org);
      for (int d = 0; d < dim; ++d) {
        CHECK(sp[d] == Approx(grid.h(d)));
        CHECK(org[d] == Approx(grid.lower(d)));
      }
      auto* a = img->GetPointData()->GetArray("u");
      auto* v = img->GetPointData()->GetArray("velocity");
      auto* b = img->GetPointData()->GetArray("b");
      REQUIRE(a);
      REQUIRE(v);
      REQUIRE(b);
      CHECK(v->GetNumberOfComponents() == 3);
      REQUIRE(a->GetNumberOfTuples() == grid.points());
      double maxdiff = 0;
      for (vtkIdType i = 0; i < grid.points(); ++i) {
        maxdiff = std::max(maxdiff, std::abs(a->GetComponent(i, 0) - nat_u[i]));
        maxdiff = std::max(maxdiff, std::abs(v->GetComponent(i, 0) - nat_v[2 * i]));
        maxdiff = std::max(maxdiff, std::abs(v->GetComponent(i, 1) - nat_v[2 * i + 1]));
        maxdiff = std::max(maxdiff, std::abs(v->GetComponent(i, 2)));
        maxdiff = std::max(maxdiff, std::abs(b->GetComponent(i, 0) - nat_c[2 * i + 1]));
      }
      CHECK(maxdiff == 0.0);
      // The .pvd lists the three outputs with their times, and every file it names opens.
      vtkSmartPointer<vtkXMLDataElement> root;
      root.TakeReference(vtkXMLUtilities::ReadElementFromFile(w.pvd_path().c_str()));
      REQUIRE(root);
      CHECK(std::string(root->GetAttribute("type")) == "Collection");
      auto* coll = root->FindNestedElementWithName("Collection");
      REQUIRE(coll);
      REQUIRE(coll->GetNumberOfNestedElements() == 3);
      for (int i = 0; i < 3; ++i) {
        auto* ds = coll->GetNestedElement(i);
        double t = -1;
        ds->GetScalarAttribute("timestep", t);
        CHECK(t == 0.5 * i);
        auto im = read_image((fs::path(dir) / ds->GetAttribute("file")).string());
        CHECK(im->GetNumberOfPoints() == grid.points());
      }
    }
    MPI_Barrier(PETSC_COMM_WORLD);
    if (test::world_rank() == 0) fs::remove_all(dir);
  }
}

// Issue 13, point 6: PNGs were quick looks. A figure has the field's name, the time, the
// axis extents and a colour bar, drawn without a display or OpenGL.
TEST_CASE("PNG figure: the image, a colour bar, a title and axis labels", "[output][mpi]") {
  GridSpec g;
  g.dim = 2;
  g.n = {40, 20, 1};
  g.upper = {2, 1, 1};
  Grid grid(PETSC_COMM_WORLD, g);
  Field u(grid, "u");
  sample(grid, *expression_function("x / 2"), 0, u.vec());  // 0 at the left, 1 at the right
  const std::string dir = test::temp_dir("png_figure");
  PngOptions opt;
  opt.colormap = "gray";
  opt.min_pixels = 400;
  opt.annotate = true;
  opt.time = 1.5;
  opt.step = 30;
  const PngInfo info = write_png(u, dir + "/u.png", opt);
  CHECK(info.image_width == 400);
  CHECK(info.image_height == 200);
  CHECK(info.image_x > 0);
  CHECK(info.image_y > 0);
  CHECK(info.width > info.image_x + info.image_width);    // room for the colour bar
  CHECK(info.height > info.image_y + info.image_height);  // and the title
  if (test::world_rank() == 0) {
    vtkNew<vtkPNGReader> r;
    r->SetFileName((dir + "/u.png").c_str());
    r->Update();
    int dims[3];
    r->GetOutput()->GetDimensions(dims);
    REQUIRE(dims[0] == info.width);
    REQUIRE(dims[1] == info.height);
    auto* px = r->GetOutput()->GetPointData()->GetScalars();
    auto at = [&](int x, int y) { return px->GetComponent(static_cast<vtkIdType>(y) * dims[0] + x, 0); };
    const int x0 = info.image_x, y0 = info.image_y, x1 = x0 + info.image_width - 1, y1 = y0 + info.image_height - 1;
    CHECK(at(x0 + 2, y0 + 2) == 0);    // the field: black at the left
    CHECK(at(x1 - 2, y1 - 2) == 255);  // white at the right
    // The colour bar: right of the image, black at its bottom, white at its top.
    int bar = -1;
    for (int x = x1 + 2; x < dims[0] && bar < 0; ++x)
      if (at(x, y0 + 2) < 20 && at(x, y1 - 2) > 235) bar = x;
    CHECK(bar > x1);
    // Text: dark pixels in the title band above the image and in the labels below it.
    auto dark = [&](int ya, int yb) {
      int n = 0;
      for (int y = ya; y < yb; ++y)
        for (int x = 0; x < dims[0]; ++x) n += at(x, y) < 128;
      return n;
    };
    CHECK(dark(y1 + 3, dims[1]) > 50);
    CHECK(dark(0, y0 - 2) > 50);
    fs::remove_all(dir);
  }
}

TEST_CASE("PNG snapshot: size and colour map", "[output][mpi]") {
  GridSpec g;
  g.dim = 2;
  g.n = {40, 20, 1};
  Grid grid(PETSC_COMM_WORLD, g);
  Field u(grid, "u");
  sample(grid, *expression_function("x"), 0, u.vec());  // 0 at the left, 1 at the right
  const std::string dir = test::temp_dir("png");
  PngOptions opt;
  opt.colormap = "gray";
  opt.min_pixels = 100;
  const PngInfo info = write_png(u, dir + "/u.png", opt);
  CHECK(info.min == Approx(0.0));
  CHECK(info.max == Approx(1.0));
  CHECK(info.width == 120);
  CHECK(info.height == 60);
  if (test::world_rank() == 0) {
    vtkNew<vtkPNGReader> r;
    r->SetFileName((dir + "/u.png").c_str());
    r->Update();
    int dims[3];
    r->GetOutput()->GetDimensions(dims);
    CHECK(dims[0] == 120);
    CHECK(dims[1] == 60);
    auto* px = r->GetOutput()->GetPointData()->GetScalars();
    CHECK(px->GetComponent(0, 0) == 0);      // left: black
    CHECK(px->GetComponent(119, 0) == 255);  // right: white
    fs::remove_all(dir);
  }
  // 3D: a slice.
  GridSpec g3;
  g3.dim = 3;
  g3.n = {9, 9, 9};
  Grid grid3(PETSC_COMM_WORLD, g3);
  Field w(grid3, "w");
  sample(grid3, *expression_function("z"), 0, w.vec());
  const std::string dir3 = test::temp_dir("png3");
  opt.slice_axis = 2;
  opt.slice_index = 8;
  const PngInfo i3 = write_png(w, dir3 + "/w.png", opt);
  CHECK(i3.min == Approx(1.0 - 0.5));  // constant slice: range widened around 1
  if (test::world_rank() == 0) {
    CHECK(fs::exists(dir3 + "/w.png"));
    fs::remove_all(dir3);
  }
}
