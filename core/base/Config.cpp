#include "simfuse/core/base/Config.hpp"

#include <fmt/format.h>
#include <spdlog/spdlog.h>
#include <yaml-cpp/eventhandler.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "simfuse/core/base/Schema.hpp"

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

// The first map key '<<' (a YAML merge key, which yaml-cpp reads as a plain key) with its
// key path: said at load, before a block's own checks ("missing 'type'") could hide it.
bool find_merge_key(const YAML::Node& n, const std::string& path, YAML::Mark& at, std::string& where, int depth = 0) {
  if (depth > 200) return false;
  if (n.IsMap()) {
    for (const auto& kv : n) {
      const std::string k = kv.first.IsScalar() ? kv.first.Scalar() : std::string();
      const std::string kp = path.empty() ? k : path + "." + k;
      if (k == "<<") {
        at = kv.first.Mark();
        where = kp;
        return true;
      }
      if (find_merge_key(kv.second, kp, at, where, depth + 1)) return true;
    }
  } else if (n.IsSequence()) {
    for (size_t i = 0; i < n.size(); ++i)
      if (find_merge_key(n[i], path + "[" + std::to_string(i) + "]", at, where, depth + 1)) return true;
  }
  return false;
}

// How deeply the text nests collections: flow brackets outside quotes and comments, and
// block sequences ('- - -') and indentation on a line. Returns the deepest level and
// where it is reached (line, column; 1-based).
struct Depth {
  long level = 0, line = 1, column = 1;
};
Depth nesting_depth(const std::string& text) {
  Depth best;
  long flow = 0, line = 1;
  size_t line_begin = 0;
  char quote = 0;
  bool comment = false;
  for (size_t i = 0; i < text.size(); ++i) {
    const char c = text[i];
    if (i == line_begin) {  // block nesting: indentation and '- ' prefixes, two columns a level
      size_t k = i;
      while (k < text.size() && (text[k] == ' ' || (text[k] == '-' && k + 1 < text.size() && text[k + 1] == ' '))) ++k;
      const long level = static_cast<long>(k - i) / 2;
      if (level > best.level) best = {level, line, static_cast<long>(k - i) + 1};
    }
    if (c == '\n') {
      ++line;
      line_begin = i + 1;
      comment = false;
      continue;
    }
    if (comment) continue;
    if (quote) {
      if (c == quote) quote = 0;
      continue;
    }
    if (c == '#') comment = true;
    if (c == '"' || c == '\'') quote = c;
    if (c == '[' || c == '{') {
      ++flow;
      if (flow > best.level) best = {flow, line, static_cast<long>(i - line_begin) + 1};
    }
    if ((c == ']' || c == '}') && flow > 0) --flow;
  }
  return best;
}

// The longest line and where: YAML limits an implicit key to 1024 characters.
std::pair<size_t, long> longest_line(const std::string& text) {
  size_t best = 0, len = 0;
  long line = 1, at = 1;
  for (char c : text) {
    if (c == '\n') {
      if (len > best) best = len, at = line;
      len = 0;
      ++line;
    } else {
      ++len;
    }
  }
  if (len > best) best = len, at = line;
  return {best, at};
}

// UTF-16 or UTF-32 text (with a byte-order mark, or ASCII with every other byte 0) as
// UTF-8; other text as it is. Sets `encoding` to what was decoded ("" when nothing was).
std::string to_utf8(const std::string& raw, std::string& encoding) {
  const auto u = [&](size_t i) { return static_cast<unsigned char>(raw[i]); };
  const size_t n = raw.size();
  bool le = false, be = false;
  size_t start = 0;
  if (n >= 2 && u(0) == 0xFF && u(1) == 0xFE && !(n >= 4 && u(2) == 0 && u(3) == 0)) {
    le = true;
    start = 2;
  } else if (n >= 2 && u(0) == 0xFE && u(1) == 0xFF) {
    be = true;
    start = 2;
  } else if (n >= 4 && n % 2 == 0 && u(0) != 0 && u(1) == 0 && u(2) != 0 && u(3) == 0) {
    le = true;
  } else if (n >= 4 && n % 2 == 0 && u(0) == 0 && u(1) != 0 && u(2) == 0 && u(3) != 0) {
    be = true;
  }
  if (!le && !be) return raw;
  encoding = le ? "UTF-16LE" : "UTF-16BE";
  std::string out;
  const auto put = [&](unsigned long cp) {
    if (cp < 0x80) {
      out += static_cast<char>(cp);
    } else if (cp < 0x800) {
      out += static_cast<char>(0xC0 | (cp >> 6));
      out += static_cast<char>(0x80 | (cp & 0x3F));
    } else if (cp < 0x10000) {
      out += static_cast<char>(0xE0 | (cp >> 12));
      out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
      out += static_cast<char>(0x80 | (cp & 0x3F));
    } else {
      out += static_cast<char>(0xF0 | (cp >> 18));
      out += static_cast<char>(0x80 | ((cp >> 12) & 0x3F));
      out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
      out += static_cast<char>(0x80 | (cp & 0x3F));
    }
  };
  for (size_t i = start; i + 1 < n; i += 2) {
    unsigned long w = le ? (u(i) | (u(i + 1) << 8)) : ((u(i) << 8) | u(i + 1));
    if (w >= 0xD800 && w < 0xDC00 && i + 3 < n) {
      const unsigned long w2 = le ? (u(i + 2) | (u(i + 3) << 8)) : ((u(i + 2) << 8) | u(i + 3));
      if (w2 >= 0xDC00 && w2 < 0xE000) {
        w = 0x10000 + ((w - 0xD800) << 10) + (w2 - 0xDC00);
        i += 2;
      }
    }
    put(w);
  }
  return out;
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
  // Deeper than any case needs: yaml-cpp recurses per level (and says only "bad file" past
  // its own limit), so say what it is, and where.
  constexpr long kMaxDepth = 256;
  if (const Depth d = nesting_depth(text); d.level > kMaxDepth)
    throw UserError(Diagnostic{Location{origin, static_cast<int>(d.line), static_cast<int>(d.column)},
                               {},
                               fmt::format("the YAML nests more than {} levels deep here (lists or maps inside each "
                                           "other): no case needs that",
                                           kMaxDepth),
                               "check for runaway brackets or '- ' prefixes; a case nests a few levels"});
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
    // YAML allows an implicit key of at most 1024 characters; yaml-cpp then says only
    // "illegal map value".
    if (const auto [len, line] = longest_line(text); len > 1024 && e.msg.find("map") != std::string::npos)
      throw UserError(Diagnostic{Location{origin, static_cast<int>(line), 1},
                                 {},
                                 fmt::format("a line of {} characters: YAML allows a key (the text before ':') of at "
                                             "most 1024 characters",
                                             len),
                                 "shorten the key; a long value goes after the ':' or in a quoted string"});
    throw UserError(Diagnostic{Location{origin, e.mark.line + 1, e.mark.column + 1},
                               {},
                               "YAML syntax error: " + e.msg,
                               "check indentation (spaces only), colons after keys, and matching "
                               "brackets and quotes"});
  }
  YAML::Mark at;
  std::string where;
  if (find_merge_key(doc.root_, "", at, where))
    throw UserError(Diagnostic{Location{origin, at.line + 1, at.column + 1}, where,
                               "YAML merge keys ('<<: *anchor') are not supported: simfuse's YAML reader (yaml-cpp) "
                               "takes '<<' as a plain key",
                               "write the keys out in this block instead of merging them from an anchor"});
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
  std::string encoding;
  text = to_utf8(text, encoding);  // a UTF-16 file (Windows editors write them) reads as its text
  if (!encoding.empty()) spdlog::debug("{} '{}' is {}: read as UTF-8", what, path, encoding);
  if (text.find('\0') != std::string::npos)
    throw UserError(Diagnostic{Location{path},
                               {},
                               what + " '" + path + "' is a binary file (it holds NUL bytes)",
                               "give the YAML file (text in UTF-8, or UTF-16 with its byte-order mark)"});
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
