#include "simfuse/core/Config.hpp"

#include <fmt/format.h>
#include <yaml-cpp/eventhandler.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "simfuse/core/Schema.hpp"

namespace simfuse {

namespace {

ConfigDocument check_root(ConfigDocument doc, const YAML::Node& root, const std::string& origin) {
  if (!root.IsMap()) {
    Location loc{origin, 1, 1};
    if (root.IsDefined() && !root.IsNull() && root.Mark().line >= 0)
      loc = {origin, root.Mark().line + 1, root.Mark().column + 1};
    throw UserError(
        Diagnostic{loc,
                   {},
                   root.IsNull() ? "the case document is empty" : "the top level of a case must be a mapping of keys",
                   "start from a shipped case, e.g. cases/heat2d.yaml"});
  }
  return doc;
}

bool valid_key(const std::string& k) {
  if (k.empty()) return false;
  for (char c : k)
    if (!(std::isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '-')) return false;
  return true;
}

}  // namespace

std::vector<std::string> split_key_path(const std::string& path) {
  std::vector<std::string> parts;
  std::string cur;
  for (char c : path) {
    if (c == '.') {
      parts.push_back(cur);
      cur.clear();
    } else {
      cur += c;
    }
  }
  parts.push_back(cur);
  return parts;
}

namespace {
// Records where each document starts; ignores the rest.
struct DocumentStarts final : YAML::EventHandler {
  std::vector<YAML::Mark> marks;
  void OnDocumentStart(const YAML::Mark& m) override { marks.push_back(m); }
  void OnDocumentEnd() override {}
  void OnNull(const YAML::Mark&, YAML::anchor_t) override {}
  void OnAlias(const YAML::Mark&, YAML::anchor_t) override {}
  void OnScalar(const YAML::Mark&, const std::string&, YAML::anchor_t, const std::string&) override {}
  void OnSequenceStart(const YAML::Mark&, const std::string&, YAML::anchor_t, YAML::EmitterStyle::value) override {}
  void OnSequenceEnd() override {}
  void OnMapStart(const YAML::Mark&, const std::string&, YAML::anchor_t, YAML::EmitterStyle::value) override {}
  void OnMapEnd() override {}
};
}  // namespace

ConfigDocument ConfigDocument::from_string(const std::string& text, const std::string& origin) {
  ConfigDocument doc;
  doc.origin_ = origin;
  try {
    // How many documents, by yaml-cpp's event parser, at most two: YAML::LoadAll loops
    // forever, allocating until memory runs out, on a stray ',' at the top level (", a";
    // found by libFuzzer): its parser returns an empty document without moving on.
    DocumentStarts starts;
    {
      std::istringstream in(text);
      YAML::Parser parser(in);
      for (int i = 0; i < 2 && parser.HandleNextDocument(starts); ++i) {
      }
    }
    if (starts.marks.size() > 1) {
      const YAML::Mark a = starts.marks[0], b = starts.marks[1];
      const Location at{origin, b.line + 1, b.column + 1};
      if (a.pos == b.pos) {  // no progress: the parser is stuck on a character it cannot take
        const char c = static_cast<size_t>(b.pos) < text.size() ? text[static_cast<size_t>(b.pos)] : ' ';
        throw UserError(Diagnostic{at,
                                   {},
                                   fmt::format("YAML syntax error: unexpected '{}'", c),
                                   "check indentation (spaces only), colons after keys, and matching brackets "
                                   "and quotes"});
      }
      throw UserError(Diagnostic{at,
                                 {},
                                 "the file holds more than one YAML document (separated by '---'); a case is one",
                                 "remove the '---' line and what follows, or merge the documents into one"});
    }
    doc.root_ = starts.marks.empty() ? YAML::Node() : YAML::Load(text);
  } catch (const YAML::ParserException& e) {
    throw UserError(Diagnostic{Location{origin, e.mark.line + 1, e.mark.column + 1},
                               {},
                               "YAML syntax error: " + e.msg,
                               "check indentation (spaces only), colons after keys, and matching "
                               "brackets and quotes"});
  }
  return check_root(doc, doc.root_, origin);
}

ConfigDocument ConfigDocument::load_file(const std::string& path, const std::string& what) {
  const std::string hint = what == "case file" ? "check the path; shipped cases are in cases/" : "check the path";
  // Only regular files of a sane size: a device (/dev/zero), a FIFO or a huge file would
  // be read until memory runs out, a directory reads as an empty document.
  constexpr std::uintmax_t max_bytes = 16u << 20;
  std::error_code ec;
  const auto st = std::filesystem::status(path, ec);
  if (!ec && std::filesystem::is_directory(st))
    throw UserError(Diagnostic{Location{path}, {}, what + " '" + path + "' is a directory", "give the YAML file"});
  if (!ec && std::filesystem::exists(st) && !std::filesystem::is_regular_file(st))
    throw UserError(Diagnostic{
        Location{path}, {}, what + " '" + path + "' is not a regular file (a device or pipe)", "give the YAML file"});
  const auto too_large = [&] {
    return UserError(
        Diagnostic{Location{path},
                   {},
                   fmt::format("{} '{}' is larger than {} MiB: not a YAML {}", what, path, max_bytes >> 20, what),
                   "give the YAML file (large data belong in datasets or mesh files it names)"});
  };
  if (!ec && std::filesystem::is_regular_file(st) && std::filesystem::file_size(path, ec) > max_bytes && !ec)
    throw too_large();
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    const int err = errno;
    throw UserError(
        Diagnostic{Location{path}, {}, "cannot read " + what + " '" + path + "': " + std::strerror(err), hint});
  }
  std::string text;
  text.resize(max_bytes + 1);
  in.read(text.data(), static_cast<std::streamsize>(text.size()));
  text.resize(static_cast<size_t>(in.gcount()));
  if (text.size() > max_bytes) throw too_large();  // grew while we read it
  if (text.find('\0') != std::string::npos)
    throw UserError(Diagnostic{
        Location{path}, {}, what + " '" + path + "' is a binary file (it holds NUL bytes)", "give the YAML file"});
  return from_string(text, path);
}

void ConfigDocument::set(const std::string& assignment) {
  const std::string origin = "--set " + assignment;
  const auto eq = assignment.find('=');
  if (eq == std::string::npos || eq == 0)
    throw UserError(Diagnostic{Location{origin},
                               {},
                               "malformed override '" + assignment + "'",
                               "write --set key.path=value, e.g. --set solver.params.kappa=0.5"});
  const std::string path = assignment.substr(0, eq);
  const std::string text = assignment.substr(eq + 1);
  const auto parts = split_key_path(path);
  for (const auto& p : parts)
    if (!valid_key(p))
      throw UserError(Diagnostic{Location{origin}, path, "malformed key path '" + path + "'",
                                 "key paths are names joined by dots, e.g. grid.n or "
                                 "solver.params.kappa"});
  YAML::Node value;
  try {
    value = YAML::Load(text);
  } catch (const YAML::ParserException& e) {
    throw UserError(Diagnostic{Location{origin}, path, "value '" + text + "' is not valid YAML: " + e.msg,
                               "quote strings that contain ':' or '#', e.g. --set 'a.b=\"x: y\"'"});
  }
  if (text.empty()) value = YAML::Node(YAML::NodeType::Null);

  YAML::Node cur = root_;
  std::string prefix;
  for (size_t i = 0; i + 1 < parts.size(); ++i) {
    prefix += (i ? "." : "") + parts[i];
    YAML::Node next = cur[parts[i]];
    if (!next.IsDefined() || next.IsNull()) {
      next = YAML::Node(YAML::NodeType::Map);
      cur[parts[i]] = next;
      next.reset(cur[parts[i]]);
    } else if (!next.IsMap()) {
      throw UserError(Diagnostic{Location{origin}, path,
                                 "cannot set '" + path + "': '" + prefix + "' is a value, not a section",
                                 "override the whole value with --set " + prefix + "=..."});
    }
    cur.reset(next);
  }
  cur[parts.back()] = value;
  overrides_[path] = origin;
  edits_.push_back(origin);
}

void ConfigDocument::unset(const std::string& key_path) {
  const std::string origin = "--unset " + key_path;
  const auto parts = split_key_path(key_path);
  for (const auto& p : parts)
    if (!valid_key(p))
      throw UserError(Diagnostic{Location{origin}, key_path, "malformed key path '" + key_path + "'",
                                 "key paths are names joined by dots, e.g. time.t_end"});
  YAML::Node cur = root_;
  size_t depth = 0;  // the levels of key_path that exist as maps
  for (; depth + 1 < parts.size(); ++depth) {
    const YAML::Node next = cur[parts[depth]];
    if (!next.IsDefined() || !next.IsMap()) break;
    cur.reset(next);
  }
  if (depth + 1 < parts.size() || !cur.IsMap() || !cur[parts.back()].IsDefined()) {
    // Suggest what is there, at the deepest level that exists (never the key just given).
    std::vector<std::string> keys;
    if (cur.IsMap())
      for (const auto& kv : cur) keys.push_back(kv.first.Scalar());
    std::string prefix;
    for (size_t i = 0; i < depth; ++i) prefix += parts[i] + ".";
    const auto near = nearest(parts[depth], keys);
    std::string fix = !near ? std::string()
                      : depth + 1 == parts.size()
                          ? fmt::format("did you mean --unset {}{}? ", prefix, *near)
                          : fmt::format("did you mean '{}{}' for '{}{}'? ", prefix, *near, prefix, parts[depth]);
    fix += keys.empty()
               ? "give the key path of a value in the file"
               : fmt::format("keys {}: {}",
                             prefix.empty() ? "at the top" : "under '" + prefix.substr(0, prefix.size() - 1) + "'",
                             join(keys));
    throw UserError(Diagnostic{Location{origin}, key_path,
                               "cannot remove '" + key_path + "': " + origin_ + " has no such key", fix});
  }
  cur.remove(parts.back());
  // A --set of the same key or below it no longer applies.
  for (auto it = overrides_.begin(); it != overrides_.end();)
    it = (it->first == key_path || it->first.rfind(key_path + ".", 0) == 0) ? overrides_.erase(it) : std::next(it);
  edits_.push_back(origin);
}

Location ConfigDocument::locate(const YAML::Node& node, const std::string& key_path) const {
  // An override wins over file positions for its path and everything below it.
  std::string best;
  for (const auto& [p, o] : overrides_) {
    const bool prefix = key_path == p || (key_path.size() > p.size() && key_path.compare(0, p.size(), p) == 0 &&
                                          key_path[p.size()] == '.');
    if (prefix && p.size() >= best.size()) best = p;
  }
  if (!best.empty()) return Location{overrides_.at(best)};
  if (node.IsDefined()) {
    const auto m = node.Mark();
    if (m.line >= 0) return Location{origin_, m.line + 1, m.column + 1};
  }
  // A key the file does not have, made by an override below it (--set a.b.c=1 made 'a').
  for (const auto& [p, o] : overrides_)
    if (p.size() > key_path.size() && p.compare(0, key_path.size(), key_path) == 0 && p[key_path.size()] == '.')
      return Location{o};
  return Location{origin_};
}

}  // namespace simfuse
