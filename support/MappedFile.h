//===- MappedFile.h - Read-only memory-mapped files -------------*- C++ -*-===//
//
// Checkpoints are model-sized (13 GB for a 7B fp16 model). They are mapped,
// never read into memory, so that loading is O(metadata) and tensors are
// zero-copy views into the mapping.
//===----------------------------------------------------------------------===//
#ifndef MIXQ_SUPPORT_MAPPEDFILE_H
#define MIXQ_SUPPORT_MAPPEDFILE_H

#include "support/Expected.h"

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>

namespace mixq {

/// A read-only private mapping of a whole file. Move-only; unmapped on
/// destruction. An empty file maps to a null pointer of size 0.
class MappedFile {
public:
  static Expected<std::unique_ptr<MappedFile>> open(const std::string &path);
  ~MappedFile();
  MappedFile(const MappedFile &) = delete;
  MappedFile &operator=(const MappedFile &) = delete;

  const uint8_t *data() const { return data_; }
  uint64_t size() const { return size_; }
  const std::string &path() const { return path_; }

  /// True when [offset, offset + length) lies inside the file, without
  /// overflowing.
  bool contains(uint64_t offset, uint64_t length) const {
    return offset <= size_ && length <= size_ - offset;
  }

private:
  MappedFile(std::string path, const uint8_t *data, uint64_t size)
      : path_(std::move(path)), data_(data), size_(size) {}
  std::string path_;
  const uint8_t *data_;
  uint64_t size_;
};

/// Bounds-checked little-endian reader over a byte range. Every read checks
/// the remaining length first, so truncated input at any offset is an error
/// naming `what` and the offset, never an out-of-bounds read.
class ByteReader {
public:
  ByteReader(const uint8_t *data, uint64_t size, std::string what)
      : data_(data), size_(size), what_(std::move(what)) {}

  uint64_t offset() const { return offset_; }
  uint64_t remaining() const { return size_ - offset_; }
  const uint8_t *current() const { return data_ + offset_; }

  Status readU8(uint8_t &out);
  Status readU16(uint16_t &out);
  Status readU32(uint32_t &out);
  Status readU64(uint64_t &out);
  Status readI32(int32_t &out);
  Status readI64(int64_t &out);
  Status readF32(float &out);
  Status readF64(double &out);
  /// Reads `length` raw bytes into `out`.
  Status readBytes(uint64_t length, std::string &out);
  Status skip(uint64_t length);
  /// The error for a read of `length` bytes at the current offset that does
  /// not fit.
  Status truncated(const char *field, uint64_t length) const;

private:
  Status need(const char *field, uint64_t length) const;
  const uint8_t *data_;
  uint64_t size_;
  uint64_t offset_ = 0;
  std::string what_;
};

} // namespace mixq

#endif // MIXQ_SUPPORT_MAPPEDFILE_H
