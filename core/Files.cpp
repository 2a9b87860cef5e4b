#include "core/Files.hpp"

#include <fmt/format.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>

#include "core/Error.hpp"

namespace simfuse {

namespace fs = std::filesystem;

void ensure_directory(const std::string& dir, MPI_Comm comm) {
  int rank = 0;
  MPI_Comm_rank(comm, &rank);
  char msg[512] = {0};
  if (rank == 0) {
    std::error_code ec;
    fs::create_directories(dir, ec);
    if (ec) {
      std::snprintf(msg, sizeof msg, "cannot create output folder '%s': %s", dir.c_str(), ec.message().c_str());
    } else if (access(dir.c_str(), W_OK) != 0) {
      std::snprintf(msg, sizeof msg, "output folder '%s' is not writable: %s", dir.c_str(), std::strerror(errno));
    }
  }
  MPI_Bcast(msg, sizeof msg, MPI_CHAR, 0, comm);
  if (msg[0]) throw UserError(msg, "choose another folder with --output DIR (or output.dir in the case)");
}

void write_file_atomic(const std::string& path, const std::string& content) {
  const std::string tmp = path + ".tmp." + std::to_string(getpid());
  {
    std::ofstream out(tmp, std::ios::binary | std::ios::trunc);
    if (out) out << content;
    out.flush();
    if (!out) {
      const int err = errno;
      std::error_code ec;
      fs::remove(tmp, ec);
      throw UserError(fmt::format("cannot write '{}': {}", path, std::strerror(err)),
                      "check that the output folder is writable and the disk is not full");
    }
  }
  std::error_code ec;
  fs::rename(tmp, path, ec);
  if (ec) {
    fs::remove(tmp, ec);
    throw UserError(fmt::format("cannot write '{}': {}", path, ec.message()),
                    "check that the output folder is writable");
  }
}

}  // namespace simfuse
