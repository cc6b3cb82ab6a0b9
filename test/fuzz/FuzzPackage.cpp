//===- FuzzPackage.cpp - libFuzzer target: the .mixq package reader -------===//
//
// Feeds arbitrary bytes to Package::fromMemory() twice: as they are, and
// with the header's file_size and manifest checksum fixed up (so that
// mutations of the manifest and blob table get past the checksum and reach
// the JSON and range checks), each with and without blob verification and
// with and without weightless packages (absent blobs) allowed.
// Besides "no crash, no out-of-bounds access, no exception, no huge
// allocation", it checks the reader's promises on every package it
// accepts: blobs aligned, inside the data section and the input, not
// overlapping, and reachable by name; and that describePackage() (what
// mixq-inspect prints) handles the manifest. A broken promise traps, so
// libFuzzer reports the input.
//===----------------------------------------------------------------------===//

#include "runtime/Package.h"

#include <xxhash.h>

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <vector>

using namespace mixq;
using namespace mixq::runtime;

namespace {

void check(bool condition) {
  if (!condition)
    __builtin_trap();
}

uint64_t loadU64(const uint8_t *p) {
  uint64_t v = 0;
  for (int i = 7; i >= 0; --i)
    v = (v << 8) | p[i];
  return v;
}

void storeU64(uint8_t *p, uint64_t v) {
  for (int i = 0; i < 8; ++i)
    p[i] = uint8_t(v >> (8 * i));
}

void exercise(const uint8_t *data, size_t size, bool verifyBlobs,
              bool allowAbsent) {
  PackageOpenOptions options;
  options.verifyBlobs = verifyBlobs;
  options.allowAbsentBlobs = allowAbsent;
  auto package = Package::fromMemory(data, size, "fuzz.mixq", options);
  if (!package) {
    check(!package.message().empty());
    return;
  }
  const Package &p = *package;
  // A weightless package opens only when allowed, and never verified.
  check(!p.weightless() || (allowAbsent && !verifyBlobs));
  check(p.data() == data);
  check(p.fileSize() == size);
  check(p.version() >= 1 && p.version() <= kPackageVersion);
  check(p.blobsVerified() == verifyBlobs);
  check(p.manifest().is_object());
  check(p.manifest().at("format") == "mixq");
  const PackageHeader &h = p.header();
  check(h.dataOffset % kBlobAlignment == 0 && h.dataOffset <= size);

  volatile uint8_t sink = 0;
  const BlobInfo *previous = nullptr;
  size_t absent = 0;
  for (const BlobInfo &info : p.blobs()) {
    if (info.absent) {
      ++absent;
      check(info.offset == 0 && info.xxh3 == 0);
      auto blob = p.blob(info.name);
      check(blob.ok() && blob->data == nullptr && blob->size == info.size);
      continue;
    }
    check(info.offset % kBlobAlignment == 0);
    check(info.offset >= h.dataOffset);
    check(info.offset <= size && info.size <= size - info.offset);
    if (info.size != 0) {
      if (previous)
        check(previous->offset + previous->size <= info.offset);
      previous = &info;
    }
    check(p.hasBlob(info.name));
    auto blob = p.blob(info.name);
    check(blob.ok());
    check(blob->data == data + info.offset && blob->size == info.size);
    if (blob->size) {
      // ASan checks that these bytes lie inside the input.
      sink = sink + blob->data[0];
      sink = sink + blob->data[blob->size - 1];
    }
  }
  check(absent == p.absentBlobCount());
  check(!p.blob("\x01no such blob").ok());
  // Verified at open, or not: verifyBlobs() now must agree with a
  // verifying open.
  if (verifyBlobs)
    check(p.verifyBlobs().ok());

  DescribeOptions describe;
  describe.weights = true;
  check(!describePackage(p, describe).empty());
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  for (bool allowAbsent : {false, true}) {
    exercise(data, size, /*verifyBlobs=*/true, allowAbsent);
    exercise(data, size, /*verifyBlobs=*/false, allowAbsent);
  }

  // The same bytes with file_size and the manifest checksum made right.
  if (size < kPackageHeaderSize)
    return 0;
  std::vector<uint8_t> fixed(data, data + size);
  storeU64(fixed.data() + 48, size);
  uint64_t manifestOffset = loadU64(fixed.data() + 16);
  uint64_t manifestSize = loadU64(fixed.data() + 24);
  if (manifestOffset <= size && manifestSize <= size - manifestOffset)
    storeU64(fixed.data() + 32,
             XXH3_64bits(fixed.data() + manifestOffset, size_t(manifestSize)));
  if (std::memcmp(fixed.data(), data, size) != 0) {
    for (bool allowAbsent : {false, true}) {
      exercise(fixed.data(), fixed.size(), /*verifyBlobs=*/true, allowAbsent);
      exercise(fixed.data(), fixed.size(), /*verifyBlobs=*/false, allowAbsent);
    }
  }
  return 0;
}
