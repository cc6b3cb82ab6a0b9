//===- GGUFTest.cpp - GGUF parsing, llama import and writing --------------===//
//
// Files are built byte by byte here (GGUFBuilder), independently of the
// writer under test, so that parser and writer are checked against the
// format rather than against each other.
//===----------------------------------------------------------------------===//

#include "frontend/GGUF.h"
#include "frontend/Checkpoint.h"

#include <gtest/gtest.h>

#include <cstring>
#include <fstream>
#include <iterator>
#include <map>
#include <unistd.h>

using namespace mixq;

namespace {

constexpr uint64_t k2Pow62 = uint64_t(1) << 62;

std::string tempPath(const std::string &tag) {
  return ::testing::TempDir() + "/mixq-gguf-" + tag + "-" +
         std::to_string(::getpid()) + ".gguf";
}

std::vector<uint8_t> readFile(const std::string &path) {
  std::ifstream in(path, std::ios::binary);
  return std::vector<uint8_t>(std::istreambuf_iterator<char>(in), {});
}

void writeFile(const std::string &path, const std::vector<uint8_t> &bytes) {
  std::ofstream(path, std::ios::binary)
      .write(reinterpret_cast<const char *>(bytes.data()), bytes.size());
}

bool exists(const std::string &path) {
  return ::access(path.c_str(), F_OK) == 0;
}

/// Little-endian byte sink.
struct Bytes {
  std::vector<uint8_t> data;
  template <typename T> Bytes &put(T value) {
    uint8_t raw[sizeof(T)];
    std::memcpy(raw, &value, sizeof(T));
    data.insert(data.end(), raw, raw + sizeof(T));
    return *this;
  }
  Bytes &str(const std::string &s) {
    put<uint64_t>(s.size());
    data.insert(data.end(), s.begin(), s.end());
    return *this;
  }
  Bytes &append(const Bytes &other) {
    data.insert(data.end(), other.data.begin(), other.data.end());
    return *this;
  }
};

// GGUF value type ids, spelled out (independent of GGUF.h's enum).
enum : uint32_t {
  kU8 = 0,
  kI8 = 1,
  kU16 = 2,
  kI16 = 3,
  kU32 = 4,
  kI32 = 5,
  kF32 = 6,
  kBool = 7,
  kString = 8,
  kArray = 9,
  kU64 = 10,
  kI64 = 11,
  kF64 = 12,
};
// ggml type ids.
enum : uint32_t { kGgmlF32 = 0, kGgmlF16 = 1, kGgmlQ4K = 12, kGgmlBF16 = 30 };

struct BuilderTensor {
  std::string name;
  std::vector<uint64_t> dims;
  uint32_t type = kGgmlF32;
  std::vector<uint8_t> bytes;
  /// Offset in the data section; by default the next aligned position.
  std::optional<uint64_t> offset;
};

/// A GGUF file assembled from raw pieces: metadata entries (key, type id,
/// encoded value) and tensors, with no trailing padding after the last
/// tensor (so every strict prefix of a built file is truncated).
struct GGUFBuilder {
  uint32_t version = 3;
  uint64_t alignment = 32;
  struct Entry {
    std::string key;
    uint32_t type;
    Bytes value;
  };
  std::vector<Entry> entries;
  std::vector<BuilderTensor> tensors;
  /// Filled by build(): where the data section starts.
  uint64_t dataOffset = 0;

  GGUFBuilder &kv(const std::string &key, uint32_t type, Bytes value) {
    for (Entry &e : entries)
      if (e.key == key) {
        e.type = type;
        e.value = std::move(value);
        return *this;
      }
    entries.push_back({key, type, std::move(value)});
    return *this;
  }
  GGUFBuilder &u32(const std::string &key, uint32_t v) {
    return kv(key, kU32, Bytes().put(v));
  }
  GGUFBuilder &f32(const std::string &key, float v) {
    return kv(key, kF32, Bytes().put(v));
  }
  GGUFBuilder &string(const std::string &key, const std::string &v) {
    return kv(key, kString, Bytes().str(v));
  }
  void removeKey(const std::string &key) {
    for (size_t i = 0; i < entries.size(); ++i)
      if (entries[i].key == key) {
        entries.erase(entries.begin() + i);
        return;
      }
    ADD_FAILURE() << "no key " << key;
  }
  BuilderTensor &tensor(const std::string &name) {
    for (BuilderTensor &t : tensors)
      if (t.name == name)
        return t;
    ADD_FAILURE() << "no tensor " << name;
    return tensors.front();
  }
  void removeTensor(const std::string &name) {
    for (size_t i = 0; i < tensors.size(); ++i)
      if (tensors[i].name == name) {
        tensors.erase(tensors.begin() + i);
        return;
      }
    ADD_FAILURE() << "no tensor " << name;
  }
  /// A tensor whose byte j is (seed + 7 j) mod 256.
  GGUFBuilder &addTensor(const std::string &name, std::vector<uint64_t> dims,
                         uint32_t type, uint64_t byteSize, uint8_t seed = 1) {
    BuilderTensor t;
    t.name = name;
    t.dims = std::move(dims);
    t.type = type;
    for (uint64_t j = 0; j < byteSize; ++j)
      t.bytes.push_back(uint8_t(seed + 7 * j));
    tensors.push_back(std::move(t));
    return *this;
  }
  /// An F32 tensor of dims (ne order) with the given values or a pattern.
  GGUFBuilder &addF32(const std::string &name, std::vector<uint64_t> dims,
                      std::vector<float> values = {}) {
    uint64_t n = 1;
    for (uint64_t d : dims)
      n *= d;
    if (values.empty())
      for (uint64_t i = 0; i < n; ++i)
        values.push_back(float(tensors.size() * 100 + i));
    Bytes b;
    for (float v : values)
      b.put(v);
    BuilderTensor t;
    t.name = name;
    t.dims = std::move(dims);
    t.bytes = b.data;
    tensors.push_back(std::move(t));
    return *this;
  }

  std::vector<uint8_t> build() {
    Bytes out;
    out.data = {'G', 'G', 'U', 'F'};
    out.put(version)
        .put<uint64_t>(tensors.size())
        .put<uint64_t>(entries.size());
    for (const Entry &e : entries)
      out.str(e.key).put(e.type).append(e.value);
    // Tensors placed beyond kFar (tests of bad offsets) get no bytes.
    const uint64_t kFar = uint64_t(1) << 20;
    uint64_t next = 0, end = 0;
    std::vector<uint64_t> offsets;
    for (const BuilderTensor &t : tensors) {
      uint64_t offset =
          t.offset ? *t.offset : (next + alignment - 1) / alignment * alignment;
      offsets.push_back(offset);
      if (offset > kFar)
        continue;
      next = offset + t.bytes.size();
      end = std::max(end, next);
    }
    for (size_t i = 0; i < tensors.size(); ++i) {
      const BuilderTensor &t = tensors[i];
      out.str(t.name).put<uint32_t>(t.dims.size());
      for (uint64_t d : t.dims)
        out.put(d);
      out.put(t.type).put(offsets[i]);
    }
    dataOffset = (out.data.size() + alignment - 1) / alignment * alignment;
    std::vector<uint8_t> file = out.data;
    if (tensors.empty())
      return file;
    file.resize(dataOffset + end, 0);
    for (size_t i = 0; i < tensors.size(); ++i)
      if (offsets[i] <= kFar)
        std::copy(tensors[i].bytes.begin(), tensors[i].bytes.end(),
                  file.begin() + dataOffset + offsets[i]);
    return file;
  }
};

Expected<GGUFFile> parse(const std::vector<uint8_t> &bytes,
                         const std::string &what = "test.gguf") {
  return parseGGUF(bytes.data(), bytes.size(), what);
}

/// Tokens of the tiny vocabulary.
const std::vector<std::string> kTokens = {"<unk>",
                                          "<s>",
                                          "</s>",
                                          "<0x00>",
                                          "\xe2\x96\x81"
                                          "a",
                                          "b",
                                          "c",
                                          "d"};

/// A hand-built llama GGUF: dim 8, hidden 16, 2 layers, 2 heads of 4, 1 kv
/// head, vocab 8 (from the tokenizer), context 32, untied, F32.
GGUFBuilder tinyLlama() {
  GGUFBuilder b;
  b.string("general.architecture", "llama");
  b.u32("llama.context_length", 32);
  b.u32("llama.embedding_length", 8);
  b.u32("llama.block_count", 2);
  b.u32("llama.feed_forward_length", 16);
  b.u32("llama.attention.head_count", 2);
  b.u32("llama.attention.head_count_kv", 1);
  b.f32("llama.attention.layer_norm_rms_epsilon", 1e-6f);
  b.f32("llama.rope.freq_base", 10000.0f);
  b.u32("llama.rope.dimension_count", 4);
  b.string("tokenizer.ggml.model", "llama");
  Bytes tokens;
  tokens.put(kString).put<uint64_t>(kTokens.size());
  for (const std::string &t : kTokens)
    tokens.str(t);
  b.kv("tokenizer.ggml.tokens", kArray, tokens);
  Bytes scores;
  scores.put(kF32).put<uint64_t>(8);
  for (int i = 0; i < 8; ++i)
    scores.put(-float(i));
  b.kv("tokenizer.ggml.scores", kArray, scores);
  Bytes types;
  types.put(kI32).put<uint64_t>(8);
  for (int32_t t : {2, 3, 3, 6, 1, 1, 1, 1})
    types.put(t);
  b.kv("tokenizer.ggml.token_type", kArray, types);
  b.u32("tokenizer.ggml.bos_token_id", 1);
  b.u32("tokenizer.ggml.eos_token_id", 2);

  // GGUF dims are ne order: [in, out] for matrices.
  b.addF32("token_embd.weight", {8, 8});
  for (int l = 0; l < 2; ++l) {
    std::string p = "blk." + std::to_string(l) + ".";
    b.addF32(p + "attn_norm.weight", {8});
    b.addF32(p + "attn_q.weight", {8, 8});
    b.addF32(p + "attn_k.weight", {8, 4});
    b.addF32(p + "attn_v.weight", {8, 4});
    b.addF32(p + "attn_output.weight", {8, 8});
    b.addF32(p + "ffn_norm.weight", {8});
    b.addF32(p + "ffn_gate.weight", {8, 16});
    b.addF32(p + "ffn_up.weight", {8, 16});
    b.addF32(p + "ffn_down.weight", {16, 8});
  }
  b.addF32("output_norm.weight", {8});
  b.addF32("output.weight", {8, 8});
  return b;
}

Expected<std::unique_ptr<Model>> loadBytes(const std::vector<uint8_t> &bytes,
                                           const std::string &tag) {
  std::string path = tempPath(tag);
  writeFile(path, bytes);
  auto model = loadGGUF(path);
  std::remove(path.c_str());
  return model;
}

/// Loads `builder`'s file and returns the error (empty on success).
std::string loadError(GGUFBuilder &builder, const std::string &tag) {
  auto model = loadBytes(builder.build(), tag);
  return model ? std::string() : model.message();
}

void expectContains(const std::string &text, const std::string &part,
                    const char *file, int line) {
  if (text.find(part) == std::string::npos)
    ADD_FAILURE_AT(file, line)
        << "'" << text << "' does not contain '" << part << "'";
}
/// Evaluates `text` once (it is often a load).
#define EXPECT_CONTAINS(text, part)                                            \
  expectContains((text), (part), __FILE__, __LINE__)

//===----------------------------------------------------------------------===//
// Parsing
//===----------------------------------------------------------------------===//

/// A header with every metadata type, a nested array and two tensors whose
/// data ends exactly at the end of the file.
GGUFBuilder everyTypeFile() {
  GGUFBuilder b;
  b.kv("a.u8", kU8, Bytes().put<uint8_t>(200));
  b.kv("a.i8", kI8, Bytes().put<int8_t>(-5));
  b.kv("a.u16", kU16, Bytes().put<uint16_t>(60000));
  b.kv("a.i16", kI16, Bytes().put<int16_t>(-30000));
  b.kv("a.u32", kU32, Bytes().put<uint32_t>(4000000000u));
  b.kv("a.i32", kI32, Bytes().put<int32_t>(-2000000000));
  b.kv("a.f32", kF32, Bytes().put(1.5f));
  b.kv("a.bool", kBool, Bytes().put<uint8_t>(1));
  b.kv("a.str", kString, Bytes().str("h\xc3\xa9llo"));
  b.kv("a.u64", kU64, Bytes().put<uint64_t>((uint64_t(1) << 40) + 1));
  b.kv("a.i64", kI64, Bytes().put<int64_t>(-(int64_t(1) << 40)));
  b.kv("a.f64", kF64, Bytes().put(0.1));
  b.kv("a.arr", kArray,
       Bytes()
           .put(kI32)
           .put<uint64_t>(3)
           .put<int32_t>(1)
           .put<int32_t>(-2)
           .put<int32_t>(3));
  // [["x", "yz"], []]: an array of arrays of strings.
  b.kv("a.nested", kArray,
       Bytes()
           .put(kArray)
           .put<uint64_t>(2)
           .put(kString)
           .put<uint64_t>(2)
           .str("x")
           .str("yz")
           .put(kString)
           .put<uint64_t>(0));
  b.kv("a.strs", kArray,
       Bytes().put(kString).put<uint64_t>(2).str("p").str("q"));
  b.addF32("t0", {3, 2}, {0, 1, 2, 3, 4, 5});
  // F16 1.0, 2.0, -2.0, 0.5.
  BuilderTensor t1;
  t1.name = "t1";
  t1.dims = {4};
  t1.type = kGgmlF16;
  t1.bytes = Bytes()
                 .put<uint16_t>(0x3c00)
                 .put<uint16_t>(0x4000)
                 .put<uint16_t>(0xc000)
                 .put<uint16_t>(0x3800)
                 .data;
  b.tensors.push_back(t1);
  return b;
}

TEST(GGUFParse, HandWrittenHeaderWithEveryType) {
  GGUFBuilder b = everyTypeFile();
  std::vector<uint8_t> bytes = b.build();
  auto file = parse(bytes);
  ASSERT_TRUE(file) << file.message();
  EXPECT_EQ(file->version, 3u);
  EXPECT_EQ(file->alignment, 32u);
  EXPECT_EQ(file->dataOffset, b.dataOffset);
  std::vector<std::string> keys;
  for (const GGUFKeyValue &kv : file->metadata)
    keys.push_back(kv.key);
  EXPECT_EQ(keys, (std::vector<std::string>{"a.u8", "a.i8", "a.u16", "a.i16",
                                            "a.u32", "a.i32", "a.f32", "a.bool",
                                            "a.str", "a.u64", "a.i64", "a.f64",
                                            "a.arr", "a.nested", "a.strs"}));

  EXPECT_EQ(*file->getU32("a.u8"), 200u);
  EXPECT_EQ(*file->getI32("a.i8"), -5);
  EXPECT_EQ(*file->getU32("a.u16"), 60000u);
  EXPECT_EQ(*file->getI64("a.i16"), -30000);
  EXPECT_EQ(*file->getU64("a.u32"), 4000000000u);
  EXPECT_EQ(*file->getI32("a.i32"), -2000000000);
  EXPECT_EQ(*file->getF32("a.f32"), 1.5f);
  EXPECT_EQ(*file->getBool("a.bool"), true);
  EXPECT_EQ(*file->getString("a.str"), "h\xc3\xa9llo");
  EXPECT_EQ(*file->getU64("a.u64"), 1099511627777u);
  EXPECT_EQ(*file->getI64("a.i64"), -1099511627776);
  EXPECT_EQ(*file->getF64("a.f64"), 0.1);
  EXPECT_EQ(*file->getI64Array("a.arr"), (std::vector<int64_t>{1, -2, 3}));
  EXPECT_EQ(*file->getStringArray("a.strs"),
            (std::vector<std::string>{"p", "q"}));

  auto nested = file->getArray("a.nested");
  ASSERT_TRUE(nested) << nested.message();
  EXPECT_EQ((*nested)->describe(), "array of array of string");
  ASSERT_EQ((*nested)->length, 2u);
  ASSERT_EQ((*nested)->arrayElements.size(), 2u);
  EXPECT_EQ((*nested)->arrayElements[0].stringElements,
            (std::vector<std::string>{"x", "yz"}));
  EXPECT_EQ((*nested)->arrayElements[1].length, 0u);

  ASSERT_EQ(file->tensors.size(), 2u);
  const GGUFTensorInfo &t0 = file->tensors[0];
  EXPECT_EQ(t0.name, "t0");
  EXPECT_EQ(t0.dims, (std::vector<uint64_t>{3, 2}));
  EXPECT_EQ(t0.shape(), (std::vector<int64_t>{2, 3}));
  EXPECT_EQ(t0.byteSize, 24u);
  EXPECT_EQ(t0.offset, 0u);
  float values[6];
  std::memcpy(values, file->tensorData(t0), sizeof(values));
  EXPECT_EQ(values[5], 5.0f);
  const GGUFTensorInfo *t1 = file->findTensor("t1");
  ASSERT_NE(t1, nullptr);
  EXPECT_EQ(t1->offset, 32u);
  EXPECT_EQ(t1->byteSize, 8u);
  EXPECT_EQ(t1->shape(), (std::vector<int64_t>{4}));
  uint16_t half;
  std::memcpy(&half, file->tensorData(*t1) + 6, 2);
  EXPECT_EQ(half, 0x3800);
  EXPECT_EQ(file->findTensor("t2"), nullptr);
}

TEST(GGUFParse, AccessorErrorsNameKeyAndTypes) {
  std::vector<uint8_t> bytes = everyTypeFile().build();
  auto file = parse(bytes, "types.gguf");
  ASSERT_TRUE(file) << file.message();
  auto wrong = file->getString("a.u8");
  ASSERT_FALSE(wrong);
  EXPECT_EQ(wrong.message(),
            "types.gguf: metadata key 'a.u8' has type u8, expected string");
  EXPECT_EQ(file->getU32("a.str").message(),
            "types.gguf: metadata key 'a.str' has type string, expected an "
            "integer");
  EXPECT_EQ(file->getF32("a.u32").message(),
            "types.gguf: metadata key 'a.u32' has type u32, expected f32 or "
            "f64");
  EXPECT_EQ(file->getStringArray("a.arr").message(),
            "types.gguf: metadata key 'a.arr' has type array of i32, "
            "expected array of string");
  EXPECT_EQ(file->getU32("nope").message(),
            "types.gguf: missing metadata key 'nope'");
  // Integer getters convert when the value fits, and only then.
  EXPECT_EQ(file->getU32("a.i8").message(),
            "types.gguf: metadata key 'a.i8' = -5 does not fit in u32");
  EXPECT_EQ(file->getI32("a.u32").message(),
            "types.gguf: metadata key 'a.u32' = 4000000000 does not fit in "
            "i32");
  EXPECT_FALSE(file->getU32("a.u64"));
  EXPECT_FALSE(file->getU64("a.i64"));
  EXPECT_EQ(*file->getI64("a.u64"), 1099511627777);
  EXPECT_FALSE(file->getBool("a.u8"));
  EXPECT_FALSE(file->getF32Array("a.arr"));
}

TEST(GGUFParse, TruncatedAtEveryOffset) {
  std::vector<uint8_t> bytes = everyTypeFile().build();
  ASSERT_TRUE(parse(bytes));
  for (size_t size = 0; size < bytes.size(); ++size) {
    // A fresh copy of exactly `size` bytes, so ASan sees any over-read.
    std::vector<uint8_t> prefix(bytes.begin(), bytes.begin() + size);
    auto file = parseGGUF(prefix.data(), prefix.size(), "cut.gguf");
    ASSERT_FALSE(file) << "a prefix of " << size << " bytes parsed";
    const std::string &m = file.message();
    EXPECT_EQ(m.rfind("cut.gguf: ", 0), 0u) << m;
    bool explained = m.find("truncated") != std::string::npos ||
                     m.find("not a GGUF file") != std::string::npos ||
                     m.find("exceeds the") != std::string::npos ||
                     m.find("cannot fit") != std::string::npos ||
                     m.find("extends past the end") != std::string::npos;
    EXPECT_TRUE(explained) << size << ": " << m;
  }
}

TEST(GGUFParse, WrongMagic) {
  std::vector<uint8_t> bytes = everyTypeFile().build();
  bytes[2] = 'M';
  bytes[3] = 'L';
  EXPECT_EQ(parse(bytes).message(),
            "test.gguf: not a GGUF file: the magic is 47 47 4d 4c (\"GGML\"), "
            "expected 47 47 55 46 (\"GGUF\")");
  std::vector<uint8_t> binary = {0x7f, 'E', 'L', 'F', 0, 0, 0, 0};
  EXPECT_CONTAINS(parse(binary).message(), "7f 45 4c 46 (\".ELF\")");
}

TEST(GGUFParse, RejectsVersions1And4AndBigEndian) {
  GGUFBuilder b = everyTypeFile();
  b.version = 1;
  EXPECT_CONTAINS(parse(b.build()).message(),
                  "GGUF version 1 is not supported");
  b.version = 4;
  EXPECT_CONTAINS(parse(b.build()).message(), "unsupported GGUF version 4");
  b.version = 0x03000000; // 3 written big-endian
  EXPECT_CONTAINS(parse(b.build()).message(), "big-endian");
  b.version = 2;
  EXPECT_TRUE(parse(b.build()));
}

TEST(GGUFParse, TensorOutsideTheFile) {
  GGUFBuilder b;
  b.addF32("t", {4});
  std::vector<uint8_t> bytes = b.build();
  // Claim 1000 elements: the 16 bytes present cannot hold them.
  b.tensors[0].dims = {1000};
  bytes = b.build();
  auto file = parse(bytes);
  ASSERT_FALSE(file);
  EXPECT_CONTAINS(file.message(), "tensor 't' (4000 bytes at offset 0");
  EXPECT_CONTAINS(file.message(), "extends past the end of the file");
  // An offset far beyond the end, chosen so that offset + size overflows.
  b.tensors[0].dims = {4};
  b.tensors[0].offset = uint64_t(0) - 32;
  EXPECT_CONTAINS(parse(b.build()).message(), "extends past the end");
}

TEST(GGUFParse, MisalignedTensorOffset) {
  GGUFBuilder b;
  b.addF32("a", {4}).addF32("b", {4});
  b.tensors[1].offset = 16;
  EXPECT_CONTAINS(parse(b.build()).message(),
                  "tensor 'b' has offset 16, which is not a multiple of the "
                  "32-byte alignment");
}

TEST(GGUFParse, OverlappingTensors) {
  GGUFBuilder b;
  b.addF32("first", {16}).addF32("second", {8});
  b.tensors[1].offset = 32; // inside first's bytes [0, 64)
  EXPECT_CONTAINS(parse(b.build()).message(),
                  "tensors 'first' (bytes [0, 64)) and 'second' (bytes [32, "
                  "64)) of the data section overlap");
}

TEST(GGUFParse, DuplicateKeysAndTensorNames) {
  GGUFBuilder b;
  b.u32("k", 1);
  b.entries.push_back({"k", kU32, Bytes().put<uint32_t>(2)});
  EXPECT_CONTAINS(parse(b.build()).message(), "duplicate metadata key 'k'");
  GGUFBuilder t;
  t.addF32("w", {4}).addF32("w", {4});
  EXPECT_CONTAINS(parse(t.build()).message(), "duplicate tensor name 'w'");
}

/// A header announcing `numTensors` tensors and `numKV` entries, followed by
/// `rest`.
std::vector<uint8_t> rawHeader(uint64_t numTensors, uint64_t numKV,
                               const Bytes &rest = Bytes()) {
  Bytes b;
  b.data = {'G', 'G', 'U', 'F'};
  b.put<uint32_t>(3).put(numTensors).put(numKV).append(rest);
  return b.data;
}

TEST(GGUFParse, HugeCountsFailFastWithoutAllocating) {
  EXPECT_CONTAINS(parse(rawHeader(k2Pow62, 0)).message(),
                  "4611686018427387904 tensors cannot fit in the 0 bytes");
  EXPECT_CONTAINS(parse(rawHeader(0, k2Pow62)).message(),
                  "4611686018427387904 metadata entries cannot fit");
  // A key of length 2^62.
  EXPECT_CONTAINS(
      parse(rawHeader(0, 1, Bytes().put(k2Pow62).put(kU8).put<uint8_t>(0)))
          .message(),
      "metadata key length 4611686018427387904 at offset 24 "
      "exceeds the 5 bytes left");
  // A string value of length 2^62.
  EXPECT_CONTAINS(
      parse(rawHeader(0, 1, Bytes().str("s").put(kString).put(k2Pow62)))
          .message(),
      "string length 4611686018427387904");
  // Arrays of 2^62 elements, of a fixed-size type, of strings and of arrays.
  for (uint32_t elementType : {kU8, kString, kArray})
    EXPECT_CONTAINS(parse(rawHeader(0, 1,
                                    Bytes()
                                        .str("a")
                                        .put(kArray)
                                        .put(elementType)
                                        .put(k2Pow62)
                                        .put<uint64_t>(0)))
                        .message(),
                    "announces an array of 4611686018427387904");
  // A tensor name of length 2^62, and a tensor with 2^62 x 2^62 elements.
  EXPECT_CONTAINS(parse(rawHeader(1, 0,
                                  Bytes()
                                      .put(k2Pow62)
                                      .put<uint64_t>(0)
                                      .put<uint64_t>(0)
                                      .put<uint64_t>(0)))
                      .message(),
                  "tensor name length 4611686018427387904");
  EXPECT_CONTAINS(parse(rawHeader(1, 0,
                                  Bytes()
                                      .str("t")
                                      .put<uint32_t>(2)
                                      .put(k2Pow62)
                                      .put(k2Pow62)
                                      .put(kGgmlF32)
                                      .put<uint64_t>(0)))
                      .message(),
                  "has more elements than fit in int64");
}

TEST(GGUFParse, AlignmentMustBeAPowerOfTwo) {
  for (uint32_t alignment : {0u, 3u, 48u}) {
    GGUFBuilder b;
    b.u32("general.alignment", alignment);
    EXPECT_EQ(parse(b.build()).message(),
              "test.gguf: general.alignment must be a non-zero power of two, "
              "got " +
                  std::to_string(alignment));
  }
  GGUFBuilder wrongType;
  wrongType.string("general.alignment", "32");
  EXPECT_CONTAINS(parse(wrongType.build()).message(),
                  "'general.alignment' has type string, expected an integer");
}

TEST(GGUFParse, CustomAlignment) {
  GGUFBuilder b;
  b.alignment = 64;
  b.u32("general.alignment", 64);
  b.addF32("a", {4}).addF32("b", {4});
  std::vector<uint8_t> bytes = b.build();
  auto file = parse(bytes);
  ASSERT_TRUE(file) << file.message();
  EXPECT_EQ(file->alignment, 64u);
  EXPECT_EQ(file->dataOffset % 64, 0u);
  EXPECT_EQ(file->tensors[1].offset, 64u);
  // 32 is aligned for the default but not for 64.
  b.tensors[1].offset = 32;
  EXPECT_CONTAINS(parse(b.build()).message(),
                  "not a multiple of the 64-byte alignment");
}

TEST(GGUFParse, GGMLTypeTableAndQuantizedSizes) {
  GGUFBuilder b;
  // Q4_K: 256-element blocks of 144 bytes; 2 blocks per row, 3 rows.
  b.addTensor("q4k", {512, 3}, kGgmlQ4K, 864);
  // Q8_0 (id 8): 32-element blocks of 34 bytes; 2 x 2 blocks.
  b.addTensor("q8", {64, 2}, 8, 136);
  // BF16: 2 bytes each.
  b.addTensor("bf", {5}, kGgmlBF16, 10);
  auto file = parse(b.build());
  ASSERT_TRUE(file) << file.message();
  EXPECT_EQ(file->tensors[0].byteSize, 864u);
  EXPECT_EQ(file->tensors[1].byteSize, 136u);
  EXPECT_EQ(file->tensors[2].byteSize, 10u);
  ASSERT_NE(ggmlTypeInfo(12), nullptr);
  EXPECT_STREQ(ggmlTypeInfo(12)->name, "Q4_K");
  EXPECT_STREQ(ggmlTypeInfo(35)->name, "TQ2_0");
  EXPECT_STREQ(ggmlTypeInfo(30)->name, "BF16");
  EXPECT_EQ(ggmlTypeInfo(4), nullptr); // removed Q4_2
  EXPECT_EQ(ggmlTypeInfo(99), nullptr);

  GGUFBuilder partialBlock;
  partialBlock.addTensor("q", {100, 1}, kGgmlQ4K, 144);
  EXPECT_CONTAINS(parse(partialBlock.build()).message(),
                  "tensor 'q' of ggml type Q4_K has ne[0] = 100, which is not "
                  "a multiple of its block size 256");
}

TEST(GGUFParse, UnknownGGMLTypeAndTooManyDims) {
  GGUFBuilder b;
  b.addTensor("blk.0.attn_q.weight", {4}, 99, 16);
  EXPECT_EQ(parse(b.build()).message(),
            "test.gguf: tensor 'blk.0.attn_q.weight' has unknown ggml type id "
            "99");
  GGUFBuilder dims;
  dims.addF32("t", {1, 1, 1, 1, 1});
  EXPECT_CONTAINS(parse(dims.build()).message(),
                  "tensor 't' has 5 dimensions; GGUF allows at most 4");
}

TEST(GGUFParse, BadValueTypesAndDeepNesting) {
  GGUFBuilder b;
  b.kv("k", 13, Bytes());
  EXPECT_CONTAINS(parse(b.build()).message(),
                  "metadata key 'k' has unknown value type id 13");
  GGUFBuilder boolean;
  boolean.kv("flag", kBool, Bytes().put<uint8_t>(2));
  EXPECT_CONTAINS(parse(boolean.build()).message(),
                  "'flag' is a bool of value 2");
  // 20 levels of arrays, each holding one array.
  Bytes deep;
  for (int i = 0; i < 20; ++i)
    deep.put(kArray).put<uint64_t>(1);
  deep.put(kU8).put<uint64_t>(0);
  GGUFBuilder nested;
  nested.kv("deep", kArray, deep);
  EXPECT_CONTAINS(parse(nested.build()).message(), "nests arrays deeper than");
  // 70000 empty arrays: legal, but past the nested-element limit (2^16).
  Bytes wide;
  wide.put(kArray).put<uint64_t>(70000);
  for (int i = 0; i < 70000; ++i)
    wide.put(kU8).put<uint64_t>(0);
  GGUFBuilder many;
  many.kv("wide", kArray, wide);
  EXPECT_CONTAINS(parse(many.build()).message(),
                  "takes the file past 65536 nested array elements");
}

TEST(GGUFParse, MetadataEntryLimit) {
  // 2^20 + 1 entries would fit in the bytes given, but no model has them.
  std::vector<uint8_t> bytes = rawHeader(0, (uint64_t(1) << 20) + 1);
  bytes.resize(bytes.size() + 14 * ((size_t(1) << 20) + 1), 0);
  EXPECT_CONTAINS(parse(bytes).message(),
                  "1048577 metadata entries (mixq's limit is 1048576)");
}

//===----------------------------------------------------------------------===//
// Llama import
//===----------------------------------------------------------------------===//

TEST(GGUFLoad, HandBuiltLlama) {
  GGUFBuilder b = tinyLlama();
  std::vector<uint8_t> bytes = b.build();
  auto model = loadBytes(bytes, "hand");
  ASSERT_TRUE(model) << model.message();
  const ModelConfig &c = (*model)->config;
  EXPECT_EQ(c.dim, 8);
  EXPECT_EQ(c.hiddenDim, 16);
  EXPECT_EQ(c.numLayers, 2);
  EXPECT_EQ(c.numHeads, 2);
  EXPECT_EQ(c.numKvHeads, 1);
  EXPECT_EQ(c.headDim, 4);
  EXPECT_EQ(c.vocabSize, 8);
  EXPECT_EQ(c.maxSeqLen, 32);
  EXPECT_EQ(c.normEps, 1e-6f);
  EXPECT_EQ(c.ropeTheta, 10000.0f);
  EXPECT_EQ(c.ropeLayout, RopeLayout::Interleaved);
  EXPECT_FALSE(c.ropeScaling.enabled());
  EXPECT_FALSE(c.tiedEmbeddings);
  EXPECT_EQ(c.weightDType, DType::F32);
  EXPECT_EQ((*model)->format, "gguf");
  const TokenizerData &t = (*model)->tokenizer;
  EXPECT_EQ(t.model, "llama");
  EXPECT_EQ(t.tokens, kTokens);
  EXPECT_EQ(t.scores[3], -3.0f);
  EXPECT_EQ(t.types, (std::vector<int32_t>{2, 3, 3, 6, 1, 1, 1, 1}));
  EXPECT_EQ(t.bosId, 1);
  EXPECT_EQ(t.eosId, 2);
  // blk.0.attn_k.weight is the 4th tensor (index 3): its elements are 300+i,
  // its GGUF dims [8, 4] make a [4, 8] matrix.
  auto k = (*model)->weights.get("blk0.k_proj");
  ASSERT_TRUE(k) << k.message();
  EXPECT_EQ((*k)->shape, (std::vector<int64_t>{4, 8}));
  auto values = readAllAsF32(**k);
  ASSERT_TRUE(values);
  EXPECT_EQ((*values)[0], 300.0f);
  EXPECT_EQ((*values)[31], 331.0f);
  EXPECT_EQ((*model)->weights.size(), 21u);
}

TEST(GGUFLoad, DefaultsAndFallbacks) {
  GGUFBuilder b = tinyLlama();
  // No head_count_kv: as many kv heads as heads, so k/v are [8, 8].
  b.removeKey("llama.attention.head_count_kv");
  b.removeKey("llama.rope.freq_base");
  for (int l = 0; l < 2; ++l)
    for (const char *name : {"attn_k", "attn_v"}) {
      BuilderTensor &t =
          b.tensor("blk." + std::to_string(l) + "." + name + ".weight");
      t.dims = {8, 8};
      t.bytes.resize(256);
    }
  // No tokenizer: the vocabulary size comes from token_embd.
  for (const char *key :
       {"tokenizer.ggml.model", "tokenizer.ggml.tokens",
        "tokenizer.ggml.scores", "tokenizer.ggml.token_type",
        "tokenizer.ggml.bos_token_id", "tokenizer.ggml.eos_token_id"})
    b.removeKey(key);
  // No output.weight: tied embeddings.
  b.removeTensor("output.weight");
  auto model = loadBytes(b.build(), "defaults");
  ASSERT_TRUE(model) << model.message();
  EXPECT_EQ((*model)->config.numKvHeads, 2);
  EXPECT_EQ((*model)->config.ropeTheta, 10000.0f);
  EXPECT_EQ((*model)->config.vocabSize, 8);
  EXPECT_TRUE((*model)->config.tiedEmbeddings);
  EXPECT_TRUE((*model)->tokenizer.empty());
  EXPECT_FALSE((*model)->weights.contains("lm_head"));
}

TEST(GGUFLoad, MissingTensor) {
  GGUFBuilder b = tinyLlama();
  b.removeTensor("blk.1.ffn_up.weight");
  EXPECT_CONTAINS(loadError(b, "missing"),
                  "missing tensor 'blk.1.ffn_up.weight' (mixq's "
                  "'blk1.up_proj'); the file has 20 of the 21 tensors");
  // A huge block_count with few tensors fails at once, naming the first
  // missing block tensor.
  GGUFBuilder many = tinyLlama();
  many.u32("llama.block_count", 1 << 24);
  EXPECT_CONTAINS(loadError(many, "many"),
                  "missing tensor 'blk.2.attn_norm.weight'");
}

TEST(GGUFLoad, ShapeContradictingConfig) {
  GGUFBuilder b = tinyLlama();
  b.tensor("blk.0.attn_q.weight").dims = {8, 6};
  b.tensor("blk.0.attn_q.weight").bytes.resize(192);
  std::string error = loadError(b, "shape");
  EXPECT_CONTAINS(error, "mixq-gguf-shape");
  EXPECT_CONTAINS(error, "tensor 'blk.0.attn_q.weight' (mixq's "
                         "'blk0.q_proj') has shape [6, 8] but the config "
                         "implies [8, 8]");
}

TEST(GGUFLoad, QuantizedTensorIsNotImportedYet) {
  GGUFBuilder b = tinyLlama();
  BuilderTensor &q = b.tensor("blk.0.attn_q.weight");
  q.type = kGgmlQ4K;
  q.dims = {256, 1};
  q.bytes.assign(144, 0);
  std::string path = tempPath("model");
  writeFile(path, b.build());
  auto model = loadGGUF(path);
  std::remove(path.c_str());
  ASSERT_FALSE(model);
  EXPECT_EQ(model.message(),
            path + ": tensor 'blk.0.attn_q.weight' has ggml type Q4_K, which "
                   "mixq cannot import yet (only F32, F16 and BF16)");
}

TEST(GGUFLoad, UnknownNamesAndBlocks) {
  GGUFBuilder unknown = tinyLlama();
  unknown.addF32("blk.0.attn_qkv.weight", {8});
  EXPECT_CONTAINS(loadError(unknown, "unknown"),
                  "unknown tensor 'blk.0.attn_qkv.weight' for a llama model");
  GGUFBuilder beyond = tinyLlama();
  beyond.addF32("blk.2.attn_norm.weight", {8});
  EXPECT_CONTAINS(loadError(beyond, "beyond"),
                  "tensor 'blk.2.attn_norm.weight' belongs to block 2 but "
                  "llama.block_count is 2");
  GGUFBuilder leadingZero = tinyLlama();
  leadingZero.addF32("blk.01.attn_norm.weight", {8});
  EXPECT_CONTAINS(loadError(leadingZero, "zero"),
                  "unknown tensor 'blk.01.attn_norm.weight'");
}

TEST(GGUFLoad, MetadataErrors) {
  GGUFBuilder gemma = tinyLlama();
  gemma.string("general.architecture", "gemma");
  EXPECT_CONTAINS(loadError(gemma, "arch"),
                  "general.architecture is 'gemma', but mixq imports only "
                  "'llama' GGUF models");
  GGUFBuilder missing = tinyLlama();
  missing.removeKey("llama.embedding_length");
  EXPECT_CONTAINS(loadError(missing, "key"),
                  "missing metadata key 'llama.embedding_length'");
  GGUFBuilder wrongType = tinyLlama();
  wrongType.string("llama.block_count", "2");
  EXPECT_CONTAINS(loadError(wrongType, "type"),
                  "metadata key 'llama.block_count' has type string, "
                  "expected an integer");
  GGUFBuilder yarn = tinyLlama();
  yarn.string("llama.rope.scaling.type", "yarn");
  EXPECT_CONTAINS(loadError(yarn, "yarn"),
                  "llama.rope.scaling.type 'yarn' is not supported");
  GGUFBuilder ropeDims = tinyLlama();
  ropeDims.u32("llama.rope.dimension_count", 2);
  EXPECT_CONTAINS(loadError(ropeDims, "ropedims"),
                  "llama.rope.dimension_count is 2 but the head size is 4");
  GGUFBuilder vocab = tinyLlama();
  vocab.u32("llama.vocab_size", 9);
  EXPECT_CONTAINS(loadError(vocab, "vocab"),
                  "tokenizer.ggml.tokens has 8 tokens but the vocabulary "
                  "size is 9");
  GGUFBuilder bos = tinyLlama();
  bos.u32("tokenizer.ggml.bos_token_id", 8);
  EXPECT_CONTAINS(loadError(bos, "bos"),
                  "tokenizer.ggml.bos_token_id = 8 is not a token id");
  GGUFBuilder heads = tinyLlama();
  heads.u32("llama.attention.head_count", 3);
  EXPECT_CONTAINS(loadError(heads, "heads"),
                  "llama.embedding_length (8) is not a multiple of "
                  "llama.attention.head_count (3)");
}

/// tinyLlama() with llama3 rope scaling keys (factor 8, original context
/// 1024, default low/high factors 1 and 4) and a rope_freqs tensor.
GGUFBuilder withRopeFreqs(std::vector<float> factors, bool keys) {
  GGUFBuilder b = tinyLlama();
  if (keys) {
    b.string("llama.rope.scaling.type", "llama3");
    b.f32("llama.rope.scaling.factor", 8.0f);
    b.u32("llama.rope.scaling.original_context_length", 1024);
  }
  b.addF32("rope_freqs.weight", {2}, std::move(factors));
  return b;
}

// Head size 4, theta 10000: frequencies 1 and 0.01, wavelengths 2*pi and
// 628.3. With an original context of 1024 and factors 1/4, the high and low
// frequency wavelengths are 256 and 1024: frequency 0 is kept (factor 1),
// frequency 1 is smoothed: s = (1024 / 628.3185 - 1) / 3 = 0.2099157, factor
// = 1 / ((1 - s) / 8 + s) = 3.2396418.
TEST(GGUFLoad, RopeFreqsMatchingLlama3AreAccepted) {
  GGUFBuilder b = withRopeFreqs({1.0f, 3.2396418f}, true);
  auto model = loadBytes(b.build(), "freqs");
  ASSERT_TRUE(model) << model.message();
  const RopeScaling &s = (*model)->config.ropeScaling;
  EXPECT_EQ(s.factor, 8.0f);
  EXPECT_EQ(s.originalMaxPositions, 1024);
  EXPECT_EQ(s.lowFreqFactor, 1.0f);
  EXPECT_EQ(s.highFreqFactor, 4.0f);
  EXPECT_FALSE((*model)->weights.contains("rope_freqs.weight"));
  // Within the 1e-3 relative tolerance.
  GGUFBuilder close = withRopeFreqs({1.0005f, 3.2396418f * 0.9995f}, true);
  EXPECT_EQ(loadError(close, "close"), "");
}

TEST(GGUFLoad, RopeFreqsContradictingLlama3AreRejected) {
  GGUFBuilder b = withRopeFreqs({1.0f, 3.0f}, true);
  EXPECT_CONTAINS(loadError(b, "badfreqs"),
                  "tensor 'rope_freqs.weight' frequency 1 is 3 but llama3 "
                  "rope scaling with factor 8");
  GGUFBuilder shape = tinyLlama();
  shape.addF32("rope_freqs.weight", {3}, {1, 1, 1});
  EXPECT_CONTAINS(loadError(shape, "freqshape"),
                  "tensor 'rope_freqs.weight' must be F32 of dims [2]");
}

TEST(GGUFLoad, RopeFreqsWithoutScalingKeys) {
  // All ones: no scaling.
  GGUFBuilder ones = withRopeFreqs({1.0f, 1.0f}, false);
  auto model = loadBytes(ones.build(), "ones");
  ASSERT_TRUE(model) << model.message();
  EXPECT_FALSE((*model)->config.ropeScaling.enabled());
  // As llama.cpp writes Llama 3.1 (factor 8, original context 8192, no
  // keys). With theta 1e7 frequency 1 is 10^-3.5: wavelength 19869 > 8192,
  // so it takes the full factor; frequency 0 keeps 1.
  GGUFBuilder inferred = withRopeFreqs({1.0f, 8.0f}, false);
  inferred.f32("llama.rope.freq_base", 1e7f);
  model = loadBytes(inferred.build(), "inferred");
  ASSERT_TRUE(model) << model.message();
  EXPECT_EQ((*model)->config.ropeScaling.factor, 8.0f);
  EXPECT_EQ((*model)->config.ropeScaling.originalMaxPositions, 8192);
  // With theta 10000, frequency 1 (wavelength 628) would keep factor 1.
  GGUFBuilder wrong = withRopeFreqs({1.0f, 8.0f}, false);
  std::string error = loadError(wrong, "noinfer");
  EXPECT_CONTAINS(error, "frequency 1 is 8");
  EXPECT_CONTAINS(error, "no llama.rope.scaling.* keys");
}

TEST(GGUFLoad, MissingFile) {
  auto model = loadGGUF(tempPath("absent"));
  ASSERT_FALSE(model);
  EXPECT_CONTAINS(model.message(), "cannot open");
}

//===----------------------------------------------------------------------===//
// Writing
//===----------------------------------------------------------------------===//

ModelConfig tinyConfig(DType dtype, bool tied) {
  ModelConfig c;
  c.dim = 8;
  c.hiddenDim = 16;
  c.numLayers = 2;
  c.numHeads = 2;
  c.numKvHeads = 1;
  c.headDim = 4;
  c.vocabSize = 8;
  c.maxSeqLen = 32;
  c.normEps = 1e-5f;
  c.ropeTheta = 500000.0f;
  c.tiedEmbeddings = tied;
  c.weightDType = dtype;
  return c;
}

TokenizerData tinyTokenizer() {
  TokenizerData t;
  t.model = "llama";
  t.tokens = kTokens;
  t.scores = {0, -1.5f, -2, -3, -4, -5, -6, -7.25f};
  t.types = {2, 3, 3, 6, 1, 1, 1, 1};
  t.bosId = 1;
  t.eosId = 2;
  return t;
}

/// Sources whose byte j of tensor t is (31 t + 7 j) mod 256; `produced`
/// receives each tensor's bytes as filled.
std::vector<TensorSource>
patternSources(const ModelConfig &c, DType dtype,
               std::map<std::string, std::vector<uint8_t>> *produced) {
  std::vector<TensorSource> out;
  int index = 0;
  for (const ExpectedTensor &t : expectedTensors(c)) {
    TensorSource src;
    src.name = t.name;
    src.dtype = dtype;
    src.shape = t.shape;
    int64_t n = 1;
    for (int64_t d : t.shape)
      n *= d;
    uint64_t bytes = uint64_t(n) * dtypeSize(dtype);
    src.fill = [bytes, seed = 31 * index++, name = t.name,
                produced](uint8_t *dst) {
      for (uint64_t j = 0; j < bytes; ++j)
        dst[j] = uint8_t(seed + 7 * j);
      if (produced)
        (*produced)[name].assign(dst, dst + bytes);
      return Status::success();
    };
    out.push_back(std::move(src));
  }
  return out;
}

void roundTrip(DType dtype, bool tied, const std::string &tag) {
  ModelConfig config = tinyConfig(dtype, tied);
  std::map<std::string, std::vector<uint8_t>> produced;
  std::string path = tempPath(tag);
  Status written = writeGGUF(path, config, tinyTokenizer(),
                             patternSources(config, dtype, &produced));
  ASSERT_TRUE(written) << written.message();
  EXPECT_FALSE(exists(path + ".tmp"));
  auto model = loadGGUF(path);
  ASSERT_TRUE(model) << model.message();
  const ModelConfig &c = (*model)->config;
  EXPECT_EQ(c.dim, 8);
  EXPECT_EQ(c.hiddenDim, 16);
  EXPECT_EQ(c.numLayers, 2);
  EXPECT_EQ(c.numHeads, 2);
  EXPECT_EQ(c.numKvHeads, 1);
  EXPECT_EQ(c.headDim, 4);
  EXPECT_EQ(c.vocabSize, 8);
  EXPECT_EQ(c.maxSeqLen, 32);
  EXPECT_EQ(c.normEps, 1e-5f);
  EXPECT_EQ(c.ropeTheta, 500000.0f);
  EXPECT_EQ(c.ropeLayout, RopeLayout::Interleaved);
  EXPECT_FALSE(c.ropeScaling.enabled());
  EXPECT_EQ(c.tiedEmbeddings, tied);
  EXPECT_EQ(c.weightDType, dtype);
  TokenizerData expected = tinyTokenizer();
  const TokenizerData &t = (*model)->tokenizer;
  EXPECT_EQ(t.model, "llama");
  EXPECT_EQ(t.tokens, expected.tokens);
  EXPECT_EQ(t.scores, expected.scores);
  EXPECT_EQ(t.types, expected.types);
  EXPECT_EQ(t.bosId, 1);
  EXPECT_EQ(t.eosId, 2);
  ASSERT_EQ((*model)->weights.size(), produced.size());
  for (const auto &[name, bytes] : produced) {
    const TensorView *view = (*model)->weights.lookup(name);
    ASSERT_NE(view, nullptr) << name;
    EXPECT_EQ(view->dtype, dtype) << name;
    ASSERT_EQ(view->byteSize, bytes.size()) << name;
    EXPECT_EQ(std::memcmp(view->data, bytes.data(), bytes.size()), 0) << name;
  }
  // The tensors are 32-byte aligned in the file.
  for (const TensorView *view : (*model)->weights.tensors())
    EXPECT_EQ(view->fileOffset % 32, 0u) << view->name;
  model->reset(); // unmap before removing
  std::remove(path.c_str());
}

TEST(GGUFWrite, RoundTripF32Untied) { roundTrip(DType::F32, false, "f32"); }
TEST(GGUFWrite, RoundTripF16Tied) { roundTrip(DType::F16, true, "f16"); }
TEST(GGUFWrite, RoundTripBF16) { roundTrip(DType::BF16, false, "bf16"); }

TEST(GGUFWrite, HeaderHoldsTheLlamaKeys) {
  ModelConfig config = tinyConfig(DType::F16, false);
  std::string path = tempPath("keys");
  ASSERT_TRUE(writeGGUF(path, config, tinyTokenizer(),
                        patternSources(config, DType::F16, nullptr)));
  std::vector<uint8_t> bytes = readFile(path);
  std::remove(path.c_str());
  auto file = parse(bytes);
  ASSERT_TRUE(file) << file.message();
  EXPECT_EQ(file->version, 3u);
  EXPECT_EQ(*file->getString("general.architecture"), "llama");
  EXPECT_EQ(*file->getString("general.name"),
            "mixq-gguf-keys-" + std::to_string(::getpid()));
  EXPECT_EQ(*file->getU32("general.alignment"), 32u);
  EXPECT_EQ(*file->getU32("general.file_type"), 1u); // MOSTLY_F16
  EXPECT_EQ(*file->getU32("llama.embedding_length"), 8u);
  EXPECT_EQ(*file->getU32("llama.attention.head_count_kv"), 1u);
  EXPECT_EQ(*file->getU32("llama.rope.dimension_count"), 4u);
  EXPECT_EQ(*file->getU32("llama.vocab_size"), 8u);
  EXPECT_FALSE(file->has("llama.rope.scaling.type"));
  EXPECT_EQ(file->metadata.front().key, "general.architecture");
  const GGUFTensorInfo *down = file->findTensor("blk.1.ffn_down.weight");
  ASSERT_NE(down, nullptr);
  EXPECT_EQ(down->dims, (std::vector<uint64_t>{16, 8}));
  EXPECT_EQ(down->ggmlType, kGgmlF16);
  // The file ends with output.weight (8 x 8 f16 = 128 bytes, a multiple of
  // the alignment), so every strict prefix is truncated somewhere.
  EXPECT_EQ(file->tensors.back().name, "output.weight");
  EXPECT_EQ(file->dataOffset + file->tensors.back().offset + 128, bytes.size());
  for (size_t size = 0; size < bytes.size(); ++size) {
    std::vector<uint8_t> prefix(bytes.begin(), bytes.begin() + size);
    ASSERT_FALSE(parseGGUF(prefix.data(), prefix.size(), "cut"))
        << "a prefix of " << size << " bytes parsed";
  }
}

TEST(GGUFWrite, RopeScalingRoundTripsWithRopeFreqs) {
  ModelConfig config = tinyConfig(DType::F32, false);
  config.ropeTheta = 10000.0f;
  config.ropeScaling.factor = 8.0f;
  config.ropeScaling.originalMaxPositions = 1024;
  config.ropeScaling.lowFreqFactor = 1.0f;
  config.ropeScaling.highFreqFactor = 4.0f;
  std::string path = tempPath("scaling");
  ASSERT_TRUE(writeGGUF(path, config, tinyTokenizer(),
                        patternSources(config, DType::F32, nullptr)));
  std::vector<uint8_t> bytes = readFile(path);
  auto file = parse(bytes);
  ASSERT_TRUE(file) << file.message();
  EXPECT_EQ(*file->getString("llama.rope.scaling.type"), "llama3");
  const GGUFTensorInfo *freqs = file->findTensor("rope_freqs.weight");
  ASSERT_NE(freqs, nullptr);
  float factors[2];
  std::memcpy(factors, file->tensorData(*freqs), sizeof(factors));
  EXPECT_EQ(factors[0], 1.0f);
  EXPECT_NEAR(factors[1], 3.2396418f, 1e-6f); // see the RopeFreqs tests
  auto model = loadGGUF(path);
  ASSERT_TRUE(model) << model.message();
  const RopeScaling &s = (*model)->config.ropeScaling;
  EXPECT_EQ(s.factor, 8.0f);
  EXPECT_EQ(s.originalMaxPositions, 1024);
  EXPECT_EQ(s.lowFreqFactor, 1.0f);
  EXPECT_EQ(s.highFreqFactor, 4.0f);
  model->reset();
  std::remove(path.c_str());
}

TEST(GGUFWrite, RotateHalfRowsAreWrittenInterleaved) {
  ModelConfig config = tinyConfig(DType::F32, false);
  config.ropeLayout = RopeLayout::RotateHalf;
  std::vector<TensorSource> sources =
      patternSources(config, DType::F32, nullptr);
  // Row r of q_proj and k_proj holds the value r.
  for (TensorSource &src : sources)
    if (src.name == "blk0.q_proj" || src.name == "blk0.k_proj")
      src.fill = [rows = src.shape[0]](uint8_t *dst) {
        for (int64_t r = 0; r < rows; ++r)
          for (int64_t col = 0; col < 8; ++col) {
            float v = float(r);
            std::memcpy(dst + 4 * (r * 8 + col), &v, 4);
          }
        return Status::success();
      };
  std::string path = tempPath("rotate");
  Status written = writeGGUF(path, config, tinyTokenizer(), sources);
  ASSERT_TRUE(written) << written.message();
  auto model = loadGGUF(path);
  ASSERT_TRUE(model) << model.message();
  EXPECT_EQ((*model)->config.ropeLayout, RopeLayout::Interleaved);
  // Head size 4: rotate-half rows (x0, x2, x1, x3) of each head go back to
  // interleaved order, so interleaved row 1 is rotate-half row 2.
  auto rowValues = [&](const std::string &name) {
    std::vector<float> out;
    auto values = readAllAsF32(*(*model)->weights.lookup(name));
    for (size_t r = 0; r < values->size() / 8; ++r)
      out.push_back((*values)[r * 8]);
    return out;
  };
  EXPECT_EQ(rowValues("blk0.q_proj"),
            (std::vector<float>{0, 2, 1, 3, 4, 6, 5, 7}));
  EXPECT_EQ(rowValues("blk0.k_proj"), (std::vector<float>{0, 2, 1, 3}));
  model->reset();
  std::remove(path.c_str());
}

TEST(GGUFWrite, FailedWriteLeavesNothing) {
  ModelConfig config = tinyConfig(DType::F32, false);
  std::vector<TensorSource> sources =
      patternSources(config, DType::F32, nullptr);
  sources[5].fill = [](uint8_t *) {
    return makeError("synthetic source: generator failed");
  };
  std::string path = tempPath("failed");
  Status s = writeGGUF(path, config, tinyTokenizer(), sources);
  ASSERT_FALSE(s);
  EXPECT_CONTAINS(s.message(), "synthetic source: generator failed");
  EXPECT_CONTAINS(s.message(), "filling tensor 'blk0.o_proj'");
  EXPECT_FALSE(exists(path));
  EXPECT_FALSE(exists(path + ".tmp"));

  Status noDir =
      writeGGUF(::testing::TempDir() + "/no-such-dir/x.gguf", config,
                tinyTokenizer(), patternSources(config, DType::F32, nullptr));
  ASSERT_FALSE(noDir);
  EXPECT_CONTAINS(noDir.message(), "no-such-dir/x.gguf.tmp: cannot create");
}

TEST(GGUFWrite, RejectsTensorsThatDoNotFitTheConfig) {
  ModelConfig config = tinyConfig(DType::F32, true);
  std::string path = tempPath("reject");
  std::vector<TensorSource> sources =
      patternSources(config, DType::F32, nullptr);
  std::vector<TensorSource> missing(sources.begin(), sources.end() - 1);
  EXPECT_CONTAINS(writeGGUF(path, config, tinyTokenizer(), missing).message(),
                  "no data for tensor 'final_norm'");
  std::vector<TensorSource> wrongShape = sources;
  wrongShape[1].shape = {9};
  EXPECT_CONTAINS(
      writeGGUF(path, config, tinyTokenizer(), wrongShape).message(),
      "tensor 'blk0.attn_norm' has shape [9] but the config implies [8]");
  std::vector<TensorSource> extra = sources;
  extra.push_back(sources[0]);
  extra.back().name = "lm_head"; // the config ties embeddings
  EXPECT_CONTAINS(writeGGUF(path, config, tinyTokenizer(), extra).message(),
                  "tensor 'lm_head' is not a tensor of this llama config");
  std::vector<TensorSource> intTensor = sources;
  intTensor[1].dtype = DType::I32;
  EXPECT_CONTAINS(writeGGUF(path, config, tinyTokenizer(), intTensor).message(),
                  "is i32; GGUF export takes f32, f16 and bf16");
  TokenizerData shortVocab = tinyTokenizer();
  shortVocab.tokens.pop_back();
  EXPECT_CONTAINS(writeGGUF(path, config, shortVocab, sources).message(),
                  "the tokenizer has 7 tokens but vocab_size is 8");
  EXPECT_FALSE(exists(path));
}

TEST(GGUFNames, CanonicalAndGGUFNamesMapBothWays) {
  EXPECT_EQ(canonicalNameOfGGUFTensor("blk.12.attn_output.weight"),
            "blk12.o_proj");
  EXPECT_EQ(canonicalNameOfGGUFTensor("token_embd.weight"), "tok_embed");
  EXPECT_EQ(canonicalNameOfGGUFTensor("output.weight"), "lm_head");
  EXPECT_EQ(canonicalNameOfGGUFTensor("blk.x.attn_q.weight"), std::nullopt);
  EXPECT_EQ(canonicalNameOfGGUFTensor("blk.1.attn_q.bias"), std::nullopt);
  EXPECT_EQ(ggufNameOfCanonicalTensor("blk3.down_proj"),
            "blk.3.ffn_down.weight");
  EXPECT_EQ(ggufNameOfCanonicalTensor("final_norm"), "output_norm.weight");
  EXPECT_EQ(ggufNameOfCanonicalTensor("blk3.qkv"), std::nullopt);
}

} // namespace
