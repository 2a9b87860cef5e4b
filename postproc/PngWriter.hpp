#pragma once
/// \file PngWriter.hpp
/// A PNG snapshot of one component of a 2D field, or of a slice of a 3D field, through a
/// colour map. Needs no display and no OpenGL.
#include <limits>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "simfuse/core/Field.hpp"
#include "simfuse/core/base/Schema.hpp"

namespace simfuse {

struct PngOptions {
  int component = 0;
  std::string colormap = "viridis";                ///< see colormaps()
  std::optional<std::pair<double, double>> range;  ///< colour range; default: data min..max
  int slice_axis = 2;                              ///< 3D only: the axis normal to the slice
  PetscInt slice_index = -1;                       ///< 3D only: -1 = middle
  int min_pixels = 512;                            ///< upscale (nearest) to at least this size
  /// A figure rather than a bare image: a title (`title`, the time and step), the extent
  /// of both axes and a colour bar with its values, in white margins around the image.
  /// Text is drawn by VTK's FreeType renderer with its embedded fonts: no display, no
  /// OpenGL, no system fonts.
  bool annotate = false;
  std::string title;                                       ///< e.g. "c.u" (default: the field's name and component)
  double time = std::numeric_limits<double>::quiet_NaN();  ///< shown when finite
  long step = -1;                                          ///< shown when >= 0
};

/// Names of the available colour maps.
std::vector<std::string> colormaps();

/// What was written: the colour range used (for the legend in summary.json).
struct PngInfo {
  std::string path;
  double min = 0, max = 0;
  int width = 0, height = 0;              ///< of the whole picture (with annotate: the figure)
  int image_x = 0, image_y = 0;           ///< where the field's image starts (left, bottom; 0 without annotate)
  int image_width = 0, image_height = 0;  ///< the field's image
};

/// Writes `path`. Collective on the field's communicator; rank 0 writes the file (via a
/// temporary name and a rename). Values are gathered slice-wise, never the whole 3D field.
PngInfo write_png(const Field& f, const std::string& path, const PngOptions& opt);

}  // namespace simfuse
