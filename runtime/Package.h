//===- Package.h - The .mixq package file: reader and writer ----*- C++ -*-===//
//
// A compiled model is one file: a 64-byte header, a JSON manifest (model
// config, tokenizer, kernels, plan, weight schemes) and 256-byte aligned
// blobs (packed weights, kernel objects, PTX), each with an XXH3 checksum.
// The byte layout is specified in docs/package.md.
//
// The reader maps the file read-only and checks everything it can before
// anyone touches a byte: a truncated, appended-to, corrupted or too-new
// package is rejected with a message naming the file and the fault, never
// a crash. Blobs are zero-copy views into the mapping.
//
// The writer streams blobs from caller memory (which may itself be a
// mapping of a 13 GB checkpoint) into a temporary file in the destination
// directory and renames it into place, so a failed write leaves nothing.
//
// Plain C++17: no MLIR or LLVM (the runtime builds without them).
//===----------------------------------------------------------------------===//
#ifndef MIXQ_RUNTIME_PACKAGE_H
#define MIXQ_RUNTIME_PACKAGE_H

#include "support/Expected.h"
#include "support/MappedFile.h"

#include <nlohmann/json.hpp>

#include <cstddef>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

namespace mixq::runtime {

/// The newest format version this runtime reads (and the one it writes).
inline constexpr uint32_t kPackageVersion = 1;
/// Every blob starts at a multiple of this absolute file offset.
inline constexpr uint64_t kBlobAlignment = 256;
/// The fixed header: magic, version, sizes, offsets, checksum.
inline constexpr uint64_t kPackageHeaderSize = 64;
/// The first 8 bytes of every package ("MIXQPKG" and a NUL).
inline constexpr char kPackageMagic[8] = {'M', 'I', 'X', 'Q',
                                          'P', 'K', 'G', '\0'};
/// Manifests nesting deeper than this are rejected (JSON printing and
/// comparison recurse, so a hostile manifest must not nest without bound).
inline constexpr unsigned kMaxManifestDepth = 64;

/// A zero-copy view of one blob's bytes inside the package.
struct Blob {
  const uint8_t *data = nullptr;
  size_t size = 0;
};

/// One entry of the manifest's "blobs" table, as checked by the reader.
struct BlobInfo {
  std::string name;
  uint64_t offset = 0;
  uint64_t size = 0;
  uint64_t xxh3 = 0;
  /// A blob of a weightless package (mixq-compile --weights=none): its size
  /// is recorded, but its bytes are not in the file (offset and xxh3 are 0).
  bool absent = false;
};

/// The decoded 64-byte header (all fields little-endian in the file).
struct PackageHeader {
  uint32_t version = 0;
  uint32_t headerSize = 0;
  uint64_t manifestOffset = 0;
  uint64_t manifestSize = 0;
  uint64_t manifestXXH3 = 0;
  uint64_t dataOffset = 0;
  uint64_t fileSize = 0;
  uint64_t reserved = 0;
};

struct PackageOpenOptions {
  /// Check every blob's XXH3 at open (reads the whole file once). When
  /// false, only the manifest checksum and the blob ranges are checked.
  bool verifyBlobs = true;
  /// Accept a weightless package (blobs marked absent). Off by default, so
  /// that every reader that needs the weights (mixq-run, the CPU executor)
  /// fails at open with a message that says the weights are missing; only
  /// readers that never touch weight bytes (mixq-inspect, mixq-bench
  /// --dummy-weights) turn it on. Absent blobs have no checksum to verify.
  bool allowAbsentBlobs = false;
};

/// A read-only, validated package. Movable, not copyable.
class Package {
public:
  /// Maps `path` and validates it (see docs/package.md, "Reader checks").
  static Expected<Package> open(const std::string &path,
                                const PackageOpenOptions &options = {});
  /// Same checks on an in-memory image (used by tests and the fuzz target;
  /// no copy, `data` must outlive the Package).
  static Expected<Package> fromMemory(const uint8_t *data, size_t size,
                                      const std::string &nameForErrors,
                                      const PackageOpenOptions &options = {});

  Package(Package &&other) noexcept;
  Package &operator=(Package &&other) noexcept;
  Package(const Package &) = delete;
  Package &operator=(const Package &) = delete;
  ~Package();

  /// The whole manifest, including "format", "version" and "blobs".
  const nlohmann::json &manifest() const { return manifest_; }
  bool hasBlob(const std::string &name) const;
  /// The bytes of blob `name`; the error names the missing blob. An absent
  /// blob (weightless packages only) has its size and a null `data`.
  Expected<Blob> blob(const std::string &name) const;
  /// True when some blob is absent: the package was written without its
  /// weight bytes (mixq-compile --weights=none).
  bool weightless() const { return absentBlobs_ > 0; }
  /// The number of absent blobs and the bytes they would hold.
  size_t absentBlobCount() const { return absentBlobs_; }
  uint64_t absentBytes() const { return absentBytes_; }
  /// Every blob, in file order.
  const std::vector<BlobInfo> &blobs() const { return blobs_; }
  /// Checks every blob's XXH3 now (for packages opened without it).
  Status verifyBlobs() const;
  /// True when open() checked every blob's XXH3.
  bool blobsVerified() const { return blobsVerified_; }

  /// The file name given to open() (or fromMemory()'s nameForErrors).
  const std::string &path() const { return path_; }
  uint32_t version() const { return header_.version; }
  uint64_t fileSize() const { return header_.fileSize; }
  const PackageHeader &header() const { return header_; }
  /// The start of the whole file image.
  const uint8_t *data() const { return data_; }

private:
  Package() = default;
  static Expected<Package> parse(const uint8_t *data, size_t size,
                                 const std::string &name,
                                 const PackageOpenOptions &options,
                                 std::unique_ptr<MappedFile> mapping);
  Status verifyBlob(const BlobInfo &info) const;

  /// The file open() mapped; null for fromMemory().
  std::unique_ptr<MappedFile> mapping_;
  const uint8_t *data_ = nullptr;
  std::string path_;
  PackageHeader header_;
  nlohmann::json manifest_;
  std::vector<BlobInfo> blobs_;             // sorted by offset
  std::map<std::string, size_t> blobIndex_; // name -> index in blobs_
  bool blobsVerified_ = false;
  size_t absentBlobs_ = 0;
  uint64_t absentBytes_ = 0;
};

/// Called while writing with the bytes written so far and the file size.
using WriteProgress =
    std::function<void(uint64_t bytesDone, uint64_t bytesTotal)>;

/// Collects blobs, then writes a package in one pass.
class PackageWriter {
public:
  /// Copies nothing: `data` must stay valid until write() returns (weights
  /// can be mmapped views of a 13 GB checkpoint). Error on a duplicate or
  /// empty name.
  Status addBlob(std::string name, const void *data, size_t size);
  /// Owns the bytes.
  Status addBlob(std::string name, std::vector<uint8_t> bytes);
  /// Records a blob of `size` bytes whose bytes are left out of the file
  /// (a weightless package): the manifest keeps its size, marked absent.
  Status addAbsentBlob(std::string name, uint64_t size);

  bool hasBlob(const std::string &name) const;
  size_t blobCount() const { return blobs_.size(); }
  /// The sum of all blob sizes so far.
  uint64_t blobBytes() const { return blobBytes_; }

  /// Writes atomically (temporary file in the same directory + rename; on
  /// failure nothing is left behind). Sets "blobs", "format": "mixq" and
  /// "version" in `manifest` (which must be an object), replacing any
  /// existing values. `progress`, if set, is called as bytes are written
  /// and finally with bytesDone == bytesTotal.
  Status write(const std::string &path, nlohmann::json manifest,
               const WriteProgress &progress = {}) const;

private:
  struct PendingBlob {
    std::string name;
    const uint8_t *external = nullptr;
    size_t size = 0;
    std::unique_ptr<std::vector<uint8_t>> owned;
    bool absent = false;
    const uint8_t *bytes() const { return owned ? owned->data() : external; }
  };
  Status checkNewName(const std::string &name) const;
  std::vector<PendingBlob> blobs_;
  std::map<std::string, size_t> index_;
  uint64_t blobBytes_ = 0;
};

/// Options of describePackage().
struct DescribeOptions {
  /// Append a per-weight table (name, shape, scheme, bits/weight, bytes).
  bool weights = false;
  /// Append the CUDA matmul entries' GEMV choices (shape, split-K, tile,
  /// how the weights are pipelined).
  bool kernels = false;
};

/// The human-readable summary mixq-inspect prints: file, checksums, model,
/// tokenizer, targets, plan and weight totals. Tolerates any manifest that
/// open() accepts: missing or ill-typed sections print as "none" or "?".
std::string describePackage(const Package &package,
                            const DescribeOptions &options = {});

/// "12.34 MiB" style sizes (B, KiB, MiB, GiB, TiB).
std::string formatByteSize(uint64_t bytes);

/// XXH3_64bits as 16 lowercase hex digits, as in the manifest.
std::string formatXXH3(uint64_t hash);

} // namespace mixq::runtime

#endif // MIXQ_RUNTIME_PACKAGE_H
