#include "simfuse/core/Files.hpp"

#include <fcntl.h>
#include <fmt/format.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "simfuse/core/base/Error.hpp"

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

void write_file_atomic(const std::string& path, const std::string& content, bool durable) {
  const std::string tmp = path + ".tmp." + std::to_string(getpid());
  auto fail = [&](const std::string& why) {
    std::error_code ec;
    fs::remove(tmp, ec);
    return UserError(fmt::format("cannot write '{}': {}", path, why),
                     "check that the output folder is writable and the disk is not full");
  };
  const int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) throw fail(std::strerror(errno));
  size_t done = 0;
  while (done < content.size()) {
    const ssize_t w = ::write(fd, content.data() + done, content.size() - done);
    if (w < 0 && errno == EINTR) continue;
    if (w <= 0) {
      const int err = errno;
      ::close(fd);
      throw fail(std::strerror(err));
    }
    done += static_cast<size_t>(w);
  }
  if (durable && ::fsync(fd) != 0) {
    const int err = errno;
    ::close(fd);
    throw fail(std::strerror(err));
  }
  if (::close(fd) != 0) throw fail(std::strerror(errno));
  std::error_code ec;
  fs::rename(tmp, path, ec);
  if (ec) throw fail(ec.message());
  if (durable) {  // the rename itself reaches the disk with the folder's entry
    const std::string dir = fs::path(path).has_parent_path() ? fs::path(path).parent_path().string() : ".";
    const int dfd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dfd >= 0) {
      ::fsync(dfd);
      ::close(dfd);
    }
  }
}

std::optional<std::string> read_file(const std::string& path, std::uintmax_t max_bytes) {
  // Regular files only, checked on the open descriptor: a FIFO would block the reader and a
  // link to /dev/zero would be read for ever (O_NONBLOCK makes the open of a FIFO return).
  const int fd = ::open(path.c_str(), O_RDONLY | O_NONBLOCK | O_CLOEXEC);
  if (fd < 0) return std::nullopt;
  struct stat st {};
  if (::fstat(fd, &st) != 0 || !S_ISREG(st.st_mode) || static_cast<std::uintmax_t>(st.st_size) > max_bytes) {
    ::close(fd);
    return std::nullopt;
  }
  std::string out(static_cast<size_t>(st.st_size), '\0');
  size_t done = 0;
  while (done < out.size()) {
    const ssize_t r = ::read(fd, out.data() + done, out.size() - done);
    if (r < 0 && errno == EINTR) continue;
    if (r <= 0) break;
    done += static_cast<size_t>(r);
  }
  ::close(fd);
  if (done != out.size()) return std::nullopt;  // shrank while read
  return out;
}

}  // namespace simfuse
