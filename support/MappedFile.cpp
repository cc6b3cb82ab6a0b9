//===- MappedFile.cpp - Read-only memory-mapped files ---------------------===//

#include "support/MappedFile.h"

#include <cerrno>
#include <cstring>
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <limits>

using namespace mixq;

Expected<std::unique_ptr<MappedFile>>
MappedFile::open(const std::string &path) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0)
    return makeError(path, ": cannot open: ", std::strerror(errno));
  struct stat st;
  if (::fstat(fd, &st) != 0) {
    int err = errno;
    ::close(fd);
    return makeError(path, ": cannot stat: ", std::strerror(err));
  }
  if (!S_ISREG(st.st_mode)) {
    ::close(fd);
    return makeError(path, ": not a regular file");
  }
  uint64_t size = static_cast<uint64_t>(st.st_size);
  if (size > std::numeric_limits<size_t>::max()) {
    ::close(fd);
    return makeError(path, ": too large to map (", size, " bytes)");
  }
  const uint8_t *data = nullptr;
  if (size != 0) {
    void *p = ::mmap(nullptr, size_t(size), PROT_READ, MAP_PRIVATE, fd, 0);
    if (p == MAP_FAILED) {
      int err = errno;
      ::close(fd);
      return makeError(path, ": cannot mmap ", size,
                       " bytes: ", std::strerror(err));
    }
    data = static_cast<const uint8_t *>(p);
  }
  // The mapping keeps the file alive; the descriptor is not needed.
  ::close(fd);
  return std::unique_ptr<MappedFile>(new MappedFile(path, data, size));
}

MappedFile::~MappedFile() {
  if (data_)
    ::munmap(const_cast<uint8_t *>(data_), size_);
}

Status ByteReader::truncated(const char *field, uint64_t length) const {
  return makeError(what_, ": truncated: ", field, " needs ", length,
                   " bytes at offset ", offset_, " but only ", remaining(),
                   " remain");
}

Status ByteReader::need(const char *field, uint64_t length) const {
  if (length > remaining())
    return truncated(field, length);
  return Status::success();
}

// Little-endian hosts only (x86-64, aarch64): fields are copied as is.
#define MIXQ_READ_SCALAR(NAME, TYPE)                                           \
  Status ByteReader::NAME(TYPE &out) {                                         \
    if (Status s = need(#TYPE, sizeof(TYPE)); !s)                              \
      return s;                                                                \
    std::memcpy(&out, data_ + offset_, sizeof(TYPE));                          \
    offset_ += sizeof(TYPE);                                                   \
    return Status::success();                                                  \
  }
MIXQ_READ_SCALAR(readU8, uint8_t)
MIXQ_READ_SCALAR(readU16, uint16_t)
MIXQ_READ_SCALAR(readU32, uint32_t)
MIXQ_READ_SCALAR(readU64, uint64_t)
MIXQ_READ_SCALAR(readI32, int32_t)
MIXQ_READ_SCALAR(readI64, int64_t)
MIXQ_READ_SCALAR(readF32, float)
MIXQ_READ_SCALAR(readF64, double)
#undef MIXQ_READ_SCALAR

Status ByteReader::readBytes(uint64_t length, std::string &out) {
  if (Status s = need("bytes", length); !s)
    return s;
  out.assign(reinterpret_cast<const char *>(data_ + offset_), length);
  offset_ += length;
  return Status::success();
}

Status ByteReader::skip(uint64_t length) {
  if (Status s = need("bytes", length); !s)
    return s;
  offset_ += length;
  return Status::success();
}
