#pragma once
/// \file PngWriter.hpp
/// A PNG snapshot of one component of a 2D field, or of a slice of a 3D field, through a
/// colour map. Needs no display and no OpenGL.
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "core/Field.hpp"
#include "core/Schema.hpp"

namespace simfuse {

struct PngOptions {
  int component = 0;
  std::string colormap = "viridis";                ///< see colormaps()
  std::optional<std::pair<double, double>> range;  ///< colour range; default: data min..max
  int slice_axis = 2;                              ///< 3D only: the axis normal to the slice
  PetscInt slice_index = -1;                       ///< 3D only: -1 = middle
  int min_pixels = 512;                            ///< upscale (nearest) to at least this size
};

/// Names of the available colour maps.
std::vector<std::string> colormaps();

/// What was written: the colour range used (for the legend in summary.json).
struct PngInfo {
  std::string path;
  double min = 0, max = 0;
  int width = 0, height = 0;
};

/// Writes `path`. Collective on the field's communicator; rank 0 writes the file (via a
/// temporary name and a rename). Values are gathered slice-wise, never the whole 3D field.
PngInfo write_png(const Field& f, const std::string& path, const PngOptions& opt);

}  // namespace simfuse
