//===- Package.cpp - The .mixq package file: reader and writer ------------===//
//
// Format: docs/package.md. Every check of the reader is listed there, in
// the order it is made here.
//===----------------------------------------------------------------------===//

#include "runtime/Package.h"

#include <xxhash.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cinttypes>
#include <cstdio>
#include <cstring>
#include <fcntl.h>
#include <limits>
#include <map>
#include <optional>
#include <set>
#include <unistd.h>

using namespace mixq;
using namespace mixq::runtime;
using json = nlohmann::json;

namespace {

//===----------------------------------------------------------------------===//
// Helpers
//===----------------------------------------------------------------------===//

// Fields are little-endian on every host: decode and encode bytewise.
uint32_t loadU32(const uint8_t *p) {
  uint32_t v = 0;
  for (int i = 3; i >= 0; --i)
    v = (v << 8) | p[i];
  return v;
}

uint64_t loadU64(const uint8_t *p) {
  uint64_t v = 0;
  for (int i = 7; i >= 0; --i)
    v = (v << 8) | p[i];
  return v;
}

void storeU32(uint8_t *p, uint32_t v) {
  for (int i = 0; i < 4; ++i)
    p[i] = uint8_t(v >> (8 * i));
}

void storeU64(uint8_t *p, uint64_t v) {
  for (int i = 0; i < 8; ++i)
    p[i] = uint8_t(v >> (8 * i));
}

/// True when [offset, offset + length) lies inside [0, limit), computed
/// without overflow (offset + length may exceed 2^64).
bool fitsIn(uint64_t offset, uint64_t length, uint64_t limit) {
  return static_cast<unsigned __int128>(offset) + length <= limit;
}

/// `value` rounded up to kBlobAlignment; nullopt on overflow.
std::optional<uint64_t> alignUp(uint64_t value) {
  unsigned __int128 aligned =
      (static_cast<unsigned __int128>(value) + kBlobAlignment - 1) /
      kBlobAlignment * kBlobAlignment;
  if (aligned > std::numeric_limits<uint64_t>::max())
    return std::nullopt;
  return static_cast<uint64_t>(aligned);
}

/// A name from a (possibly hostile) manifest as error text.
std::string quote(const std::string &name) {
  std::string text = name.size() > 200 ? name.substr(0, 200) + "..." : name;
  return "'" + text + "'";
}

/// A JSON value as short error text (containers are only described).
std::string describe(const json &value) {
  if (value.is_object())
    return "an object";
  if (value.is_array())
    return "an array of " + std::to_string(value.size()) + " elements";
  if (value.is_null())
    return "null";
  std::string text = value.dump(-1, ' ', false, json::error_handler_t::replace);
  if (text.size() > 80)
    text = text.substr(0, 80) + "...";
  return text;
}

/// The deepest nesting of [ and { in JSON text, outside strings. Run on the
/// raw manifest before parsing, so that nothing recursive ever sees a
/// deeper document.
unsigned jsonNestingDepth(const char *text, size_t size) {
  unsigned depth = 0, deepest = 0;
  bool inString = false, escaped = false;
  for (size_t i = 0; i < size; ++i) {
    char c = text[i];
    if (inString) {
      if (escaped)
        escaped = false;
      else if (c == '\\')
        escaped = true;
      else if (c == '"')
        inString = false;
      continue;
    }
    if (c == '"') {
      inString = true;
    } else if (c == '[' || c == '{') {
      deepest = std::max(deepest, ++depth);
    } else if ((c == ']' || c == '}') && depth > 0) {
      --depth;
    }
  }
  return deepest;
}

bool parseHex64(const std::string &text, uint64_t &out) {
  if (text.size() != 16)
    return false;
  uint64_t value = 0;
  for (char c : text) {
    unsigned digit;
    if (c >= '0' && c <= '9')
      digit = unsigned(c - '0');
    else if (c >= 'a' && c <= 'f')
      digit = unsigned(c - 'a' + 10);
    else
      return false;
    value = (value << 4) | digit;
  }
  out = value;
  return true;
}

} // namespace

std::string mixq::runtime::formatXXH3(uint64_t hash) {
  char text[17];
  std::snprintf(text, sizeof(text), "%016" PRIx64, hash);
  return text;
}

std::string mixq::runtime::formatByteSize(uint64_t bytes) {
  static const char *const units[] = {"B", "KiB", "MiB", "GiB", "TiB"};
  if (bytes < 1024)
    return std::to_string(bytes) + " B";
  double value = double(bytes);
  int unit = 0;
  while (value >= 1024.0 && unit < 4) {
    value /= 1024.0;
    ++unit;
  }
  char text[64];
  std::snprintf(text, sizeof(text), "%.2f %s", value, units[unit]);
  return text;
}

//===----------------------------------------------------------------------===//
// Package (reader)
//===----------------------------------------------------------------------===//

Package::Package(Package &&other) noexcept = default;
Package &Package::operator=(Package &&other) noexcept = default;
Package::~Package() = default;

Expected<Package> Package::open(const std::string &path,
                                const PackageOpenOptions &options) {
  auto mapping = MappedFile::open(path);
  if (!mapping)
    return mapping.status();
  const uint8_t *data = (*mapping)->data();
  size_t size = size_t((*mapping)->size());
  return parse(data, size, path, options, mapping.take());
}

Expected<Package> Package::fromMemory(const uint8_t *data, size_t size,
                                      const std::string &nameForErrors,
                                      const PackageOpenOptions &options) {
  return parse(data, size, nameForErrors, options, nullptr);
}

namespace {

/// A weightless package's blob entry: {"absent": true, "size": N}, with no
/// offset or checksum, since its bytes are not in the file.
Status parseAbsentBlob(const json &value, const json &absent,
                       const std::string &where, BlobInfo &info) {
  if (!absent.is_boolean() || !absent.get<bool>())
    return makeError(where, ": \"absent\" must be true, not ",
                     describe(absent));
  auto size = value.find("size");
  if (size == value.end() || !size->is_number_unsigned())
    return makeError(where, ": \"size\" must be a non-negative integer, not ",
                     size == value.end() ? "missing" : describe(*size));
  for (const char *key : {"offset", "xxh3"})
    if (value.contains(key))
      return makeError(where, ": an absent blob has no \"", key, "\"");
  info.size = size->get<uint64_t>();
  info.absent = true;
  return Status::success();
}

} // namespace

Expected<Package> Package::parse(const uint8_t *data, size_t size,
                                 const std::string &name,
                                 const PackageOpenOptions &options,
                                 std::unique_ptr<MappedFile> mapping) {
  // 1. Magic (as much of it as there is), then the header's size.
  size_t magicBytes = std::min<size_t>(size, sizeof(kPackageMagic));
  if (magicBytes && std::memcmp(data, kPackageMagic, magicBytes) != 0)
    return makeError(name, ": not a mixq package (the file does not start "
                           "with the magic \"MIXQPKG\\0\")");
  if (size < kPackageHeaderSize)
    return makeError(name, ": truncated: the file has ", uint64_t(size),
                     " bytes, less than the ", kPackageHeaderSize,
                     "-byte package header");

  PackageHeader h;
  h.version = loadU32(data + 8);
  h.headerSize = loadU32(data + 12);
  h.manifestOffset = loadU64(data + 16);
  h.manifestSize = loadU64(data + 24);
  h.manifestXXH3 = loadU64(data + 32);
  h.dataOffset = loadU64(data + 40);
  h.fileSize = loadU64(data + 48);
  h.reserved = loadU64(data + 56);

  // 2. Version: newer ones may change anything after it.
  if (h.version == 0)
    return makeError(name, ": corrupt header: package version 0");
  if (h.version > kPackageVersion)
    return makeError(name, ": package version ", h.version,
                     " is newer than this runtime supports (", kPackageVersion,
                     "); rebuild mixq-run from a newer mixq");

  // 3. The rest of the header.
  if (h.headerSize != kPackageHeaderSize)
    return makeError(name, ": corrupt header: header_size is ", h.headerSize,
                     ", expected ", kPackageHeaderSize);
  if (h.fileSize > size)
    return makeError(name, ": truncated: header says ", h.fileSize,
                     " bytes, file has ", uint64_t(size));
  if (h.fileSize < size)
    return makeError(name, ": header says ", h.fileSize, " bytes, file has ",
                     uint64_t(size), ": ", uint64_t(size) - h.fileSize,
                     " unexpected bytes at the end (appended to, or corrupt)");
  if (h.reserved != 0)
    return makeError(name, ": corrupt header: the reserved field is ",
                     h.reserved, ", expected 0");
  if (h.manifestOffset != kPackageHeaderSize)
    return makeError(name, ": corrupt header: manifest_offset is ",
                     h.manifestOffset, ", expected ", kPackageHeaderSize);
  if (!fitsIn(h.manifestOffset, h.manifestSize, h.fileSize))
    return makeError(name, ": corrupt header: the manifest (", h.manifestSize,
                     " bytes at offset ", h.manifestOffset,
                     ") extends past the end of the file (", h.fileSize,
                     " bytes)");
  uint64_t manifestEnd = h.manifestOffset + h.manifestSize;
  if (h.dataOffset % kBlobAlignment != 0 || h.dataOffset < manifestEnd ||
      h.dataOffset > h.fileSize)
    return makeError(name, ": corrupt header: data_offset ", h.dataOffset,
                     " must be a multiple of ", kBlobAlignment,
                     " between the manifest's end (", manifestEnd,
                     ") and the end of the file (", h.fileSize, ")");

  // 4. The manifest: checksum, then JSON.
  const char *text = reinterpret_cast<const char *>(data + h.manifestOffset);
  uint64_t actual = XXH3_64bits(text, size_t(h.manifestSize));
  if (actual != h.manifestXXH3)
    return makeError(name, ": manifest checksum mismatch: the header says ",
                     formatXXH3(h.manifestXXH3), " but the ", h.manifestSize,
                     " manifest bytes hash to ", formatXXH3(actual),
                     " (corrupt file)");
  if (jsonNestingDepth(text, size_t(h.manifestSize)) > kMaxManifestDepth)
    return makeError(name, ": manifest nests deeper than ", kMaxManifestDepth,
                     " levels");
  json manifest;
  try {
    manifest = json::parse(text, text + h.manifestSize);
  } catch (const json::exception &e) {
    return makeError(name, ": manifest is not valid JSON: ", e.what());
  }
  if (!manifest.is_object())
    return makeError(name, ": manifest must be a JSON object, not ",
                     describe(manifest));
  auto format = manifest.find("format");
  if (format == manifest.end() || !format->is_string() || *format != "mixq")
    return makeError(name, ": manifest \"format\" is ",
                     format == manifest.end() ? "missing" : describe(*format),
                     ", expected \"mixq\"");
  auto version = manifest.find("version");
  if (version == manifest.end() || !version->is_number_unsigned() ||
      version->get<uint64_t>() != h.version)
    return makeError(name, ": manifest \"version\" is ",
                     version == manifest.end() ? "missing" : describe(*version),
                     ", which does not match the header's version ", h.version);

  // 5. The blob table: well-formed entries, aligned, inside the data
  // section, not overlapping.
  auto blobsIt = manifest.find("blobs");
  if (blobsIt == manifest.end() || !blobsIt->is_object())
    return makeError(name, ": manifest \"blobs\" must be an object, not ",
                     blobsIt == manifest.end() ? "missing"
                                               : describe(*blobsIt));
  std::vector<BlobInfo> blobs;
  blobs.reserve(blobsIt->size());
  for (const auto &entry : blobsIt->items()) {
    const std::string where = name + ": blob " + quote(entry.key());
    const json &value = entry.value();
    if (!value.is_object())
      return makeError(where, ": entry must be an object, not ",
                       describe(value));
    BlobInfo info;
    info.name = entry.key();
    auto absent = value.find("absent");
    if (absent != value.end()) {
      if (Status s = parseAbsentBlob(value, *absent, where, info); !s)
        return s;
      blobs.push_back(std::move(info));
      continue;
    }
    for (auto [key, out] :
         {std::pair<const char *, uint64_t *>{"offset", &info.offset},
          {"size", &info.size}}) {
      auto it = value.find(key);
      if (it == value.end() || !it->is_number_unsigned())
        return makeError(where, ": \"", key,
                         "\" must be a non-negative integer, not ",
                         it == value.end() ? "missing" : describe(*it));
      *out = it->get<uint64_t>();
    }
    auto hash = value.find("xxh3");
    if (hash == value.end() || !hash->is_string() ||
        !parseHex64(hash->get<std::string>(), info.xxh3))
      return makeError(where,
                       ": \"xxh3\" must be 16 lowercase hex digits, "
                       "not ",
                       hash == value.end() ? "missing" : describe(*hash));
    if (info.offset % kBlobAlignment != 0)
      return makeError(where, ": offset ", info.offset, " is not ",
                       kBlobAlignment, "-byte aligned");
    if (info.offset < h.dataOffset)
      return makeError(where, ": offset ", info.offset,
                       " lies before the data section (data_offset ",
                       h.dataOffset, ")");
    if (!fitsIn(info.offset, info.size, h.fileSize))
      return makeError(where, ": ", info.size, " bytes at offset ", info.offset,
                       " extend past the end of the file (", h.fileSize,
                       " bytes)");
    blobs.push_back(std::move(info));
  }
  std::sort(
      blobs.begin(), blobs.end(), [](const BlobInfo &a, const BlobInfo &b) {
        return a.offset != b.offset ? a.offset < b.offset : a.size < b.size;
      });
  const BlobInfo *furthest = nullptr; // the non-empty blob ending last
  for (const BlobInfo &info : blobs) {
    if (info.size == 0 || info.absent)
      continue;
    if (furthest && info.offset < furthest->offset + furthest->size)
      return makeError(name, ": blob ", quote(info.name), " [", info.offset,
                       ", ", info.offset + info.size, ") overlaps blob ",
                       quote(furthest->name), " [", furthest->offset, ", ",
                       furthest->offset + furthest->size, ")");
    if (!furthest ||
        info.offset + info.size > furthest->offset + furthest->size)
      furthest = &info;
  }

  Package package;
  package.mapping_ = std::move(mapping);
  package.data_ = data;
  package.path_ = name;
  package.header_ = h;
  package.manifest_ = std::move(manifest);
  package.blobs_ = std::move(blobs);
  for (size_t i = 0; i < package.blobs_.size(); ++i) {
    package.blobIndex_.emplace(package.blobs_[i].name, i);
    if (package.blobs_[i].absent) {
      ++package.absentBlobs_;
      package.absentBytes_ += package.blobs_[i].size;
    }
  }
  if (package.weightless() && !options.allowAbsentBlobs)
    return makeError(name,
                     ": a weightless package (mixq-compile --weights=none): ",
                     package.absentBlobs_, " weight blobs (",
                     formatByteSize(package.absentBytes_),
                     ") are not in the file, so it cannot run; only mixq-bench "
                     "--dummy-weights (which generates weights on the GPU) and "
                     "mixq-inspect --no-verify read it");

  // 6. Blob checksums, in file order.
  if (options.verifyBlobs) {
    if (Status s = package.verifyBlobs(); !s)
      return s;
    package.blobsVerified_ = true;
  }
  return package;
}

Status Package::verifyBlob(const BlobInfo &info) const {
  uint64_t actual = XXH3_64bits(data_ + info.offset, size_t(info.size));
  if (actual != info.xxh3)
    return makeError(path_, ": checksum mismatch in blob ", quote(info.name),
                     ": the manifest says ", formatXXH3(info.xxh3), " but its ",
                     info.size, " bytes hash to ", formatXXH3(actual),
                     " (corrupt file)");
  return Status::success();
}

Status Package::verifyBlobs() const {
  if (weightless())
    return makeError(path_,
                     ": cannot verify the weights of a weightless "
                     "package (mixq-compile --weights=none): ",
                     absentBlobs_, " blobs (", formatByteSize(absentBytes_),
                     ") are not in the file");
  for (const BlobInfo &info : blobs_)
    if (Status s = verifyBlob(info); !s)
      return s;
  return Status::success();
}

bool Package::hasBlob(const std::string &name) const {
  return blobIndex_.count(name) != 0;
}

Expected<Blob> Package::blob(const std::string &name) const {
  auto it = blobIndex_.find(name);
  if (it == blobIndex_.end())
    return makeError(path_, ": the package has no blob ", quote(name));
  const BlobInfo &info = blobs_[it->second];
  Blob out;
  out.data = info.absent ? nullptr : data_ + info.offset;
  out.size = size_t(info.size);
  return out;
}

//===----------------------------------------------------------------------===//
// PackageWriter
//===----------------------------------------------------------------------===//

Status PackageWriter::checkNewName(const std::string &name) const {
  if (name.empty())
    return makeError("package blob names must not be empty");
  if (index_.count(name))
    return makeError("duplicate package blob ", quote(name));
  return Status::success();
}

Status PackageWriter::addBlob(std::string name, const void *data, size_t size) {
  if (Status s = checkNewName(name); !s)
    return s;
  if (size && !data)
    return makeError("package blob ", quote(name), ": null data for ", size,
                     " bytes");
  PendingBlob blob;
  blob.name = name;
  blob.external = static_cast<const uint8_t *>(data);
  blob.size = size;
  index_.emplace(std::move(name), blobs_.size());
  blobs_.push_back(std::move(blob));
  blobBytes_ += size;
  return Status::success();
}

Status PackageWriter::addBlob(std::string name, std::vector<uint8_t> bytes) {
  if (Status s = checkNewName(name); !s)
    return s;
  PendingBlob blob;
  blob.name = name;
  blob.size = bytes.size();
  blob.owned = std::make_unique<std::vector<uint8_t>>(std::move(bytes));
  blobBytes_ += blob.size;
  index_.emplace(std::move(name), blobs_.size());
  blobs_.push_back(std::move(blob));
  return Status::success();
}

Status PackageWriter::addAbsentBlob(std::string name, uint64_t size) {
  if (Status s = checkNewName(name); !s)
    return s;
  if (size > std::numeric_limits<size_t>::max())
    return makeError("package blob ", quote(name), ": ", size,
                     " bytes do not fit in memory");
  PendingBlob blob;
  blob.name = name;
  blob.size = size_t(size);
  blob.absent = true;
  blobBytes_ += blob.size;
  index_.emplace(std::move(name), blobs_.size());
  blobs_.push_back(std::move(blob));
  return Status::success();
}

bool PackageWriter::hasBlob(const std::string &name) const {
  return index_.count(name) != 0;
}

namespace {

/// A file created next to the destination and renamed over it by commit();
/// destroyed uncommitted, it is closed and removed. Writes go through a
/// 1 MiB buffer; larger pieces are written directly from the caller.
class TemporaryFile {
public:
  static constexpr size_t kBufferSize = size_t(1) << 20;

  explicit TemporaryFile(std::string path) : path_(std::move(path)) {}
  ~TemporaryFile() {
    if (fd_ >= 0)
      ::close(fd_);
    if (created_ && !committed_)
      ::unlink(tmp_.c_str());
  }
  TemporaryFile(const TemporaryFile &) = delete;
  TemporaryFile &operator=(const TemporaryFile &) = delete;

  Status create() {
    static std::atomic<unsigned> counter{0};
    for (int attempt = 0; attempt < 100; ++attempt) {
      tmp_ = path_ + ".tmp." + std::to_string(::getpid()) + "." +
             std::to_string(counter++);
      fd_ = ::open(tmp_.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0666);
      if (fd_ >= 0) {
        created_ = true;
        buffer_.resize(kBufferSize);
        return Status::success();
      }
      if (errno != EEXIST)
        break;
    }
    return makeError(path_, ": cannot create the temporary file ", tmp_, ": ",
                     std::strerror(errno));
  }

  /// Appends `size` bytes.
  Status write(const void *data, size_t size) {
    const uint8_t *bytes = static_cast<const uint8_t *>(data);
    if (used_ + size > buffer_.size())
      if (Status s = flush(); !s)
        return s;
    if (size >= buffer_.size()) {
      if (Status s = writeAt(bytes, size, flushed_); !s)
        return s;
      flushed_ += size;
    } else {
      std::memcpy(buffer_.data() + used_, bytes, size);
      used_ += size;
    }
    return Status::success();
  }

  Status writeZeros(uint64_t size) {
    static const uint8_t zeros[kBlobAlignment] = {};
    while (size) {
      size_t chunk = size_t(std::min<uint64_t>(size, sizeof(zeros)));
      if (Status s = write(zeros, chunk); !s)
        return s;
      size -= chunk;
    }
    return Status::success();
  }

  Status flush() {
    if (used_) {
      if (Status s = writeAt(buffer_.data(), used_, flushed_); !s)
        return s;
      flushed_ += used_;
      used_ = 0;
    }
    return Status::success();
  }

  /// Bytes appended so far.
  uint64_t written() const { return flushed_ + used_; }

  /// Overwrites bytes already flushed, at `offset`.
  Status rewrite(const void *data, size_t size, uint64_t offset) {
    if (Status s = flush(); !s)
      return s;
    return writeAt(static_cast<const uint8_t *>(data), size, offset);
  }

  /// Flushes to disk (so that a full disk is reported here, not lost at
  /// close), closes and renames into place.
  Status commit() {
    if (Status s = flush(); !s)
      return s;
    if (::fsync(fd_) != 0)
      return makeError(path_, ": cannot write package: fsync of ", tmp_,
                       " failed: ", std::strerror(errno));
    int rc = ::close(fd_);
    fd_ = -1;
    if (rc != 0)
      return makeError(path_, ": cannot write package: closing ", tmp_,
                       " failed: ", std::strerror(errno));
    if (std::rename(tmp_.c_str(), path_.c_str()) != 0)
      return makeError(path_, ": cannot rename ", tmp_,
                       " to it: ", std::strerror(errno));
    committed_ = true;
    return Status::success();
  }

private:
  Status writeAt(const uint8_t *data, size_t size, uint64_t offset) {
    while (size) {
      // Linux writes at most ~2 GiB per call.
      size_t chunk = std::min<size_t>(size, size_t(1) << 30);
      ssize_t n = ::pwrite(fd_, data, chunk, off_t(offset));
      if (n < 0 && errno == EINTR)
        continue;
      if (n <= 0)
        return makeError(path_, ": cannot write package: writing ", tmp_,
                         " failed at offset ", offset, ": ",
                         n < 0 ? std::strerror(errno) : "no progress");
      data += n;
      size -= size_t(n);
      offset += uint64_t(n);
    }
    return Status::success();
  }

  std::string path_, tmp_;
  int fd_ = -1;
  bool created_ = false, committed_ = false;
  std::vector<uint8_t> buffer_;
  size_t used_ = 0;
  uint64_t flushed_ = 0;
};

struct XXH3StateDeleter {
  void operator()(XXH3_state_t *state) const { XXH3_freeState(state); }
};

} // namespace

Status PackageWriter::write(const std::string &path, json manifest,
                            const WriteProgress &progress) const {
  if (manifest.is_null())
    manifest = json::object();
  if (!manifest.is_object())
    return makeError(path, ": the package manifest must be a JSON object, not ",
                     describe(manifest));
  manifest["format"] = "mixq";
  manifest["version"] = kPackageVersion;

  // The manifest holds the blob offsets, which depend on its own size.
  // Lay the blobs out after a guessed data offset, serialize, and grow the
  // guess until the manifest fits before it. The hashes are 16-digit
  // placeholders now and filled in after the blobs are written, so the
  // size does not change then.
  std::vector<uint64_t> offsets(blobs_.size());
  uint64_t dataOffset = kBlobAlignment, fileSize = 0;
  std::string text;
  for (int iteration = 0;; ++iteration) {
    if (iteration > 64)
      return makeError(path, ": internal error: the package layout does not "
                             "converge");
    uint64_t position = dataOffset;
    json table = json::object();
    for (size_t i = 0; i < blobs_.size(); ++i) {
      if (blobs_[i].absent) {
        table[blobs_[i].name] = {{"absent", true},
                                 {"size", uint64_t(blobs_[i].size)}};
        continue;
      }
      std::optional<uint64_t> offset = alignUp(position);
      if (!offset || !fitsIn(*offset, blobs_[i].size,
                             std::numeric_limits<uint64_t>::max()))
        return makeError(path, ": the package would exceed 2^64 bytes");
      offsets[i] = *offset;
      position = *offset + blobs_[i].size;
      table[blobs_[i].name] = {{"offset", offsets[i]},
                               {"size", uint64_t(blobs_[i].size)},
                               {"xxh3", formatXXH3(0)}};
    }
    fileSize = position;
    manifest["blobs"] = std::move(table);
    try {
      text = manifest.dump(-1, ' ', false, json::error_handler_t::strict);
    } catch (const json::exception &e) {
      return makeError(path,
                       ": cannot serialize the package manifest: ", e.what());
    }
    std::optional<uint64_t> needed =
        alignUp(kPackageHeaderSize + uint64_t(text.size()));
    if (!needed)
      return makeError(path, ": the package manifest is too large");
    if (*needed <= dataOffset)
      break;
    dataOffset = *needed;
  }
  if (jsonNestingDepth(text.data(), text.size()) > kMaxManifestDepth)
    return makeError(path, ": the package manifest nests deeper than ",
                     kMaxManifestDepth, " levels, which readers reject");

  TemporaryFile file(path);
  if (Status s = file.create(); !s)
    return s;
  auto report = [&] {
    if (progress)
      progress(file.written(), fileSize);
  };

  // Header and manifest now (rewritten with the checksums at the end), so
  // that the blobs stream in one sequential pass.
  uint8_t header[kPackageHeaderSize] = {};
  std::memcpy(header, kPackageMagic, sizeof(kPackageMagic));
  storeU32(header + 8, kPackageVersion);
  storeU32(header + 12, uint32_t(kPackageHeaderSize));
  storeU64(header + 16, kPackageHeaderSize);
  storeU64(header + 24, text.size());
  storeU64(header + 32, 0); // manifest_xxh3, filled in below
  storeU64(header + 40, dataOffset);
  storeU64(header + 48, fileSize);
  storeU64(header + 56, 0);
  if (Status s = file.write(header, sizeof(header)); !s)
    return s;
  if (Status s = file.write(text.data(), text.size()); !s)
    return s;
  report();

  // Blobs, hashed as they are written, in chunks that stay in cache
  // between hashing and copying.
  std::unique_ptr<XXH3_state_t, XXH3StateDeleter> state(XXH3_createState());
  if (!state)
    return makeError(path, ": out of memory");
  constexpr size_t kChunk = TemporaryFile::kBufferSize;
  json &table = manifest["blobs"];
  if (Status s = file.writeZeros(dataOffset - file.written()); !s)
    return s;
  for (size_t i = 0; i < blobs_.size(); ++i) {
    const PendingBlob &blob = blobs_[i];
    if (blob.absent)
      continue;
    if (Status s = file.writeZeros(offsets[i] - file.written()); !s)
      return s;
    XXH3_64bits_reset(state.get());
    const uint8_t *bytes = blob.bytes();
    for (size_t done = 0; done < blob.size;) {
      size_t chunk = std::min(kChunk, blob.size - done);
      XXH3_64bits_update(state.get(), bytes + done, chunk);
      if (Status s = file.write(bytes + done, chunk); !s)
        return s;
      done += chunk;
      report();
    }
    table[blob.name]["xxh3"] = formatXXH3(XXH3_64bits_digest(state.get()));
  }
  if (file.written() != fileSize)
    return makeError(path, ": internal error: wrote ", file.written(),
                     " bytes, the layout says ", fileSize);

  // The final manifest (same size: only the fixed-width hashes changed)
  // and its checksum.
  std::string finalText =
      manifest.dump(-1, ' ', false, json::error_handler_t::strict);
  if (finalText.size() != text.size())
    return makeError(path, ": internal error: the manifest changed size "
                           "when its checksums were filled in");
  storeU64(header + 32, XXH3_64bits(finalText.data(), finalText.size()));
  if (Status s =
          file.rewrite(finalText.data(), finalText.size(), kPackageHeaderSize);
      !s)
    return s;
  if (Status s = file.rewrite(header, sizeof(header), 0); !s)
    return s;
  if (Status s = file.commit(); !s)
    return s;
  if (progress)
    progress(fileSize, fileSize);
  return Status::success();
}

//===----------------------------------------------------------------------===//
// describePackage (mixq-inspect)
//===----------------------------------------------------------------------===//

namespace {

const json *field(const json &object, const char *key) {
  if (!object.is_object())
    return nullptr;
  auto it = object.find(key);
  return it == object.end() ? nullptr : &*it;
}

/// A scalar as text: strings unquoted, others as JSON, containers
/// described; "?" for a missing value.
std::string scalarText(const json *value) {
  if (!value)
    return "?";
  if (value->is_string()) {
    const std::string &s = value->get_ref<const std::string &>();
    return s.size() > 200 ? s.substr(0, 200) + "..." : s;
  }
  return describe(*value);
}

std::optional<double> numberOf(const json *value) {
  if (!value || !value->is_number())
    return std::nullopt;
  return value->get<double>();
}

std::optional<uint64_t> unsignedOf(const json *value) {
  if (!value || !value->is_number_unsigned())
    return std::nullopt;
  return value->get<uint64_t>();
}

/// The number of elements of a shape; nullopt if it is not an array of
/// non-negative integers or the product overflows.
std::optional<uint64_t> elementCount(const json *shape) {
  if (!shape || !shape->is_array())
    return std::nullopt;
  unsigned __int128 count = 1;
  for (const json &dim : *shape) {
    if (!dim.is_number_unsigned())
      return std::nullopt;
    count *= dim.get<uint64_t>();
    if (count > std::numeric_limits<uint64_t>::max())
      return std::nullopt;
  }
  return uint64_t(count);
}

std::string shapeText(const json *shape) {
  if (!shape || !shape->is_array())
    return "?";
  std::string text;
  for (const json &dim : *shape) {
    if (!text.empty())
      text += "x";
    text += dim.is_number() ? describe(dim) : "?";
  }
  return text.empty() ? "scalar" : text;
}

std::string fixed(double value, int digits) {
  char text[64];
  std::snprintf(text, sizeof(text), "%.*f", digits, value);
  return text;
}

/// "1 kernel", "3 kernels", "? kernels" (not an array).
std::string countOf(const json *array, const std::string &noun) {
  if (!array || !array->is_array())
    return "? " + noun + "s";
  return std::to_string(array->size()) + " " + noun +
         (array->size() == 1 ? "" : "s");
}

/// The manifest's targets.cuda.kernels, or null where a level is missing.
const json *cudaKernelsOf(const json &manifest) {
  const json *targets = field(manifest, "targets");
  const json *cuda = targets ? field(*targets, "cuda") : nullptr;
  return cuda ? field(*cuda, "kernels") : nullptr;
}

/// " (N CUDA launches)" for a plan entry of a package with CUDA kernels: a
/// step launches every entry of its kernel (split attention has two). Empty
/// without a CUDA target or when the fields are malformed.
std::string cudaLaunchesOf(const json &manifest, const json &planEntry) {
  const json *kernels = cudaKernelsOf(manifest);
  const json *steps = field(planEntry, "steps");
  if (!kernels || !kernels->is_array() || !steps || !steps->is_array())
    return "";
  std::map<std::string, size_t> entries;
  for (const json &kernel : *kernels)
    if (const json *name = field(kernel, "name"); name && name->is_string())
      ++entries[name->get<std::string>()];
  size_t launches = 0;
  for (const json &step : *steps) {
    const json *kernel = field(step, "kernel");
    if (!kernel || !kernel->is_string())
      return "";
    auto it = entries.find(kernel->get<std::string>());
    launches += it == entries.end() ? 0 : it->second;
  }
  return " (" + std::to_string(launches) + " CUDA launch" +
         (launches == 1 ? "" : "es") + ")";
}

/// "key value, key value" for the scalars of `object`, `order` first.
std::vector<std::string> scalarFields(const json &object,
                                      const std::vector<std::string> &order) {
  std::vector<std::string> out;
  std::set<std::string> seen;
  auto add = [&](const std::string &key, const json &value) {
    if (value.is_structured() || seen.count(key))
      return;
    seen.insert(key);
    out.push_back(key + " " + scalarText(&value));
  };
  for (const std::string &key : order)
    if (const json *value = field(object, key.c_str()))
      add(key, *value);
  for (const auto &entry : object.items())
    add(entry.key(), entry.value());
  return out;
}

/// Joins `items` into lines of at most ~76 characters, each after `indent`.
void appendWrapped(std::string &out, const std::vector<std::string> &items,
                   const std::string &firstPrefix, const std::string &indent) {
  std::string line = firstPrefix;
  bool empty = true;
  for (const std::string &item : items) {
    if (!empty && line.size() + item.size() + 2 > 78) {
      out += line + ",\n";
      line = indent;
      empty = true;
    }
    if (!empty)
      line += ", ";
    line += item;
    empty = false;
  }
  out += line + "\n";
}

/// Left-aligned text columns, right-aligned number columns (`numeric`),
/// two spaces apart, without trailing blanks; the first row is the header.
std::string formatTable(const std::vector<std::vector<std::string>> &rows,
                        const std::vector<bool> &numeric) {
  std::vector<size_t> width(numeric.size(), 0);
  for (const auto &row : rows)
    for (size_t i = 0; i < row.size() && i < width.size(); ++i)
      width[i] = std::max(width[i], row[i].size());
  std::string out;
  for (const auto &row : rows) {
    std::string line = "  ";
    for (size_t i = 0; i < row.size() && i < width.size(); ++i) {
      std::string cell = row[i];
      if (numeric[i])
        cell.insert(0, width[i] - cell.size(), ' ');
      else
        cell.resize(width[i], ' ');
      line += cell + "  ";
    }
    while (!line.empty() && line.back() == ' ')
      line.pop_back();
    out += line + "\n";
  }
  return out;
}

/// One line per matrix of every CUDA matmul entry: the GEMV generator's
/// per-shape choices (the kernels' "gemv" records, docs/cuda.md). Empty
/// when the package has none; "?" for a malformed field.
std::string describeGemvKernels(const json &manifest) {
  const json *kernels = cudaKernelsOf(manifest);
  if (!kernels || !kernels->is_array())
    return "";
  std::vector<std::vector<std::string>> table = {{"entry", "N x K", "blocks",
                                                  "rows/warp", "split-K",
                                                  "tile", "mma", "weights"}};
  for (const json &kernel : *kernels) {
    const json *gemvs = field(kernel, "gemv");
    if (!gemvs || !gemvs->is_array())
      continue;
    for (const json &gemv : *gemvs) {
      auto text = [&](const char *key) { return scalarText(field(gemv, key)); };
      const json *mma = field(gemv, "tensor_cores");
      std::string weights = text("weights");
      if (const json *depth = field(gemv, "pipeline_depth");
          depth && depth->is_number_integer() && depth->get<int64_t>() > 1)
        weights += " x" + std::to_string(depth->get<int64_t>());
      table.push_back(
          {scalarText(field(kernel, "entry")),
           text("rows") + " x " + text("cols"), text("blocks"),
           text("rows_per_warp"), text("split_k"), text("tile_cols"),
           mma && mma->is_boolean() ? (mma->get<bool>() ? "yes" : "no") : "?",
           weights});
    }
  }
  if (table.size() == 1)
    return "";
  return "\nCUDA matmuls (weights: how the codes reach the lanes, x the "
         "steps in flight):\n" +
         formatTable(table,
                     {false, false, true, true, true, true, false, false});
}

} // namespace

std::string mixq::runtime::describePackage(const Package &package,
                                           const DescribeOptions &options) {
  const json &m = package.manifest();
  const std::string indent(12, ' ');
  auto label = [](const char *name) {
    std::string text = std::string(name) + ":";
    text.resize(std::max<size_t>(text.size() + 1, 12), ' ');
    return text;
  };
  std::string out;
  out += label("package") + package.path() + "\n";
  out += label("format") + "mixq package version " +
         std::to_string(package.version()) + "\n";
  out += label("file size") + formatByteSize(package.fileSize()) + " (" +
         std::to_string(package.fileSize()) + " bytes)\n";
  out += label("checksums") + "manifest ok, " +
         std::to_string(package.blobs().size()) + " blobs " +
         (package.blobsVerified() ? "ok" : "not verified") + "\n";
  if (package.weightless())
    out += label("weights") +
           "ABSENT: a weightless package (mixq-compile "
           "--weights=none); " +
           std::to_string(package.absentBlobCount()) + " blobs, " +
           formatByteSize(package.absentBytes()) +
           ", are not in the file (mixq-bench --dummy-weights runs it)\n";
  const json *producer = field(m, "producer");
  out += label("producer") + (producer ? scalarText(producer) : "none") + "\n";

  // Model configuration.
  const json *model = field(m, "model");
  if (!model || !model->is_object() || model->empty()) {
    out += label("model") + "none\n";
  } else {
    appendWrapped(out,
                  scalarFields(*model, {"dim", "hidden_dim", "n_layers",
                                        "n_heads", "n_kv_heads", "head_dim",
                                        "vocab_size", "max_seq_len"}),
                  label("model"), indent);
  }

  // Tokenizer.
  const json *tokenizer = field(m, "tokenizer");
  if (!tokenizer || !tokenizer->is_object()) {
    out += label("tokenizer") + "none\n";
  } else {
    const json *kind = field(*tokenizer, "model");
    out += label("tokenizer") + (kind ? scalarText(kind) : "?") + ", " +
           countOf(field(*tokenizer, "tokens"), "token") + ", bos " +
           scalarText(field(*tokenizer, "bos")) + ", eos " +
           scalarText(field(*tokenizer, "eos")) + "\n";
  }

  // Targets: kernel counts and the size of their object/PTX blobs.
  const json *targets = field(m, "targets");
  if (!targets || !targets->is_object() || targets->empty()) {
    out += label("targets") + "none\n";
  } else {
    bool first = true;
    for (const auto &entry : targets->items()) {
      const json &target = entry.value();
      std::vector<std::string> items;
      if (const json *triple = field(target, "triple"))
        items.push_back(scalarText(triple));
      for (const char *key : {"cpu", "chip"})
        if (const json *value = field(target, key))
          items.push_back(std::string(key) + " " + scalarText(value));
      items.push_back(countOf(field(target, "kernels"), "kernel"));
      auto blobItem = [&](const std::string &name, const json &value) {
        std::string item = name + " " + scalarText(&value);
        if (value.is_string() && package.hasBlob(value.get<std::string>()))
          return item + " (" +
                 formatByteSize(package.blob(value.get<std::string>())->size) +
                 ")";
        return item + " (not in the package)";
      };
      for (const char *key : {"object", "ptx"}) {
        const json *value = field(target, key);
        if (!value)
          continue;
        // CUDA keeps one PTX blob per chip: {"sm_80": "cuda/sm_80.ptx"}.
        if (value->is_object()) {
          for (const auto &chip : value->items())
            items.push_back(
                blobItem(std::string(key) + " " + chip.key(), chip.value()));
          continue;
        }
        items.push_back(blobItem(key, *value));
      }
      if (const json *chips = field(target, "programmatic_launch");
          chips && chips->is_array()) {
        std::string names;
        for (const json &chip : *chips)
          names += (names.empty() ? "" : ", ") + scalarText(&chip);
        items.push_back("programmatic launch on " + names);
      }
      appendWrapped(out, items,
                    (first ? label("targets") : indent) + quote(entry.key()) +
                        ": ",
                    indent + "  ");
      first = false;
    }
  }

  // Plan entries.
  const json *plan = field(m, "plan");
  if (!plan || !plan->is_object() || plan->empty()) {
    out += label("plan") + "none\n";
  } else {
    bool first = true;
    for (const auto &entry : plan->items()) {
      out += (first ? label("plan") : indent) + entry.key() + ": " +
             countOf(field(entry.value(), "steps"), "step") +
             cudaLaunchesOf(m, entry.value()) + ", " +
             countOf(field(entry.value(), "buffers"), "buffer") + "\n";
      first = false;
    }
  }

  // Decode widths of a multi-width package: what each reads per step.
  const json *widths = field(m, "widths");
  const json *decodeWidths = widths ? field(*widths, "decode") : nullptr;
  if (decodeWidths && decodeWidths->is_array()) {
    bool first = true;
    for (const json &width : *decodeWidths) {
      const json *bits = field(width, "bits_per_weight");
      const json *bytes = field(width, "bytes_per_step");
      std::string text = "decode " + scalarText(field(width, "width")) +
                         ": plan " + scalarText(field(width, "plan"));
      if (bits && bits->is_number()) {
        char buffer[32];
        std::snprintf(buffer, sizeof(buffer), "%.4f", bits->get<double>());
        text += std::string(", ") + buffer + " bits/weight read";
      }
      if (bytes && bytes->is_number_unsigned())
        text += ", " + formatByteSize(bytes->get<uint64_t>()) + " per step";
      out += (first ? label("widths") : indent) + text + "\n";
      first = false;
    }
    const json *prefill = field(*widths, "prefill");
    if (prefill)
      out += indent + "prefill at width " + scalarText(prefill) + "\n";
  }

  // Weights: totals, and optionally a table.
  const json *weights = field(m, "weights");
  if (!weights || !weights->is_array() || weights->empty()) {
    out += label("weights") + "none\n";
    return out;
  }
  struct Row {
    std::string name, shape, scheme, bits, bytes, error;
  };
  std::vector<Row> rows;
  uint64_t totalParams = 0, totalBytes = 0;
  bool paramsKnown = true;
  double weightedBits = 0, bitsParams = 0;
  std::set<std::string> countedBlobs;
  for (const json &weight : *weights) {
    Row row;
    row.name = scalarText(field(weight, "name"));
    row.shape = shapeText(field(weight, "shape"));
    const json *scheme = field(weight, "scheme");
    row.scheme = scheme ? scalarText(scheme) : "?";
    std::optional<uint64_t> params = elementCount(field(weight, "shape"));
    if (params && totalParams + *params >= totalParams)
      totalParams += *params;
    else
      paramsKnown = false;
    // Stored bytes: the blobs of its components.
    uint64_t bytes = 0;
    bool bytesKnown = true;
    const json *components = field(weight, "components");
    if (components && components->is_array()) {
      for (const json &component : *components) {
        const json *blobName = field(component, "blob");
        if (!blobName || !blobName->is_string() ||
            !package.hasBlob(blobName->get<std::string>())) {
          bytesKnown = false;
          continue;
        }
        uint64_t size = package.blob(blobName->get<std::string>())->size;
        bytes += size;
        if (countedBlobs.insert(blobName->get<std::string>()).second)
          totalBytes += size;
      }
    } else {
      bytesKnown = false;
    }
    std::optional<double> bits = numberOf(field(weight, "bits_per_weight"));
    if (!bits && bytesKnown && params && *params)
      bits = double(bytes) * 8.0 / double(*params);
    if (bits && params) {
      weightedBits += *bits * double(*params);
      bitsParams += double(*params);
    }
    row.bits = bits ? fixed(*bits, 2) : "?";
    row.bytes = bytesKnown ? formatByteSize(bytes) : "?";
    std::optional<double> error = numberOf(field(weight, "rel_error"));
    row.error = error ? fixed(*error, 4) : "-";
    rows.push_back(std::move(row));
  }
  std::vector<std::string> items;
  items.push_back(std::to_string(rows.size()) + " weights");
  items.push_back((paramsKnown ? std::to_string(totalParams) : "?") +
                  " parameters");
  items.push_back((bitsParams > 0 ? fixed(weightedBits / bitsParams, 2)
                                  : std::string("?")) +
                  " bits/weight");
  items.push_back(formatByteSize(totalBytes));
  appendWrapped(out, items, label("weights"), indent);

  if (options.weights) {
    std::vector<std::vector<std::string>> table = {
        {"name", "shape", "scheme", "bits/w", "bytes", "rel_error"}};
    for (const Row &row : rows)
      table.push_back(
          {row.name, row.shape, row.scheme, row.bits, row.bytes, row.error});
    out += "\n" + formatTable(table, {false, false, false, true, true, true});
  }
  if (options.kernels)
    out += describeGemvKernels(package.manifest());
  return out;
}
