#pragma once
/// \file Config.hpp
/// A YAML case document that remembers where every value came from: its position in
/// the file, or the `--set` override that replaced it. Validation against declared
/// schemas (Schema.hpp) uses these locations in its messages.
#include <yaml-cpp/yaml.h>

#include <map>
#include <string>
#include <vector>

#include "simfuse/core/base/Error.hpp"

namespace simfuse {

class ConfigDocument {
 public:
  /// Reads and parses a YAML file. Throws UserError (with file:line:column) when the
  /// file cannot be read, is not valid YAML, or its top level is not a mapping.
  static ConfigDocument load_file(const std::string& path, const std::string& what = "case file");
  /// Parses YAML text; `origin` names it in messages.
  static ConfigDocument from_string(const std::string& text, const std::string& origin = "<string>");

  /// Applies a command-line override "key.path=value"; the value is parsed as YAML, so
  /// `grid.n=[64,64]` and `solver.params.kappa=0.5` both work. Intermediate maps are
  /// created as needed. Throws UserError on a malformed assignment, or when a prefix of
  /// the path names a value that is not a mapping. Validation happens later, with the
  /// same checks as values from the file.
  void set(const std::string& assignment);
  /// Removes a key and everything below it (the command line's `--unset key.path`), e.g.
  /// to give `time.steps` instead of the file's `time.t_end`. Throws UserError if the
  /// document has no such key.
  void unset(const std::string& key_path);
  /// The command-line edits applied, in order ("--set a.b=1", "--unset c"), for the
  /// audit trail.
  const std::vector<std::string>& edits() const { return edits_; }

  /// The document's root mapping.
  const YAML::Node& root() const { return root_; }
  /// The file name (or origin) of the document.
  const std::string& origin() const { return origin_; }
  /// Location of `node`, which sits at `key_path` in this document: its file position,
  /// or the `--set` override that created it.
  Location locate(const YAML::Node& node, const std::string& key_path) const;

 private:
  std::string origin_;
  YAML::Node root_;
  std::map<std::string, std::string> overrides_;  // key path -> "--set key=value"
  std::vector<std::string> edits_;
};

/// Splits "a.b.c" into {"a","b","c"}.
std::vector<std::string> split_key_path(const std::string& path);

}  // namespace simfuse
