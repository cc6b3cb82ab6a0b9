//===- SafetensorsTest.cpp - safetensors parsing and writing --------------===//
//
// Files here are built byte by byte from hand-written headers, so the
// expected offsets are computed by hand, not by the code under test.
//===----------------------------------------------------------------------===//

#include "frontend/Safetensors.h"

#include <gtest/gtest.h>

#include <cstdio>
#include <cstring>
#include <fstream>
#include <unistd.h>

using namespace mixq;

namespace {

/// An 8-byte little-endian length, `header` and `data`.
std::vector<uint8_t> makeFile(const std::string &header,
                              const std::vector<uint8_t> &data = {}) {
  std::vector<uint8_t> bytes;
  uint64_t length = header.size();
  for (int i = 0; i < 8; ++i)
    bytes.push_back(uint8_t(length >> (8 * i)));
  bytes.insert(bytes.end(), header.begin(), header.end());
  bytes.insert(bytes.end(), data.begin(), data.end());
  return bytes;
}

Expected<SafetensorsHeader> parse(const std::vector<uint8_t> &bytes) {
  return parseSafetensors(bytes.data(), bytes.size(), "test.safetensors");
}

/// Parses a file of one tensor described by `tensorJson` followed by
/// `dataSize` zero bytes, and returns the error message ("" on success).
std::string errorOf(const std::string &tensorJson, size_t dataSize) {
  std::string header = "{\"t\":" + tensorJson + "}";
  // Pad so that the data starts 8-byte aligned, as writers do.
  while ((8 + header.size()) % 8 != 0)
    header.push_back(' ');
  auto result = parse(makeFile(header, std::vector<uint8_t>(dataSize, 0)));
  return result ? "" : result.message();
}

std::vector<uint8_t> readFile(const std::string &path) {
  std::ifstream in(path, std::ios::binary);
  return std::vector<uint8_t>(std::istreambuf_iterator<char>(in), {});
}

std::string tempPath(const std::string &tag) {
  return ::testing::TempDir() + "/mixq-st-" + tag + "-" +
         std::to_string(::getpid());
}

TensorSource floatSource(const std::string &name, DType dtype,
                         std::vector<int64_t> shape, uint8_t firstByte) {
  TensorSource source;
  source.name = name;
  source.dtype = dtype;
  source.shape = std::move(shape);
  int64_t bytes = dtypeSize(dtype);
  for (int64_t d : source.shape)
    bytes *= d;
  source.fill = [bytes, firstByte](uint8_t *dst) {
    for (int64_t i = 0; i < bytes; ++i)
      dst[i] = uint8_t(firstByte + i);
    return Status::success();
  };
  return source;
}

// The 142-character header below, padded with spaces to 160 bytes: the data
// starts at 8 + 160 = 168; "a" (8 bytes) at 168 and "b" (6 bytes) at 176.
const char *const kHandHeader =
    "{\"__metadata__\":{\"format\":\"pt\"},"
    "\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},"
    "\"b\":{\"dtype\":\"BF16\",\"shape\":[1,3],\"data_offsets\":[8,14]}}";

std::vector<uint8_t> handBuiltFile() {
  std::string header = kHandHeader;
  EXPECT_EQ(header.size(), 142u);
  header.resize(160, ' ');
  std::vector<uint8_t> data = {
      0x00, 0x00, 0x80, 0x3F, // 1.0f
      0x00, 0x00, 0x00, 0xC0, // -2.0f
      0x80, 0x3F,             // bf16 1.0
      0x00, 0x40,             // bf16 2.0
      0x40, 0xC0,             // bf16 -3.0
  };
  return makeFile(header, data);
}

TEST(Safetensors, HandBuiltFileParsesToHandComputedOffsets) {
  std::vector<uint8_t> bytes = handBuiltFile();
  ASSERT_EQ(bytes.size(), 182u);
  auto header = parse(bytes);
  ASSERT_TRUE(header) << header.message();
  EXPECT_EQ(header->headerSize, 160u);
  EXPECT_EQ(header->dataOffset, 168u);
  ASSERT_EQ(header->metadata.size(), 1u);
  EXPECT_EQ(header->metadata.at("format"), "pt");
  ASSERT_EQ(header->tensors.size(), 2u);

  const SafetensorsTensor &a = header->tensors[0];
  EXPECT_EQ(a.name, "a");
  EXPECT_EQ(a.dtype, DType::F32);
  EXPECT_EQ(a.shape, std::vector<int64_t>({2}));
  EXPECT_EQ(a.dataBegin, 0u);
  EXPECT_EQ(a.dataEnd, 8u);
  EXPECT_EQ(a.fileOffset, 168u);
  EXPECT_EQ(a.byteSize(), 8u);
  float values[2];
  std::memcpy(values, bytes.data() + a.fileOffset, 8);
  EXPECT_EQ(values[0], 1.0f);
  EXPECT_EQ(values[1], -2.0f);

  const SafetensorsTensor *b = header->find("b");
  ASSERT_NE(b, nullptr);
  EXPECT_EQ(b->dtype, DType::BF16);
  EXPECT_EQ(b->shape, std::vector<int64_t>({1, 3}));
  EXPECT_EQ(b->fileOffset, 176u);
  EXPECT_EQ(b->byteSize(), 6u);
  EXPECT_EQ(bytes[b->fileOffset + 4], 0x40);
  EXPECT_EQ(bytes[b->fileOffset + 5], 0xC0);
  EXPECT_EQ(header->find("c"), nullptr);
}

TEST(Safetensors, EveryTruncatedPrefixIsAnError) {
  std::vector<uint8_t> bytes = handBuiltFile();
  for (size_t length = 0; length < bytes.size(); ++length) {
    // A copy of exactly `length` bytes, so that an over-read is past the
    // allocation (and caught by sanitizers).
    std::vector<uint8_t> prefix(bytes.begin(), bytes.begin() + length);
    auto header = parseSafetensors(prefix.data(), prefix.size(), "cut.st");
    ASSERT_FALSE(header) << "prefix of " << length << " bytes parsed";
    EXPECT_NE(header.message().find("cut.st"), std::string::npos);
    if (length < 8 + 160) {
      EXPECT_NE(header.message().find("truncated"), std::string::npos)
          << header.message();
    } else {
      EXPECT_NE(header.message().find("past the end of the data"),
                std::string::npos)
          << header.message();
    }
  }
}

TEST(Safetensors, HugeHeaderLengthIsRejected) {
  std::vector<uint8_t> bytes = {0, 0, 0, 0, 0, 0, 0, 0x80, '{', '}'};
  auto header = parse(bytes);
  ASSERT_FALSE(header);
  EXPECT_NE(header.message().find("header length 9223372036854775808"),
            std::string::npos)
      << header.message();
  EXPECT_NE(header.message().find("exceeds the limit"), std::string::npos);
}

TEST(Safetensors, HeaderLongerThanFileIsTruncation) {
  std::vector<uint8_t> bytes = {100, 0, 0, 0, 0, 0, 0, 0, '{', '}'};
  auto header = parse(bytes);
  ASSERT_FALSE(header);
  EXPECT_NE(header.message().find("header length is 100 bytes but only 2"),
            std::string::npos)
      << header.message();
}

TEST(Safetensors, MalformedJsonHeader) {
  auto header = parse(makeFile("{\"a\": {\"dtype\": "));
  ASSERT_FALSE(header);
  EXPECT_NE(header.message().find("test.safetensors: the 16-byte header is "
                                  "not valid JSON"),
            std::string::npos)
      << header.message();
}

TEST(Safetensors, NonObjectHeader) {
  auto header = parse(makeFile("[1, 2]  "));
  ASSERT_FALSE(header);
  EXPECT_NE(header.message().find("must be a JSON object, not [1,2]"),
            std::string::npos)
      << header.message();
}

TEST(Safetensors, NonObjectTensorAndMetadata) {
  EXPECT_NE(errorOf("7", 0).find("tensor 't' must be described by an object, "
                                 "not 7"),
            std::string::npos);
  auto header = parse(makeFile("{\"__metadata__\":{\"k\":1}}"));
  ASSERT_FALSE(header);
  EXPECT_NE(header.message().find("__metadata__ key 'k' must have a string "
                                  "value, not 1"),
            std::string::npos)
      << header.message();
}

TEST(Safetensors, EmptyHeaderObjectHasNoTensors) {
  auto header = parse(makeFile("{}      "));
  ASSERT_TRUE(header) << header.message();
  EXPECT_TRUE(header->tensors.empty());
  EXPECT_EQ(header->dataOffset, 16u);
}

TEST(Safetensors, NegativeDimension) {
  std::string error =
      errorOf(R"({"dtype":"F32","shape":[2,-3],"data_offsets":[0,0]})", 0);
  EXPECT_NE(error.find("tensor 't': shape [2,-3] has a negative dimension -3"),
            std::string::npos)
      << error;
}

TEST(Safetensors, NonIntegerDimension) {
  std::string error =
      errorOf(R"({"dtype":"F32","shape":[2.5],"data_offsets":[0,0]})", 0);
  EXPECT_NE(error.find("not an integer: 2.5"), std::string::npos) << error;
}

TEST(Safetensors, ShapeProductOverflow) {
  // 2^32 * 2^32 = 2^64 elements.
  std::string error = errorOf(
      R"({"dtype":"F32","shape":[4294967296,4294967296],"data_offsets":[0,0]})",
      0);
  EXPECT_NE(error.find("tensor 't': shape [4294967296, 4294967296] has more "
                       "elements than fit in 64 bits"),
            std::string::npos)
      << error;
  // 2^62 elements fit in int64 but their 2^64 bytes do not.
  error = errorOf(
      R"({"dtype":"F32","shape":[4611686018427387904],"data_offsets":[0,0]})",
      0);
  EXPECT_NE(error.find("needs 4611686018427387904 x 4 bytes"),
            std::string::npos)
      << error;
}

TEST(Safetensors, DataOffsetsOutsideTheFile) {
  std::string error =
      errorOf(R"({"dtype":"F32","shape":[4],"data_offsets":[0,16]})", 8);
  EXPECT_NE(error.find("tensor 't': data_offsets [0, 16] extend past the end "
                       "of the data (8 bytes"),
            std::string::npos)
      << error;
}

TEST(Safetensors, DataOffsetsEndBeforeBegin) {
  std::string error =
      errorOf(R"({"dtype":"F32","shape":[0],"data_offsets":[8,4]})", 8);
  EXPECT_NE(error.find("data_offsets [8, 4] end before they begin"),
            std::string::npos)
      << error;
}

TEST(Safetensors, DataOffsetsOfWrongForm) {
  for (const char *offsets : {"[0]", "[0,8,9]", "[-4,4]", "[0,8.0]", "\"0\""}) {
    std::string error =
        errorOf(std::string(R"({"dtype":"F32","shape":[2],"data_offsets":)") +
                    offsets + "}",
                8);
    EXPECT_NE(error.find("data_offsets must be two non-negative integers"),
              std::string::npos)
        << offsets << ": " << error;
  }
}

TEST(Safetensors, SizeMismatch) {
  std::string error =
      errorOf(R"({"dtype":"F32","shape":[3],"data_offsets":[0,8]})", 8);
  EXPECT_NE(error.find("tensor 't' of shape [3] and dtype F32 needs 3 x 4 "
                       "bytes but data_offsets [0, 8] hold 8"),
            std::string::npos)
      << error;
}

TEST(Safetensors, OverlappingTensors) {
  std::string header =
      R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},)"
      R"("b":{"dtype":"F32","shape":[2],"data_offsets":[4,12]}})";
  while ((8 + header.size()) % 8 != 0)
    header.push_back(' ');
  auto result = parse(makeFile(header, std::vector<uint8_t>(12)));
  ASSERT_FALSE(result);
  EXPECT_NE(result.message().find("tensor 'b' at data_offsets [4, 12] "
                                  "overlaps tensor 'a' at [0, 8]"),
            std::string::npos)
      << result.message();
}

TEST(Safetensors, EmptyTensorsOverlapNothing) {
  std::string header =
      R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},)"
      R"("e":{"dtype":"F16","shape":[0,5],"data_offsets":[4,4]}})";
  while ((8 + header.size()) % 8 != 0)
    header.push_back(' ');
  auto result = parse(makeFile(header, std::vector<uint8_t>(8)));
  ASSERT_TRUE(result) << result.message();
  EXPECT_EQ(result->tensors.size(), 2u);
}

TEST(Safetensors, UnknownDType) {
  std::string error =
      errorOf(R"({"dtype":"Q9","shape":[2],"data_offsets":[0,2]})", 2);
  EXPECT_NE(error.find("test.safetensors: tensor 't' has unknown dtype 'Q9'"),
            std::string::npos)
      << error;
}

TEST(Safetensors, UnsupportedDType) {
  std::string error =
      errorOf(R"({"dtype":"I8","shape":[2],"data_offsets":[0,2]})", 2);
  EXPECT_NE(error.find("tensor 't' has unsupported dtype 'I8'"),
            std::string::npos)
      << error;
  error = errorOf(R"({"dtype":"F8_E4M3","shape":[2],"data_offsets":[0,2]})", 2);
  EXPECT_NE(error.find("unsupported dtype 'F8_E4M3'"), std::string::npos)
      << error;
}

TEST(Safetensors, MissingFields) {
  EXPECT_NE(errorOf(R"({"shape":[2],"data_offsets":[0,8]})", 8)
                .find("tensor 't' has no dtype"),
            std::string::npos);
  EXPECT_NE(errorOf(R"({"dtype":"F32","data_offsets":[0,8]})", 8)
                .find("tensor 't' has no shape"),
            std::string::npos);
  EXPECT_NE(errorOf(R"({"dtype":"F32","shape":[2]})", 8)
                .find("tensor 't' has no data_offsets"),
            std::string::npos);
  EXPECT_NE(errorOf(R"({"dtype":3,"shape":[2],"data_offsets":[0,8]})", 8)
                .find("dtype must be a string, not 3"),
            std::string::npos);
}

TEST(Safetensors, MisalignedTensor) {
  // Data starts at an 8-byte boundary; begin 2 puts an F32 at 2 mod 4.
  std::string error =
      errorOf(R"({"dtype":"F32","shape":[1],"data_offsets":[2,6]})", 8);
  EXPECT_NE(error.find("is not aligned to its 4-byte elements"),
            std::string::npos)
      << error;
}

TEST(Safetensors, WriterProducesHandComputedBytes) {
  std::string path = tempPath("exact") + ".safetensors";
  TensorSource x;
  x.name = "x";
  x.dtype = DType::F32;
  x.shape = {2};
  x.fill = [](uint8_t *dst) {
    float values[2] = {1.0f, -2.0f};
    std::memcpy(dst, values, 8);
    return Status::success();
  };
  Status s = writeSafetensors(path, {x}, {{"format", "pt"}});
  ASSERT_TRUE(s) << s.message();
  // 85 characters of JSON + 3 spaces: 8 + 88 = 96 is 8-byte aligned.
  std::string json = "{\"__metadata__\":{\"format\":\"pt\"},\"x\":{\"dtype\":"
                     "\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}}   ";
  std::vector<uint8_t> expected = {88, 0, 0, 0, 0, 0, 0, 0};
  expected.insert(expected.end(), json.begin(), json.end());
  for (uint8_t b : {0x00, 0x00, 0x80, 0x3F, 0x00, 0x00, 0x00, 0xC0})
    expected.push_back(b);
  EXPECT_EQ(readFile(path), expected);
  EXPECT_NE(::access((path + ".tmp").c_str(), F_OK), 0);
  std::remove(path.c_str());
}

TEST(Safetensors, WriterAlignsMixedElementSizes) {
  // An odd number of bf16 elements before an f32 tensor would put the f32
  // at 2 mod 4; the writer places larger elements first.
  std::string path = tempPath("mixed") + ".safetensors";
  std::vector<TensorSource> tensors = {
      floatSource("h", DType::BF16, {3}, 10),
      floatSource("f", DType::F32, {2, 2}, 50),
      floatSource("g", DType::F16, {1}, 90),
  };
  Status s = writeSafetensors(path, tensors, {});
  ASSERT_TRUE(s) << s.message();
  std::vector<uint8_t> bytes = readFile(path);
  auto header = parse(bytes);
  ASSERT_TRUE(header) << header.message();
  EXPECT_EQ(header->dataOffset % 8, 0u);
  EXPECT_TRUE(header->metadata.empty());
  ASSERT_EQ(header->tensors.size(), 3u);
  // f32 (16 bytes) first, then the 2-byte types in the given order; no gaps.
  EXPECT_EQ(header->tensors[0].name, "f");
  EXPECT_EQ(header->tensors[0].dataBegin, 0u);
  EXPECT_EQ(header->tensors[1].name, "h");
  EXPECT_EQ(header->tensors[1].dataBegin, 16u);
  EXPECT_EQ(header->tensors[2].name, "g");
  EXPECT_EQ(header->tensors[2].dataBegin, 22u);
  EXPECT_EQ(bytes.size(), header->dataOffset + 24);
  for (const SafetensorsTensor &t : header->tensors) {
    uint8_t first = t.name == "h" ? 10 : t.name == "f" ? 50 : 90;
    for (uint64_t i = 0; i < t.byteSize(); ++i)
      ASSERT_EQ(bytes[t.fileOffset + i], uint8_t(first + i)) << t.name;
  }
  std::remove(path.c_str());
}

TEST(Safetensors, WriterReportsFailuresAndLeavesNoFile) {
  std::string path = tempPath("fail") + ".safetensors";
  TensorSource bad = floatSource("bad", DType::F32, {2}, 0);
  bad.fill = [](uint8_t *) { return makeError("generator exploded"); };
  Status s = writeSafetensors(path, {bad}, {});
  ASSERT_FALSE(s);
  EXPECT_NE(s.message().find("producing tensor 'bad': generator exploded"),
            std::string::npos)
      << s.message();
  EXPECT_NE(::access(path.c_str(), F_OK), 0);
  EXPECT_NE(::access((path + ".tmp").c_str(), F_OK), 0);

  s = writeSafetensors("/nonexistent-mixq-dir/x.safetensors",
                       {floatSource("x", DType::F32, {1}, 0)}, {});
  ASSERT_FALSE(s);
  EXPECT_NE(s.message().find("/nonexistent-mixq-dir/x.safetensors.tmp: "
                             "cannot create"),
            std::string::npos)
      << s.message();

  s = writeSafetensors(path, {floatSource("i", DType::I8, {1}, 0)}, {});
  ASSERT_FALSE(s);
  EXPECT_NE(s.message().find("tensor 'i' has type i8"), std::string::npos);
  s = writeSafetensors(path,
                       {floatSource("d", DType::F32, {1}, 0),
                        floatSource("d", DType::F32, {1}, 0)},
                       {});
  ASSERT_FALSE(s);
  EXPECT_NE(s.message().find("tensor 'd' is given twice"), std::string::npos);
}

TEST(Safetensors, WriterReportsAFullDisk) {
  // /dev/full accepts the open and fails the writes with ENOSPC; the
  // temporary file cannot be made there, so write through a symlink.
  if (::access("/dev/full", W_OK) != 0)
    GTEST_SKIP() << "/dev/full is not available";
  std::string path = tempPath("full") + ".safetensors";
  std::remove((path + ".tmp").c_str());
  ASSERT_EQ(::symlink("/dev/full", (path + ".tmp").c_str()), 0);
  Status s =
      writeSafetensors(path, {floatSource("x", DType::F32, {4096}, 0)}, {});
  ASSERT_FALSE(s);
  EXPECT_NE(s.message().find(path + ".tmp: write failed"), std::string::npos)
      << s.message();
  EXPECT_NE(s.message().find("No space left on device"), std::string::npos)
      << s.message();
  std::remove((path + ".tmp").c_str());
}

} // namespace
