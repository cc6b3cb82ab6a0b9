//===- OutputFile.h - Files that appear whole or not at all -----*- C++ -*-===//
//
// Every checkpoint writer streams gigabytes; a failure half-way (disk full,
// a tensor's producer failing) must not leave a truncated file that a later
// load would reject with a confusing message, or worse, accept.
//===----------------------------------------------------------------------===//
#ifndef MIXQ_FRONTEND_OUTPUTFILE_H
#define MIXQ_FRONTEND_OUTPUTFILE_H

#include "support/Expected.h"

#include <cstdint>
#include <cstdio>
#include <string>

namespace mixq {

/// A file written under `path + ".tmp"` and renamed over `path` by commit();
/// destroyed uncommitted (any error), it removes the temporary, so that a
/// failed write leaves nothing half-written behind.
class AtomicOutputFile {
public:
  explicit AtomicOutputFile(std::string path);
  ~AtomicOutputFile();
  AtomicOutputFile(const AtomicOutputFile &) = delete;
  AtomicOutputFile &operator=(const AtomicOutputFile &) = delete;

  Status open();
  Status write(const void *data, size_t size);
  Status writeZeros(size_t size);
  /// Bytes written so far.
  uint64_t written() const { return written_; }
  /// Flushes to disk (so that a full disk is reported here rather than lost
  /// at close), then renames into place.
  Status commit();

private:
  std::string path_, tmp_;
  std::FILE *file_ = nullptr;
  uint64_t written_ = 0;
  bool committed_ = false;
};

} // namespace mixq

#endif // MIXQ_FRONTEND_OUTPUTFILE_H
