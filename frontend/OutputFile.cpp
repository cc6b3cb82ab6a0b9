//===- OutputFile.cpp - Files that appear whole or not at all -------------===//

#include "frontend/OutputFile.h"

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <unistd.h>

using namespace mixq;

AtomicOutputFile::AtomicOutputFile(std::string path)
    : path_(std::move(path)), tmp_(path_ + ".tmp") {}

AtomicOutputFile::~AtomicOutputFile() {
  if (file_)
    std::fclose(file_);
  if (!committed_)
    std::remove(tmp_.c_str());
}

Status AtomicOutputFile::open() {
  file_ = std::fopen(tmp_.c_str(), "wb");
  if (!file_)
    return makeError(tmp_, ": cannot create: ", std::strerror(errno));
  return Status::success();
}

Status AtomicOutputFile::write(const void *data, size_t size) {
  if (size && std::fwrite(data, 1, size, file_) != size)
    return makeError(tmp_, ": write failed after ", written_,
                     " bytes: ", std::strerror(errno));
  written_ += size;
  return Status::success();
}

Status AtomicOutputFile::writeZeros(size_t size) {
  static const uint8_t zeros[64] = {};
  while (size) {
    size_t chunk = std::min(size, sizeof(zeros));
    if (Status s = write(zeros, chunk); !s)
      return s;
    size -= chunk;
  }
  return Status::success();
}

Status AtomicOutputFile::commit() {
  if (std::fflush(file_) != 0 || ::fsync(::fileno(file_)) != 0)
    return makeError(tmp_, ": write failed: ", std::strerror(errno));
  int rc = std::fclose(file_);
  file_ = nullptr;
  if (rc != 0)
    return makeError(tmp_, ": write failed: ", std::strerror(errno));
  if (std::rename(tmp_.c_str(), path_.c_str()) != 0)
    return makeError(path_, ": cannot rename ", tmp_,
                     " to it: ", std::strerror(errno));
  committed_ = true;
  return Status::success();
}
