//===- PackageTest.cpp - The .mixq package reader and writer --------------===//
//
// Header fields are checked at the byte positions docs/package.md gives,
// decoded here by hand; corrupt packages are made by editing a good one's
// bytes (and, where the point is a bad blob table, by rewriting its
// manifest and fixing up the header's size and checksum).
//===----------------------------------------------------------------------===//

#include "runtime/Package.h"

#include <gtest/gtest.h>
#include <xxhash.h>

#include <csignal>
#include <cstdio>
#include <cstring>
#include <dirent.h>
#include <fstream>
#include <iterator>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

using namespace mixq;
using namespace mixq::runtime;
using json = nlohmann::json;

namespace {

/// A fresh directory under the test's temporary directory, removed (with
/// its files) at the end.
class TempDir {
public:
  TempDir() {
    std::string base = ::testing::TempDir();
    if (base.empty() || base.back() != '/')
      base += '/';
    std::string pattern = base + "mixq-package-XXXXXX";
    std::vector<char> buffer(pattern.begin(), pattern.end());
    buffer.push_back('\0');
    const char *made = ::mkdtemp(buffer.data());
    EXPECT_NE(made, nullptr);
    path_ = made ? made : base;
  }
  ~TempDir() { removeTree(path_); }
  const std::string &path() const { return path_; }
  std::string file(const std::string &name) const { return path_ + "/" + name; }

  /// The names in the directory, sorted, without . and ..
  std::vector<std::string> entries() const { return list(path_); }

  static std::vector<std::string> list(const std::string &dir) {
    std::vector<std::string> names;
    if (DIR *d = ::opendir(dir.c_str())) {
      while (dirent *e = ::readdir(d)) {
        std::string name = e->d_name;
        if (name != "." && name != "..")
          names.push_back(name);
      }
      ::closedir(d);
    }
    std::sort(names.begin(), names.end());
    return names;
  }

private:
  static void removeTree(const std::string &path) {
    struct stat st;
    if (::lstat(path.c_str(), &st) != 0)
      return;
    if (S_ISDIR(st.st_mode)) {
      ::chmod(path.c_str(), 0700);
      for (const std::string &name : list(path))
        removeTree(path + "/" + name);
      ::rmdir(path.c_str());
    } else {
      ::unlink(path.c_str());
    }
  }
  std::string path_;
};

std::vector<uint8_t> readFile(const std::string &path) {
  std::ifstream in(path, std::ios::binary);
  return std::vector<uint8_t>(std::istreambuf_iterator<char>(in), {});
}

uint64_t u64At(const std::vector<uint8_t> &bytes, size_t offset) {
  uint64_t v = 0;
  for (int i = 7; i >= 0; --i)
    v = (v << 8) | bytes[offset + size_t(i)];
  return v;
}

uint32_t u32At(const std::vector<uint8_t> &bytes, size_t offset) {
  uint32_t v = 0;
  for (int i = 3; i >= 0; --i)
    v = (v << 8) | bytes[offset + size_t(i)];
  return v;
}

void setU64(std::vector<uint8_t> &bytes, size_t offset, uint64_t v) {
  for (int i = 0; i < 8; ++i)
    bytes[offset + size_t(i)] = uint8_t(v >> (8 * i));
}

void setU32(std::vector<uint8_t> &bytes, size_t offset, uint32_t v) {
  for (int i = 0; i < 4; ++i)
    bytes[offset + size_t(i)] = uint8_t(v >> (8 * i));
}

std::vector<uint8_t> pattern(size_t size, uint8_t seed) {
  std::vector<uint8_t> bytes(size);
  for (size_t i = 0; i < size; ++i)
    bytes[i] = uint8_t(seed + i * 7 + (i >> 8));
  return bytes;
}

/// The manifest of a tiny model, as mixq-compile writes it.
json tinyManifest() {
  return json::parse(R"({
    "producer": "mixq-compile test",
    "model": {"dim": 64, "hidden_dim": 172, "n_layers": 2, "n_heads": 4,
              "n_kv_heads": 2, "head_dim": 16, "vocab_size": 259,
              "max_seq_len": 256, "norm_eps": 1e-5, "rope_theta": 10000.0,
              "rope_layout": "interleaved", "tied_embeddings": false,
              "source": "/models/x.gguf", "source_format": "gguf"},
    "tokenizer": {"model": "llama", "tokens": ["<unk>", "<s>", "</s>"],
                  "scores": [0, 0, 0], "types": [2, 3, 3], "bos": 1, "eos": 2},
    "weights": [
      {"name": "blk0.q_proj", "shape": [64, 64], "scheme": "#mixq.affine<4>",
       "dtype": "f32", "bits_per_weight": 4.5, "rel_error": 0.01,
       "components": [{"name": "codes", "blob": "blk0.q_proj:codes",
                       "dtype": "i8", "shape": [64, 32]},
                      {"name": "scales", "blob": "blk0.q_proj:scales",
                       "dtype": "f16", "shape": [64, 2]}]},
      {"name": "tok_embeddings", "shape": [259, 64], "scheme": "none",
       "dtype": "f32", "bits_per_weight": 32,
       "components": [{"name": "data", "blob": "tok_embeddings",
                       "dtype": "f32", "shape": [259, 64]}]}
    ],
    "targets": {"cpu": {"triple": "x86_64-unknown-linux-gnu",
                        "cpu": "x86-64-v3", "object": "cpu/kernels.so",
                        "kernels": [{"name": "k3_linear",
                                     "symbol": "_mixq_k3_linear"}]}},
    "plan": {"prefill": {"steps": [1, 2, 3], "buffers": [1]},
             "decode": {"steps": [1, 2], "buffers": [1, 2]}}
  })");
}

/// A package of five blobs (2048, 256, 0, 66304 and 1000 bytes; all but
/// the last a multiple of 256) written to `path`.
void writeSample(const std::string &path, json manifest = tinyManifest()) {
  PackageWriter writer;
  ASSERT_TRUE(writer.addBlob("blk0.q_proj:codes", pattern(2048, 1)));
  ASSERT_TRUE(writer.addBlob("blk0.q_proj:scales", pattern(256, 2)));
  ASSERT_TRUE(writer.addBlob("empty", std::vector<uint8_t>()));
  ASSERT_TRUE(writer.addBlob("tok_embeddings", pattern(259 * 64 * 4, 3)));
  ASSERT_TRUE(writer.addBlob("cpu/kernels.so", pattern(1000, 4)));
  Status s = writer.write(path, std::move(manifest));
  ASSERT_TRUE(s) << s.message();
}

/// The sample package's bytes, with at least 128 bytes of padding between
/// the manifest and data_offset (an unknown "padding" key is grown until
/// there are), so that tests can rewrite the manifest a little longer.
std::vector<uint8_t> sampleBytes() {
  TempDir dir;
  for (size_t extra = 0; extra < 256; ++extra) {
    json manifest = tinyManifest();
    manifest["padding"] = std::string(extra, 'x');
    writeSample(dir.file("s.mixq"), manifest);
    std::vector<uint8_t> bytes = readFile(dir.file("s.mixq"));
    if (u64At(bytes, 40) - 64 - u64At(bytes, 24) >= 128)
      return bytes;
  }
  ADD_FAILURE() << "no padding found";
  return {};
}

/// The reader's error for `bytes` ("" on success).
std::string errorOf(const std::vector<uint8_t> &bytes,
                    const PackageOpenOptions &options = {}) {
  auto package =
      Package::fromMemory(bytes.data(), bytes.size(), "t.mixq", options);
  return package ? "" : package.message();
}

/// The manifest of a package image.
json manifestOf(const std::vector<uint8_t> &bytes) {
  uint64_t size = u64At(bytes, 24);
  return json::parse(bytes.begin() + 64, bytes.begin() + 64 + long(size));
}

/// Replaces the manifest of `bytes` by `manifest`, fixing the header's
/// manifest size and checksum. The new text must still end before
/// data_offset; it is padded with spaces (valid JSON whitespace) to keep
/// the old size when it is shorter.
std::vector<uint8_t> withManifest(std::vector<uint8_t> bytes,
                                  const json &manifest) {
  std::string text = manifest.dump();
  uint64_t oldSize = u64At(bytes, 24);
  if (text.size() < oldSize)
    text.append(oldSize - text.size(), ' ');
  EXPECT_LE(64 + text.size(), u64At(bytes, 40));
  std::memcpy(bytes.data() + 64, text.data(), text.size());
  setU64(bytes, 24, text.size());
  setU64(bytes, 32, XXH3_64bits(text.data(), text.size()));
  return bytes;
}

#define EXPECT_CONTAINS(haystack, needle)                                      \
  EXPECT_NE(std::string(haystack).find(needle), std::string::npos)             \
      << "'" << (haystack) << "' does not contain '" << (needle) << "'"

//===----------------------------------------------------------------------===//
// Writing and reading back
//===----------------------------------------------------------------------===//

TEST(PackageTest, RoundTrip) {
  TempDir dir;
  std::string path = dir.file("model.mixq");
  writeSample(path);
  auto package = Package::open(path);
  ASSERT_TRUE(package) << package.message();
  EXPECT_EQ(package->path(), path);
  EXPECT_EQ(package->version(), 1u);
  EXPECT_TRUE(package->blobsVerified());

  // The manifest is the input plus format, version and blobs.
  json expected = tinyManifest();
  expected["format"] = "mixq";
  expected["version"] = 1;
  json actual = package->manifest();
  ASSERT_TRUE(actual.contains("blobs"));
  json blobs = actual["blobs"];
  actual.erase("blobs");
  EXPECT_EQ(actual, expected);
  EXPECT_EQ(blobs.size(), 5u);

  struct {
    const char *name;
    std::vector<uint8_t> bytes;
  } cases[] = {{"blk0.q_proj:codes", pattern(2048, 1)},
               {"blk0.q_proj:scales", pattern(256, 2)},
               {"empty", {}},
               {"tok_embeddings", pattern(259 * 64 * 4, 3)},
               {"cpu/kernels.so", pattern(1000, 4)}};
  uint64_t previousEnd = 0;
  for (const auto &c : cases) {
    SCOPED_TRACE(c.name);
    ASSERT_TRUE(package->hasBlob(c.name));
    auto blob = package->blob(c.name);
    ASSERT_TRUE(blob) << blob.message();
    ASSERT_EQ(blob->size, c.bytes.size());
    if (!c.bytes.empty())
      EXPECT_EQ(std::memcmp(blob->data, c.bytes.data(), c.bytes.size()), 0);
    // Placement: aligned, in the order added, within the file.
    uint64_t offset = blobs[c.name]["offset"].get<uint64_t>();
    EXPECT_EQ(offset % 256, 0u);
    EXPECT_EQ(uint64_t(blob->data - package->data()), offset);
    EXPECT_EQ(blobs[c.name]["size"].get<uint64_t>(), c.bytes.size());
    EXPECT_GE(offset, previousEnd);
    previousEnd = offset + c.bytes.size();
    EXPECT_EQ(blobs[c.name]["xxh3"].get<std::string>(),
              formatXXH3(XXH3_64bits(c.bytes.data(), c.bytes.size())));
  }
  EXPECT_EQ(package->fileSize(), previousEnd);
  EXPECT_FALSE(package->hasBlob("nope"));
}

TEST(PackageTest, HeaderLayout) {
  TempDir dir;
  std::string path = dir.file("model.mixq");
  writeSample(path);
  std::vector<uint8_t> bytes = readFile(path);
  ASSERT_GE(bytes.size(), 64u);
  EXPECT_EQ(std::memcmp(bytes.data(), "MIXQPKG\0", 8), 0);
  EXPECT_EQ(u32At(bytes, 8), 1u);   // version
  EXPECT_EQ(u32At(bytes, 12), 64u); // header_size
  EXPECT_EQ(u64At(bytes, 16), 64u); // manifest_offset
  uint64_t manifestSize = u64At(bytes, 24);
  uint64_t dataOffset = u64At(bytes, 40);
  EXPECT_EQ(u64At(bytes, 32), XXH3_64bits(bytes.data() + 64, manifestSize));
  EXPECT_EQ(u64At(bytes, 48), bytes.size()); // file_size
  EXPECT_EQ(u64At(bytes, 56), 0u);           // reserved
  // data_offset: the first 256-byte boundary after the manifest.
  EXPECT_EQ(dataOffset % 256, 0u);
  EXPECT_GE(dataOffset, 64 + manifestSize);
  EXPECT_LT(dataOffset, 64 + manifestSize + 256);
  // The manifest is compact JSON, then zero padding up to data_offset.
  std::string text(bytes.begin() + 64, bytes.begin() + 64 + long(manifestSize));
  EXPECT_EQ(text, json::parse(text).dump());
  for (uint64_t i = 64 + manifestSize; i < dataOffset; ++i)
    ASSERT_EQ(bytes[i], 0) << "at " << i;
  // The first blob starts at data_offset.
  json manifest = json::parse(text);
  EXPECT_EQ(manifest["blobs"]["blk0.q_proj:codes"]["offset"], dataOffset);
  // The bytes between blobs are zero: after the 2048-byte first blob comes
  // the 256-byte second one, directly (2048 is aligned), then the empty one
  // and the 66304-byte one at the same offset.
  EXPECT_EQ(manifest["blobs"]["blk0.q_proj:scales"]["offset"],
            dataOffset + 2048);
  EXPECT_EQ(manifest["blobs"]["empty"]["offset"], dataOffset + 2048 + 256);
  EXPECT_EQ(manifest["blobs"]["tok_embeddings"]["offset"],
            dataOffset + 2048 + 256);
  EXPECT_EQ(manifest["blobs"]["cpu/kernels.so"]["offset"],
            dataOffset + 2048 + 256 + 66304);
  EXPECT_EQ(bytes.size(), dataOffset + 2048 + 256 + 66304 + 1000);
}

TEST(PackageTest, PaddingBetweenUnalignedBlobsIsZero) {
  TempDir dir;
  PackageWriter writer;
  ASSERT_TRUE(writer.addBlob("a", std::vector<uint8_t>(3, 0xff)));
  ASSERT_TRUE(writer.addBlob("b", std::vector<uint8_t>(5, 0xee)));
  ASSERT_TRUE(writer.write(dir.file("p.mixq"), json::object()));
  std::vector<uint8_t> bytes = readFile(dir.file("p.mixq"));
  uint64_t data = u64At(bytes, 40);
  json manifest = manifestOf(bytes);
  EXPECT_EQ(manifest["blobs"]["a"]["offset"], data);
  EXPECT_EQ(manifest["blobs"]["b"]["offset"], data + 256);
  ASSERT_EQ(bytes.size(), data + 256 + 5);
  for (uint64_t i = data; i < data + 3; ++i)
    EXPECT_EQ(bytes[i], 0xff);
  for (uint64_t i = data + 3; i < data + 256; ++i)
    ASSERT_EQ(bytes[i], 0) << "at " << i;
}

TEST(PackageTest, NoBlobs) {
  TempDir dir;
  PackageWriter writer;
  ASSERT_TRUE(writer.write(dir.file("p.mixq"), json()));
  std::vector<uint8_t> bytes = readFile(dir.file("p.mixq"));
  // A null manifest is written as an object: just format, version, blobs.
  EXPECT_EQ(std::string(bytes.begin() + 64,
                        bytes.begin() + 64 + long(u64At(bytes, 24))),
            R"({"blobs":{},"format":"mixq","version":1})");
  // Without blobs the file ends at data_offset.
  EXPECT_EQ(bytes.size(), 256u);
  EXPECT_EQ(u64At(bytes, 40), 256u);
  auto package = Package::open(dir.file("p.mixq"));
  ASSERT_TRUE(package) << package.message();
  EXPECT_TRUE(package->blobs().empty());
  EXPECT_EQ(package->fileSize(), 256u);
}

TEST(PackageTest, EmptyBlob) {
  TempDir dir;
  PackageWriter writer;
  ASSERT_TRUE(writer.addBlob("empty", nullptr, 0));
  ASSERT_TRUE(writer.write(dir.file("p.mixq"), json::object()));
  auto package = Package::open(dir.file("p.mixq"));
  ASSERT_TRUE(package) << package.message();
  auto blob = package->blob("empty");
  ASSERT_TRUE(blob) << blob.message();
  EXPECT_EQ(blob->size, 0u);
  EXPECT_EQ(package->blobs().size(), 1u);
  EXPECT_EQ(package->manifest()["blobs"]["empty"]["xxh3"],
            formatXXH3(XXH3_64bits(nullptr, 0)));
}

TEST(PackageTest, ManyBlobsAndExternalData) {
  // Enough blobs that the manifest outgrows several guesses of the data
  // offset: the layout must still converge and be right.
  TempDir dir;
  std::vector<std::vector<uint8_t>> data;
  for (int i = 0; i < 1500; ++i)
    data.push_back(pattern(size_t(i % 7) * 100 + (i % 3), uint8_t(i)));
  PackageWriter writer;
  for (int i = 0; i < 1500; ++i)
    ASSERT_TRUE(writer.addBlob("w" + std::to_string(i), data[size_t(i)].data(),
                               data[size_t(i)].size()));
  EXPECT_EQ(writer.blobCount(), 1500u);
  std::vector<std::pair<uint64_t, uint64_t>> calls;
  Status s = writer.write(
      dir.file("p.mixq"), json::object(),
      [&](uint64_t done, uint64_t total) { calls.emplace_back(done, total); });
  ASSERT_TRUE(s) << s.message();
  auto package = Package::open(dir.file("p.mixq"));
  ASSERT_TRUE(package) << package.message();
  EXPECT_GT(u64At(readFile(dir.file("p.mixq")), 24), 60000u);
  for (int i = 0; i < 1500; ++i) {
    auto blob = package->blob("w" + std::to_string(i));
    ASSERT_TRUE(blob) << blob.message();
    ASSERT_EQ(blob->size, data[size_t(i)].size());
    ASSERT_EQ(uint64_t(blob->data - package->data()) % 256, 0u);
    if (blob->size)
      ASSERT_EQ(std::memcmp(blob->data, data[size_t(i)].data(), blob->size), 0);
  }
  // Blobs are laid out in the order added.
  const auto &infos = package->blobs();
  for (size_t i = 1; i < infos.size(); ++i)
    EXPECT_LE(infos[i - 1].offset, infos[i].offset);
  // Progress: non-decreasing, ends at the file size.
  ASSERT_FALSE(calls.empty());
  for (size_t i = 1; i < calls.size(); ++i)
    EXPECT_LE(calls[i - 1].first, calls[i].first);
  EXPECT_EQ(calls.back().first, package->fileSize());
  EXPECT_EQ(calls.back().second, package->fileSize());
}

TEST(PackageTest, LargeBlobWrittenInChunks) {
  // Larger than the writer's 1 MiB buffer and not a multiple of it.
  TempDir dir;
  std::vector<uint8_t> big = pattern((3 << 20) + 12345, 9);
  PackageWriter writer;
  ASSERT_TRUE(writer.addBlob("small", pattern(10, 1)));
  ASSERT_TRUE(writer.addBlob("big", big.data(), big.size()));
  ASSERT_TRUE(writer.addBlob("tail", pattern(10, 2)));
  ASSERT_TRUE(writer.write(dir.file("p.mixq"), json::object()));
  auto package = Package::open(dir.file("p.mixq"));
  ASSERT_TRUE(package) << package.message();
  auto blob = package->blob("big");
  ASSERT_TRUE(blob);
  ASSERT_EQ(blob->size, big.size());
  EXPECT_EQ(std::memcmp(blob->data, big.data(), big.size()), 0);
  EXPECT_EQ(std::memcmp(package->blob("tail")->data, pattern(10, 2).data(), 10),
            0);
}

TEST(PackageTest, WriterRejectsBadInput) {
  PackageWriter writer;
  ASSERT_TRUE(writer.addBlob("a", pattern(4, 0)));
  Status dup = writer.addBlob("a", pattern(4, 0));
  EXPECT_FALSE(dup);
  EXPECT_CONTAINS(dup.message(), "duplicate package blob 'a'");
  uint8_t byte = 0;
  Status dup2 = writer.addBlob("a", &byte, 1);
  EXPECT_FALSE(dup2);
  EXPECT_CONTAINS(dup2.message(), "duplicate");
  EXPECT_FALSE(writer.addBlob("", pattern(1, 0)));
  EXPECT_EQ(writer.blobCount(), 1u);
  EXPECT_EQ(writer.blobBytes(), 4u);

  TempDir dir;
  Status notObject = writer.write(dir.file("p.mixq"), json::array());
  EXPECT_FALSE(notObject);
  EXPECT_CONTAINS(notObject.message(), "must be a JSON object");
  // Invalid UTF-8 in the manifest is an error, not an exception.
  Status badText = writer.write(dir.file("p.mixq"),
                                json::object({{"producer", "\xff\xfe"}}));
  EXPECT_FALSE(badText);
  EXPECT_CONTAINS(badText.message(), "cannot serialize");
  EXPECT_TRUE(dir.entries().empty());
}

TEST(PackageTest, ExistingFormatVersionAndBlobsAreReplaced) {
  TempDir dir;
  PackageWriter writer;
  ASSERT_TRUE(writer.addBlob("x", pattern(3, 0)));
  json manifest = {{"format", "other"}, {"version", 7}, {"blobs", 5}};
  ASSERT_TRUE(writer.write(dir.file("p.mixq"), manifest));
  auto package = Package::open(dir.file("p.mixq"));
  ASSERT_TRUE(package) << package.message();
  EXPECT_EQ(package->manifest()["format"], "mixq");
  EXPECT_EQ(package->manifest()["version"], 1);
  EXPECT_TRUE(package->hasBlob("x"));
}

TEST(PackageTest, FailedWriteLeavesNothing) {
  TempDir dir;
  PackageWriter writer;
  ASSERT_TRUE(writer.addBlob("x", pattern(1000, 0)));

  // The destination is a non-empty directory: everything is written, the
  // final rename fails, and the temporary file must be gone.
  ASSERT_EQ(::mkdir(dir.file("target").c_str(), 0755), 0);
  std::ofstream(dir.file("target/keep")) << "x";
  Status s = writer.write(dir.file("target"), json::object());
  ASSERT_FALSE(s);
  EXPECT_CONTAINS(s.message(), "target: cannot rename");
  EXPECT_EQ(dir.entries(), std::vector<std::string>{"target"});

  // A directory that does not exist.
  Status missing = writer.write(dir.file("nowhere/p.mixq"), json::object());
  ASSERT_FALSE(missing);
  EXPECT_CONTAINS(missing.message(), "nowhere/p.mixq: cannot create");

  // An existing package is not damaged by a failed write over it.
  writeSample(dir.file("good.mixq"));
  std::vector<uint8_t> before = readFile(dir.file("good.mixq"));
  Status badText =
      writer.write(dir.file("good.mixq"), json::object({{"producer", "\xff"}}));
  ASSERT_FALSE(badText);
  EXPECT_EQ(readFile(dir.file("good.mixq")), before);
  EXPECT_EQ(dir.entries(), (std::vector<std::string>{"good.mixq", "target"}));
}

TEST(PackageTest, WriteErrorHalfWayLeavesNothing) {
  // A file size limit makes the write fail with EFBIG after 64 KiB, in
  // the middle of the blobs (works as root too, unlike permissions).
  TempDir dir;
  std::vector<uint8_t> big = pattern(3 << 20, 5);
  PackageWriter writer;
  ASSERT_TRUE(writer.addBlob("big", big.data(), big.size()));
  struct rlimit saved;
  ASSERT_EQ(::getrlimit(RLIMIT_FSIZE, &saved), 0);
  struct rlimit limited = saved;
  limited.rlim_cur = 64 << 10;
  void (*oldHandler)(int) = std::signal(SIGXFSZ, SIG_IGN);
  ASSERT_EQ(::setrlimit(RLIMIT_FSIZE, &limited), 0);
  Status s = writer.write(dir.file("p.mixq"), json::object());
  ::setrlimit(RLIMIT_FSIZE, &saved);
  std::signal(SIGXFSZ, oldHandler);
  ASSERT_FALSE(s);
  EXPECT_CONTAINS(s.message(), "p.mixq: cannot write package: writing ");
  EXPECT_CONTAINS(s.message(), "File too large");
  EXPECT_TRUE(dir.entries().empty());
}

TEST(PackageTest, UnwritableDirectory) {
  TempDir dir;
  std::string locked = dir.file("locked");
  ASSERT_EQ(::mkdir(locked.c_str(), 0555), 0);
  if (::access(locked.c_str(), W_OK) == 0)
    GTEST_SKIP() << "running with permission to write anywhere (root)";
  PackageWriter writer;
  ASSERT_TRUE(writer.addBlob("x", pattern(10, 0)));
  Status s = writer.write(locked + "/p.mixq", json::object());
  ASSERT_FALSE(s);
  EXPECT_CONTAINS(s.message(), "cannot create");
  EXPECT_TRUE(TempDir::list(locked).empty());
}

TEST(PackageTest, MissingBlobIsNamed) {
  std::vector<uint8_t> bytes = sampleBytes();
  auto package = Package::fromMemory(bytes.data(), bytes.size(), "m.mixq");
  ASSERT_TRUE(package) << package.message();
  auto blob = package->blob("blk9.v_proj:codes");
  ASSERT_FALSE(blob);
  EXPECT_EQ(blob.message(), "m.mixq: the package has no blob "
                            "'blk9.v_proj:codes'");
}

TEST(PackageTest, MoveKeepsTheMapping) {
  TempDir dir;
  writeSample(dir.file("p.mixq"));
  auto opened = Package::open(dir.file("p.mixq"));
  ASSERT_TRUE(opened) << opened.message();
  Package moved = opened.take();
  Package again = std::move(moved);
  auto blob = again.blob("cpu/kernels.so");
  ASSERT_TRUE(blob);
  EXPECT_EQ(std::memcmp(blob->data, pattern(1000, 4).data(), 1000), 0);
}

//===----------------------------------------------------------------------===//
// Reader errors
//===----------------------------------------------------------------------===//

TEST(PackageTest, OpenErrors) {
  TempDir dir;
  auto missing = Package::open(dir.file("none.mixq"));
  ASSERT_FALSE(missing);
  EXPECT_CONTAINS(missing.message(), "none.mixq: cannot open");
  auto directory = Package::open(dir.path());
  ASSERT_FALSE(directory);
  EXPECT_CONTAINS(directory.message(), "not a regular file");
  std::ofstream(dir.file("empty.mixq")).close();
  auto empty = Package::open(dir.file("empty.mixq"));
  ASSERT_FALSE(empty);
  EXPECT_CONTAINS(empty.message(), "empty.mixq: truncated: the file has 0 "
                                   "bytes");
}

TEST(PackageTest, TruncatedInsideTheHeader) {
  std::vector<uint8_t> bytes = sampleBytes();
  for (size_t length = 0; length < 64; ++length) {
    std::vector<uint8_t> cut(bytes.begin(), bytes.begin() + long(length));
    std::string error = errorOf(cut);
    EXPECT_CONTAINS(error, "t.mixq: truncated: the file has " +
                               std::to_string(length) +
                               " bytes, less than the 64-byte package header");
  }
}

TEST(PackageTest, TruncatedAfterTheHeader) {
  std::vector<uint8_t> bytes = sampleBytes();
  uint64_t manifestSize = u64At(bytes, 24);
  uint64_t dataOffset = u64At(bytes, 40);
  for (size_t length :
       {size_t(64), size_t(65), size_t(64 + manifestSize / 2),
        size_t(64 + manifestSize), size_t(dataOffset), size_t(dataOffset + 1),
        bytes.size() - 1000, bytes.size() - 500, bytes.size() - 1}) {
    std::vector<uint8_t> cut(bytes.begin(), bytes.begin() + long(length));
    EXPECT_EQ(errorOf(cut), "t.mixq: truncated: header says " +
                                std::to_string(bytes.size()) +
                                " bytes, file has " + std::to_string(length));
  }
}

TEST(PackageTest, AppendedBytes) {
  std::vector<uint8_t> bytes = sampleBytes();
  size_t size = bytes.size();
  bytes.push_back(0);
  EXPECT_CONTAINS(errorOf(bytes),
                  "t.mixq: header says " + std::to_string(size) +
                      " bytes, file has " + std::to_string(size + 1) +
                      ": 1 unexpected bytes at the end");
}

TEST(PackageTest, BadMagic) {
  std::vector<uint8_t> bytes = sampleBytes();
  for (size_t i : {0, 3, 7}) {
    std::vector<uint8_t> bad = bytes;
    bad[i] ^= 0x20;
    EXPECT_CONTAINS(errorOf(bad), "t.mixq: not a mixq package");
  }
  // Another format, even a short one, is not "truncated".
  std::vector<uint8_t> gguf = {'G', 'G', 'U', 'F', 3, 0, 0, 0};
  EXPECT_CONTAINS(errorOf(gguf), "not a mixq package");
}

TEST(PackageTest, NewerOrZeroVersion) {
  std::vector<uint8_t> bytes = sampleBytes();
  setU32(bytes, 8, 2);
  EXPECT_EQ(errorOf(bytes),
            "t.mixq: package version 2 is newer than this runtime supports "
            "(1); rebuild mixq-run from a newer mixq");
  // A newer version is reported first, even if the rest no longer parses
  // (a future header may be laid out differently).
  std::vector<uint8_t> header(bytes.begin(), bytes.begin() + 64);
  setU32(header, 8, 0xffffffffu);
  EXPECT_CONTAINS(errorOf(header), "package version 4294967295 is newer");
  setU32(bytes, 8, 0);
  EXPECT_CONTAINS(errorOf(bytes), "corrupt header: package version 0");
}

TEST(PackageTest, CorruptHeaderFields) {
  std::vector<uint8_t> good = sampleBytes();
  auto errorWith = [&](size_t offset, uint64_t value, bool is32 = false) {
    std::vector<uint8_t> bytes = good;
    if (is32)
      setU32(bytes, offset, uint32_t(value));
    else
      setU64(bytes, offset, value);
    return errorOf(bytes);
  };
  EXPECT_CONTAINS(errorWith(12, 72, true),
                  "corrupt header: header_size is 72, expected 64");
  EXPECT_CONTAINS(errorWith(16, 128), "manifest_offset is 128, expected 64");
  EXPECT_CONTAINS(errorWith(56, 1), "reserved field is 1, expected 0");
  // Manifest sizes running past the end, including by overflowing.
  EXPECT_CONTAINS(errorWith(24, good.size()),
                  "extends past the end of the file");
  EXPECT_CONTAINS(errorWith(24, ~uint64_t(0) - 10),
                  "extends past the end of the file");
  // data_offset: unaligned, inside the manifest, past the end.
  uint64_t dataOffset = u64At(good, 40);
  EXPECT_CONTAINS(errorWith(40, dataOffset + 8), "data_offset");
  EXPECT_CONTAINS(errorWith(40, 0), "data_offset 0 must be a multiple of 256");
  EXPECT_CONTAINS(errorWith(40, good.size() + 256), "data_offset");
  // file_size smaller than the file: appended bytes; larger: truncated.
  EXPECT_CONTAINS(errorWith(48, good.size() - 1), "unexpected bytes");
  EXPECT_CONTAINS(errorWith(48, ~uint64_t(0)), "truncated: header says");
}

TEST(PackageTest, ManifestChecksum) {
  std::vector<uint8_t> bytes = sampleBytes();
  uint64_t manifestSize = u64At(bytes, 24);
  for (uint64_t at : {uint64_t(64), 64 + manifestSize / 2, 63 + manifestSize}) {
    std::vector<uint8_t> bad = bytes;
    bad[at] ^= 1;
    std::string error = errorOf(bad);
    EXPECT_CONTAINS(error, "t.mixq: manifest checksum mismatch");
    EXPECT_CONTAINS(error, std::to_string(manifestSize) + " manifest bytes");
  }
  // The checksum field itself.
  std::vector<uint8_t> bad = bytes;
  bad[32] ^= 1;
  EXPECT_CONTAINS(errorOf(bad), "manifest checksum mismatch");
}

TEST(PackageTest, ManifestNotJsonOrNotAnObject) {
  std::vector<uint8_t> bytes = sampleBytes();
  auto withText = [&](const std::string &text) {
    std::vector<uint8_t> bad = bytes;
    std::memcpy(bad.data() + 64, text.data(), text.size());
    setU64(bad, 24, text.size());
    setU64(bad, 32, XXH3_64bits(text.data(), text.size()));
    return errorOf(bad);
  };
  EXPECT_CONTAINS(withText("{\"format\": "), "manifest is not valid JSON");
  EXPECT_CONTAINS(withText(""), "manifest is not valid JSON");
  EXPECT_CONTAINS(withText("[1, 2]"),
                  "manifest must be a JSON object, not an array of 2 elements");
  EXPECT_CONTAINS(withText("\"mixq\""),
                  "manifest must be a JSON object, not \"mixq\"");
  EXPECT_CONTAINS(withText(std::string(65, '[') + std::string(65, ']')),
                  "manifest nests deeper than 64 levels");
  // Brackets inside strings do not count.
  EXPECT_CONTAINS(withText("{\"x\": \"" + std::string(100, '[') + "\\\"\"}"),
                  "manifest \"format\" is missing");
}

TEST(PackageTest, ManifestFormatAndVersion) {
  std::vector<uint8_t> bytes = sampleBytes();
  json m = manifestOf(bytes);
  json bad = m;
  bad["format"] = "gguf";
  EXPECT_CONTAINS(errorOf(withManifest(bytes, bad)),
                  "t.mixq: manifest \"format\" is \"gguf\", expected \"mixq\"");
  bad = m;
  bad.erase("format");
  EXPECT_CONTAINS(errorOf(withManifest(bytes, bad)),
                  "manifest \"format\" is missing");
  bad = m;
  bad["version"] = 2;
  EXPECT_CONTAINS(errorOf(withManifest(bytes, bad)),
                  "manifest \"version\" is 2, which does not match the "
                  "header's version 1");
  bad = m;
  bad["version"] = "1";
  EXPECT_CONTAINS(errorOf(withManifest(bytes, bad)),
                  "manifest \"version\" is \"1\"");
  bad = m;
  bad.erase("blobs");
  EXPECT_CONTAINS(errorOf(withManifest(bytes, bad)),
                  "manifest \"blobs\" must be an object, not missing");
}

TEST(PackageTest, MalformedBlobEntries) {
  std::vector<uint8_t> bytes = sampleBytes();
  json m = manifestOf(bytes);
  auto errorWithEntry = [&](const json &entry) {
    json bad = m;
    bad["blobs"]["cpu/kernels.so"] = entry;
    return errorOf(withManifest(bytes, bad));
  };
  json good = m["blobs"]["cpu/kernels.so"];
  EXPECT_CONTAINS(errorWithEntry(5), "t.mixq: blob 'cpu/kernels.so': entry "
                                     "must be an object, not 5");
  json e = good;
  e.erase("size");
  EXPECT_CONTAINS(errorWithEntry(e),
                  "blob 'cpu/kernels.so': \"size\" must be a non-negative "
                  "integer, not missing");
  e = good;
  e["offset"] = -256;
  EXPECT_CONTAINS(errorWithEntry(e), "\"offset\" must be a non-negative "
                                     "integer, not -256");
  e = good;
  e["offset"] = 512.0;
  EXPECT_CONTAINS(errorWithEntry(e), "\"offset\" must be a non-negative");
  e = good;
  e["xxh3"] = "ABCDEF0123456789";
  EXPECT_CONTAINS(errorWithEntry(e),
                  "\"xxh3\" must be 16 lowercase hex digits, not "
                  "\"ABCDEF0123456789\"");
  e = good;
  e["xxh3"] = "0123";
  EXPECT_CONTAINS(errorWithEntry(e), "\"xxh3\" must be 16 lowercase hex");
}

TEST(PackageTest, BlobRanges) {
  std::vector<uint8_t> bytes = sampleBytes();
  json m = manifestOf(bytes);
  uint64_t dataOffset = u64At(bytes, 40);
  uint64_t fileSize = bytes.size();
  auto errorWith = [&](const char *name, uint64_t offset, uint64_t size) {
    json bad = m;
    bad["blobs"][name]["offset"] = offset;
    bad["blobs"][name]["size"] = size;
    return errorOf(withManifest(bytes, bad));
  };
  // Misaligned.
  EXPECT_CONTAINS(errorWith("cpu/kernels.so", dataOffset + 2048 + 64, 10),
                  "blob 'cpu/kernels.so': offset " +
                      std::to_string(dataOffset + 2048 + 64) +
                      " is not 256-byte aligned");
  // Inside the header/manifest.
  EXPECT_CONTAINS(errorWith("cpu/kernels.so", 0, 10),
                  "blob 'cpu/kernels.so': offset 0 lies before the data "
                  "section (data_offset " +
                      std::to_string(dataOffset) + ")");
  // Past the end, and overflowing offset + size.
  EXPECT_CONTAINS(errorWith("cpu/kernels.so", fileSize - 1000, 1001),
                  "blob 'cpu/kernels.so': 1001 bytes at offset " +
                      std::to_string(fileSize - 1000) +
                      " extend past the end of the file (" +
                      std::to_string(fileSize) + " bytes)");
  EXPECT_CONTAINS(errorWith("cpu/kernels.so", dataOffset, ~uint64_t(0)),
                  "extend past the end of the file");
  EXPECT_CONTAINS(errorWith("cpu/kernels.so", ~uint64_t(0) - 255, 512),
                  "extend past the end of the file");
  // Overlapping the first blob ([dataOffset, dataOffset + 2048)).
  EXPECT_CONTAINS(
      errorWith("cpu/kernels.so", dataOffset + 1792, 300),
      "blob 'cpu/kernels.so' [" + std::to_string(dataOffset + 1792) + ", " +
          std::to_string(dataOffset + 2092) +
          ") overlaps blob 'blk0.q_proj:codes' [" + std::to_string(dataOffset) +
          ", " + std::to_string(dataOffset + 2048) + ")");
  // Two blobs at the same offset.
  EXPECT_CONTAINS(errorWith("cpu/kernels.so", dataOffset, 1000), "overlaps");
  // Contained in a longer one that starts earlier.
  EXPECT_CONTAINS(errorWith("blk0.q_proj:scales", dataOffset + 512, 256),
                  "blob 'blk0.q_proj:scales' [" +
                      std::to_string(dataOffset + 512) + ", " +
                      std::to_string(dataOffset + 768) +
                      ") overlaps blob 'blk0.q_proj:codes'");
  // An empty blob may sit anywhere in the data section, even inside another.
  json ok = m;
  ok["blobs"]["empty"]["offset"] = dataOffset + 256;
  EXPECT_EQ(errorOf(withManifest(bytes, ok)), "");
  ok["blobs"]["empty"]["offset"] = fileSize + 256 - fileSize % 256;
  EXPECT_CONTAINS(errorOf(withManifest(bytes, ok)),
                  "blob 'empty': 0 bytes at offset");
}

TEST(PackageTest, BlobChecksum) {
  std::vector<uint8_t> bytes = sampleBytes();
  json m = manifestOf(bytes);
  uint64_t codes = m["blobs"]["blk0.q_proj:codes"]["offset"].get<uint64_t>();
  uint64_t kernels = m["blobs"]["cpu/kernels.so"]["offset"].get<uint64_t>();
  for (uint64_t at : {codes, codes + 1000, codes + 2047}) {
    std::vector<uint8_t> bad = bytes;
    bad[at] ^= 0x80;
    std::string error = errorOf(bad);
    EXPECT_CONTAINS(error,
                    "t.mixq: checksum mismatch in blob 'blk0.q_proj:codes'");
    EXPECT_CONTAINS(error, "its 2048 bytes hash to");
    // Without blob verification the same image opens, and verifying later
    // finds the fault.
    PackageOpenOptions noVerify;
    noVerify.verifyBlobs = false;
    auto package =
        Package::fromMemory(bad.data(), bad.size(), "t.mixq", noVerify);
    ASSERT_TRUE(package) << package.message();
    EXPECT_FALSE(package->blobsVerified());
    Status later = package->verifyBlobs();
    EXPECT_FALSE(later);
    EXPECT_CONTAINS(later.message(), "checksum mismatch in blob "
                                     "'blk0.q_proj:codes'");
  }
  std::vector<uint8_t> bad = bytes;
  bad[kernels + 999] ^= 1;
  EXPECT_CONTAINS(errorOf(bad), "checksum mismatch in blob 'cpu/kernels.so'");
  // A wrong hash in the manifest (the manifest checksum fixed up).
  json wrong = m;
  wrong["blobs"]["blk0.q_proj:scales"]["xxh3"] = "0123456789abcdef";
  EXPECT_CONTAINS(errorOf(withManifest(bytes, wrong)),
                  "checksum mismatch in blob 'blk0.q_proj:scales': the "
                  "manifest says 0123456789abcdef");
  // Padding is not covered by any checksum.
  std::vector<uint8_t> padded = bytes;
  padded[u64At(bytes, 40) - 1] = 1;
  EXPECT_EQ(errorOf(padded), "");
}

TEST(PackageTest, NoVerifyKeepsRangeChecks) {
  std::vector<uint8_t> bytes = sampleBytes();
  json m = manifestOf(bytes);
  PackageOpenOptions noVerify;
  noVerify.verifyBlobs = false;
  json bad = m;
  bad["blobs"]["cpu/kernels.so"]["offset"] =
      bytes.size() - 256 - bytes.size() % 256;
  bad["blobs"]["cpu/kernels.so"]["size"] = 1000;
  EXPECT_CONTAINS(errorOf(withManifest(bytes, bad), noVerify),
                  "extend past the end of the file");
  // Manifest checksum and truncation too.
  std::vector<uint8_t> flipped = bytes;
  flipped[100] ^= 1;
  EXPECT_CONTAINS(errorOf(flipped, noVerify), "manifest checksum mismatch");
  std::vector<uint8_t> cut(bytes.begin(), bytes.end() - 1);
  EXPECT_CONTAINS(errorOf(cut, noVerify), "truncated");
}

//===----------------------------------------------------------------------===//
// describePackage (mixq-inspect)
//===----------------------------------------------------------------------===//

TEST(PackageTest, Describe) {
  std::vector<uint8_t> bytes = sampleBytes();
  auto package = Package::fromMemory(bytes.data(), bytes.size(), "s.mixq");
  ASSERT_TRUE(package) << package.message();
  std::string text = describePackage(*package);
  EXPECT_CONTAINS(text, "package:    s.mixq\n");
  EXPECT_CONTAINS(text, "format:     mixq package version 1\n");
  EXPECT_CONTAINS(text, "(" + std::to_string(bytes.size()) + " bytes)\n");
  EXPECT_CONTAINS(text, "checksums:  manifest ok, 5 blobs ok\n");
  EXPECT_CONTAINS(text, "producer:   mixq-compile test\n");
  EXPECT_CONTAINS(text, "model:      dim 64, hidden_dim 172, n_layers 2");
  EXPECT_CONTAINS(text, "norm_eps 1e-05");
  EXPECT_CONTAINS(text, "tokenizer:  llama, 3 tokens, bos 1, eos 2\n");
  EXPECT_CONTAINS(text, "targets:    'cpu': x86_64-unknown-linux-gnu, cpu "
                        "x86-64-v3, 1 kernel,\n"
                        "              object cpu/kernels.so (1000 B)\n");
  EXPECT_CONTAINS(text, "plan:       decode: 2 steps, 2 buffers\n"
                        "            prefill: 3 steps, 1 buffer\n");
  // 4096 parameters at 4.5 bits and 16576 at 32: (4096*4.5 + 16576*32) /
  // 20672 = 26.55; 2048 + 256 + 66304 bytes = 67.00 KiB.
  EXPECT_CONTAINS(text, "weights:    2 weights, 20672 parameters, 26.55 "
                        "bits/weight, 67.00 KiB\n");
  EXPECT_EQ(text.find("rel_error"), std::string::npos);

  DescribeOptions options;
  options.weights = true;
  std::string table = describePackage(*package, options);
  EXPECT_CONTAINS(table, "name            shape   scheme           bits/w");
  EXPECT_CONTAINS(table, "blk0.q_proj     64x64   #mixq.affine<4>    4.50");
  EXPECT_CONTAINS(table, "tok_embeddings  259x64  none              32.00");
}

//===----------------------------------------------------------------------===//
// Weightless packages (mixq-compile --weights=none)
//===----------------------------------------------------------------------===//

/// The sample package with its two weight blobs recorded as absent.
void writeWeightless(const std::string &path) {
  PackageWriter writer;
  ASSERT_TRUE(writer.addAbsentBlob("blk0.q_proj:codes", 2048));
  ASSERT_TRUE(writer.addAbsentBlob("blk0.q_proj:scales", 256));
  ASSERT_TRUE(writer.addAbsentBlob("tok_embeddings", 259 * 64 * 4));
  ASSERT_TRUE(writer.addBlob("cpu/kernels.so", pattern(1000, 4)));
  EXPECT_EQ(writer.blobBytes(), 2048u + 256 + 66304 + 1000);
  Status s = writer.write(path, tinyManifest());
  ASSERT_TRUE(s) << s.message();
}

TEST(PackageTest, WeightlessPackageRecordsSizesWithoutBytes) {
  TempDir dir;
  writeWeightless(dir.file("w.mixq"));
  std::vector<uint8_t> bytes = readFile(dir.file("w.mixq"));
  // Only the 1000-byte kernel object follows the manifest.
  EXPECT_EQ(bytes.size(), u64At(bytes, 40) + 1000);
  json blobs = manifestOf(bytes)["blobs"];
  EXPECT_EQ(blobs["tok_embeddings"],
            (json{{"absent", true}, {"size", 259 * 64 * 4}}));
  EXPECT_EQ(blobs["cpu/kernels.so"]["offset"], u64At(bytes, 40));

  PackageOpenOptions options;
  options.allowAbsentBlobs = true;
  options.verifyBlobs = false;
  auto package = Package::open(dir.file("w.mixq"), options);
  ASSERT_TRUE(package) << package.message();
  EXPECT_TRUE(package->weightless());
  EXPECT_EQ(package->absentBlobCount(), 3u);
  EXPECT_EQ(package->absentBytes(), 2048u + 256 + 66304);
  auto codes = package->blob("blk0.q_proj:codes");
  ASSERT_TRUE(codes);
  EXPECT_EQ(codes->data, nullptr);
  EXPECT_EQ(codes->size, 2048u);
  auto object = package->blob("cpu/kernels.so");
  ASSERT_TRUE(object);
  EXPECT_EQ(std::vector<uint8_t>(object->data, object->data + object->size),
            pattern(1000, 4));
  std::string text = describePackage(*package);
  EXPECT_CONTAINS(text, "weights:    ABSENT: a weightless package "
                        "(mixq-compile --weights=none); 3 blobs, 67.00 KiB, "
                        "are not in the file");
  // The totals still count the absent blobs' sizes.
  EXPECT_CONTAINS(text, "20672 parameters, 26.55 bits/weight, 67.00 KiB\n");
}

TEST(PackageTest, APackageWithItsWeightsIsWrittenAsBefore) {
  // tiny.mixq was written on 2026-11-23, before weightless packages: the
  // writer of today, given its manifest and blobs in file order, must
  // reproduce it byte for byte.
  std::string seed = std::string(MIXQ_PACKAGE_CORPUS_DIR) + "/tiny.mixq";
  std::vector<uint8_t> before = readFile(seed);
  ASSERT_FALSE(before.empty()) << seed;
  auto package = Package::fromMemory(before.data(), before.size(), seed);
  ASSERT_TRUE(package) << package.message();
  PackageWriter writer;
  for (const BlobInfo &info : package->blobs()) {
    auto blob = package->blob(info.name);
    ASSERT_TRUE(blob);
    ASSERT_TRUE(writer.addBlob(info.name, blob->data, blob->size));
  }
  TempDir dir;
  ASSERT_TRUE(writer.write(dir.file("again.mixq"), package->manifest()));
  EXPECT_EQ(readFile(dir.file("again.mixq")), before);
}

TEST(PackageTest, WeightlessPackageIsRejectedUnlessAllowed) {
  TempDir dir;
  writeWeightless(dir.file("w.mixq"));
  auto package = Package::open(dir.file("w.mixq"));
  ASSERT_FALSE(package);
  EXPECT_CONTAINS(package.message(),
                  "w.mixq: a weightless package (mixq-compile "
                  "--weights=none): 3 weight blobs (67.00 KiB) are not in the "
                  "file, so it cannot run");
  // Allowed, but with checksums asked for: nothing to verify them against.
  PackageOpenOptions options;
  options.allowAbsentBlobs = true;
  package = Package::open(dir.file("w.mixq"), options);
  ASSERT_FALSE(package);
  EXPECT_CONTAINS(package.message(),
                  "cannot verify the weights of a weightless package");
}

TEST(PackageTest, MalformedAbsentBlobEntries) {
  std::vector<uint8_t> bytes = sampleBytes();
  json m = manifestOf(bytes);
  PackageOpenOptions allow;
  allow.allowAbsentBlobs = true;
  allow.verifyBlobs = false;
  auto errorWithEntry = [&](const json &entry) {
    json bad = m;
    bad["blobs"]["tok_embeddings"] = entry;
    return errorOf(withManifest(bytes, bad), allow);
  };
  EXPECT_EQ(errorWithEntry({{"absent", true}, {"size", 66304}}), "");
  EXPECT_CONTAINS(errorWithEntry({{"absent", false}, {"size", 66304}}),
                  "blob 'tok_embeddings': \"absent\" must be true, not "
                  "false");
  EXPECT_CONTAINS(errorWithEntry({{"absent", 1}, {"size", 66304}}),
                  "\"absent\" must be true, not 1");
  EXPECT_CONTAINS(errorWithEntry({{"absent", true}}),
                  "\"size\" must be a non-negative integer, not missing");
  EXPECT_CONTAINS(
      errorWithEntry({{"absent", true}, {"size", 1}, {"offset", 256}}),
      "an absent blob has no \"offset\"");
  EXPECT_CONTAINS(
      errorWithEntry(
          {{"absent", true}, {"size", 1}, {"xxh3", "0123456789abcdef"}}),
      "an absent blob has no \"xxh3\"");
}

TEST(PackageTest, WriterRejectsDuplicateAbsentBlobs) {
  PackageWriter writer;
  ASSERT_TRUE(writer.addAbsentBlob("a", 10));
  EXPECT_EQ(writer.addAbsentBlob("a", 10).message(),
            "duplicate package blob 'a'");
  EXPECT_EQ(writer.addAbsentBlob("", 10).message(),
            "package blob names must not be empty");
}

TEST(PackageTest, DescribeMissingSections) {
  TempDir dir;
  PackageWriter writer;
  ASSERT_TRUE(
      writer.write(dir.file("p.mixq"), json::object({{"tokenizer", nullptr}})));
  PackageOpenOptions noVerify;
  noVerify.verifyBlobs = false;
  auto package = Package::open(dir.file("p.mixq"), noVerify);
  ASSERT_TRUE(package) << package.message();
  std::string text = describePackage(*package);
  EXPECT_CONTAINS(text, "checksums:  manifest ok, 0 blobs not verified\n");
  EXPECT_CONTAINS(text, "producer:   none\n");
  EXPECT_CONTAINS(text, "model:      none\n");
  EXPECT_CONTAINS(text, "tokenizer:  none\n");
  EXPECT_CONTAINS(text, "targets:    none\n");
  EXPECT_CONTAINS(text, "plan:       none\n");
  EXPECT_CONTAINS(text, "weights:    none\n");
}

TEST(PackageTest, DescribeIllTypedSections) {
  // Anything the reader accepts is described without throwing.
  TempDir dir;
  PackageWriter writer;
  ASSERT_TRUE(writer.addBlob("obj", pattern(4, 0)));
  json manifest = json::parse(R"({
    "producer": 7, "model": [1], "tokenizer": {"tokens": 5},
    "targets": {"gpu": 3, "cpu": {"kernels": {}, "object": 9, "ptx": "obj"}},
    "plan": {"decode": 1},
    "weights": [1, {"shape": [-1, 2]}, {"shape": [4294967296, 4294967296,
                2]}, {"name": "x", "shape": [2, 2], "components": [
                {"blob": "missing"}], "bits_per_weight": "4"},
                {"name": "y", "shape": [8], "components": [{"blob": "obj"}]}]
  })");
  ASSERT_TRUE(writer.write(dir.file("p.mixq"), manifest));
  auto package = Package::open(dir.file("p.mixq"));
  ASSERT_TRUE(package) << package.message();
  DescribeOptions options;
  options.weights = true;
  std::string text = describePackage(*package, options);
  EXPECT_CONTAINS(text, "producer:   7\n");
  EXPECT_CONTAINS(text, "model:      none\n");
  EXPECT_CONTAINS(text, "tokenizer:  ?, ? tokens, bos ?, eos ?\n");
  EXPECT_CONTAINS(text, "'gpu': ? kernels\n");
  EXPECT_CONTAINS(text, "'cpu': ? kernels, object 9 (not in the package), "
                        "ptx obj (4 B)\n");
  EXPECT_CONTAINS(text, "decode: ? steps, ? buffers");
  // "y": 8 parameters in 4 bytes = 4 bits/weight, derived from its blob.
  EXPECT_CONTAINS(text, "5 weights, ? parameters, 4.00 bits/weight, 4 B");
}

TEST(PackageTest, FormatByteSize) {
  EXPECT_EQ(formatByteSize(0), "0 B");
  EXPECT_EQ(formatByteSize(1023), "1023 B");
  EXPECT_EQ(formatByteSize(1024), "1.00 KiB");
  EXPECT_EQ(formatByteSize(1536), "1.50 KiB");
  EXPECT_EQ(formatByteSize(uint64_t(13) << 30), "13.00 GiB");
  EXPECT_EQ(formatXXH3(0xabcdef), "0000000000abcdef");
}

} // namespace
