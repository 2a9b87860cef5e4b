#pragma once
/// \file Gather.hpp
/// Concatenating every rank's values on rank 0, in rank order (MPI_Gatherv with the
/// counts gathered first).
#include <mpi.h>

#include <vector>

namespace simfuse {

/// Rank 0 receives all ranks' `local` values, rank 0's first; other ranks get an empty
/// vector. `type` is the MPI type of T. Collective.
template <class T>
std::vector<T> gather_to_root(const std::vector<T>& local, MPI_Datatype type, MPI_Comm comm) {
  int rank = 0, size = 1;
  MPI_Comm_rank(comm, &rank);
  MPI_Comm_size(comm, &size);
  int n = static_cast<int>(local.size());
  std::vector<int> counts(static_cast<size_t>(size)), displs(static_cast<size_t>(size));
  MPI_Gather(&n, 1, MPI_INT, counts.data(), 1, MPI_INT, 0, comm);
  std::vector<T> all;
  if (rank == 0) {
    int total = 0;
    for (int r = 0; r < size; ++r) {
      displs[r] = total;
      total += counts[r];
    }
    all.resize(static_cast<size_t>(total));
  }
  MPI_Gatherv(local.data(), n, type, all.data(), counts.data(), displs.data(), type, 0, comm);
  return all;
}

}  // namespace simfuse
