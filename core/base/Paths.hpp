#pragma once
/// \file Paths.hpp
/// The one rule for file names written in simfuse's YAML files (cases, generate and
/// train specs, model cards): a relative path is relative to the folder of the file that
/// names it, so a case and its models can be moved together and run from anywhere.
#include <string>

namespace simfuse {

/// What a path names: a file that is read, or one that will be written.
enum class PathUse { input, output };

/// Resolves `path`, named in `naming_file`: absolute paths stay as they are; a relative
/// path is taken relative to the folder of `naming_file` (lexically normalised). One
/// exception, for paths typed on a command line (`--set`): an input that does not exist
/// there but does relative to the working directory is taken from the working directory.
/// Outputs never fall back. An empty `naming_file` (a document made from a string) leaves
/// the path relative to the working directory.
std::string resolve_path(const std::string& path, const std::string& naming_file, PathUse use = PathUse::input);

/// Why `name` is not a plain file name that stays inside a folder (empty, '.', '..', a
/// '/', a control character, or over 100 characters), or "" if it is.
std::string plain_name_problem(const std::string& name);

/// Why the file `path` could not be written, or "" if it can: the nearest folder above it
/// that exists must be a writable folder (one that is a regular file, or not writable, is
/// named); folders that do not exist yet are fine (make_parent_folders creates them).
/// `path` itself must not be a folder or empty.
std::string output_file_problem(const std::string& path);
/// Creates the folders above the file `path`; throws UserError if it cannot.
void make_parent_folders(const std::string& path);

}  // namespace simfuse
