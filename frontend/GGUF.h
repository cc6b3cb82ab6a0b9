//===- GGUF.h - GGUF v2/v3 parsing, llama import and writing ----*- C++ -*-===//
//
// GGUF (llama.cpp's checkpoint format) is a header of typed key/value
// metadata and tensor infos, followed by an aligned data section. The parser
// works on a memory range (a mapping, or a fuzzer's input) and checks every
// count and offset against the bytes that are really there before it
// allocates anything, so corrupt or hostile files are errors, never crashes
// or huge allocations.
//
// The llama import is split in two: interpretGGUFLlama() turns a parsed file
// into a config, a tokenizer and a list of tensor placements without
// touching the file system (so the fuzzer can run it), and loadGGUF()
// (Checkpoint.h) maps the file and adds the placements to a WeightStore.
//===----------------------------------------------------------------------===//
#ifndef MIXQ_FRONTEND_GGUF_H
#define MIXQ_FRONTEND_GGUF_H

#include "frontend/ModelConfig.h"
#include "support/Expected.h"

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

namespace mixq {

//===----------------------------------------------------------------------===//
// Metadata values
//===----------------------------------------------------------------------===//

/// Metadata value types, with their on-disk ids.
enum class GGUFType : uint32_t {
  U8 = 0,
  I8 = 1,
  U16 = 2,
  I16 = 3,
  U32 = 4,
  I32 = 5,
  F32 = 6,
  Bool = 7,
  String = 8,
  Array = 9,
  U64 = 10,
  I64 = 11,
  F64 = 12,
};

/// "u8", "i32", "f32", "bool", "string", "array", ...; "unknown" otherwise.
const char *ggufTypeName(GGUFType type);
/// Bytes of one value of a fixed-size type (0 for string and array).
unsigned ggufFixedTypeSize(GGUFType type);
bool ggufIsIntegerType(GGUFType type);

/// One metadata value. Scalars are stored decoded; arrays of fixed-size
/// elements keep the file's little-endian bytes (one byte per u8 element, not
/// one GGUFValue), so that the memory a file can make the parser allocate
/// stays proportional to its size.
struct GGUFValue {
  GGUFType type = GGUFType::U8;

  // Scalars: exactly one of these is meaningful, by `type`.
  uint64_t unsignedValue = 0; ///< U8, U16, U32, U64, and Bool (0 or 1)
  int64_t signedValue = 0;    ///< I8, I16, I32, I64
  double floatValue = 0;      ///< F32, F64
  std::string string;         ///< String

  // Arrays.
  GGUFType elementType = GGUFType::U8;
  uint64_t length = 0;
  std::vector<uint8_t> fixedElements;      ///< fixed-size element types
  std::vector<std::string> stringElements; ///< String elements
  std::vector<GGUFValue> arrayElements;    ///< Array elements (nested)

  bool isInteger() const { return ggufIsIntegerType(type); }
  bool isFloat() const {
    return type == GGUFType::F32 || type == GGUFType::F64;
  }
  /// An integer scalar's value if it fits, else nullopt (also for
  /// non-integers).
  std::optional<int64_t> asInt64() const;
  std::optional<uint64_t> asUInt64() const;
  /// Element `index` of an array of a fixed-size type, decoded as a scalar.
  /// Only meaningful for index < length and such an array.
  GGUFValue fixedElement(uint64_t index) const;
  /// "u32", "string", "array of f32", "array of array of u8".
  std::string describe() const;
};

struct GGUFKeyValue {
  std::string key;
  GGUFValue value;
};

//===----------------------------------------------------------------------===//
// ggml tensor types
//===----------------------------------------------------------------------===//

/// ggml tensor type ids (llama.cpp's ggml.h). Ids 4, 5 and 31-33, 36-38
/// were removed from ggml and are rejected like unknown ids.
enum class GGMLType : uint32_t {
  F32 = 0,
  F16 = 1,
  Q4_0 = 2,
  Q4_1 = 3,
  Q5_0 = 6,
  Q5_1 = 7,
  Q8_0 = 8,
  Q8_1 = 9,
  Q2_K = 10,
  Q3_K = 11,
  Q4_K = 12,
  Q5_K = 13,
  Q6_K = 14,
  Q8_K = 15,
  IQ2_XXS = 16,
  IQ2_XS = 17,
  IQ3_XXS = 18,
  IQ1_S = 19,
  IQ4_NL = 20,
  IQ3_S = 21,
  IQ2_S = 22,
  IQ4_XS = 23,
  I8 = 24,
  I16 = 25,
  I32 = 26,
  I64 = 27,
  F64 = 28,
  IQ1_M = 29,
  BF16 = 30,
  TQ1_0 = 34,
  TQ2_0 = 35,
  MXFP4 = 39,
};

/// Storage of a ggml type: `blockBytes` bytes hold `blockSize` consecutive
/// elements of a row (1 and the element size for unquantized types).
struct GGMLTypeInfo {
  GGMLType type;
  const char *name; ///< "F32", "Q4_K", ...
  uint32_t blockSize;
  uint32_t blockBytes;
};

/// The table entry of ggml type `id`, or nullptr for an unknown id.
const GGMLTypeInfo *ggmlTypeInfo(uint32_t id);

//===----------------------------------------------------------------------===//
// Parsed files
//===----------------------------------------------------------------------===//

struct GGUFTensorInfo {
  std::string name;
  /// GGUF "ne" order: dims[0] varies fastest, so the row-major shape is the
  /// reverse. At most 4 dims, each below 2^63.
  std::vector<uint64_t> dims;
  uint32_t ggmlType = 0;
  /// Offset relative to the data section (a multiple of the alignment).
  uint64_t offset = 0;
  uint64_t numElements = 0;
  uint64_t byteSize = 0;

  /// Row-major shape: the reversed dims.
  std::vector<int64_t> shape() const;
};

/// A parsed GGUF header. Every tensor lies inside the parsed range, aligned
/// and without overlaps. `data` points at the parsed range and is only valid
/// while that memory is.
class GGUFFile {
public:
  /// Name for error messages (the path).
  std::string what;
  uint32_t version = 0;
  /// general.alignment (default 32).
  uint64_t alignment = 32;
  /// Offset of the data section from the start of the range.
  uint64_t dataOffset = 0;
  const uint8_t *data = nullptr;
  uint64_t size = 0;
  /// In file order.
  std::vector<GGUFKeyValue> metadata;
  std::vector<GGUFTensorInfo> tensors;

  const GGUFValue *find(const std::string &key) const;
  bool has(const std::string &key) const { return find(key) != nullptr; }
  const GGUFTensorInfo *findTensor(const std::string &name) const;
  /// First byte of `tensor`'s data.
  const uint8_t *tensorData(const GGUFTensorInfo &tensor) const {
    return data + dataOffset + tensor.offset;
  }

  // Typed accessors. They fail, naming the file, the key and the type found
  // versus expected, when the key is missing or of another type. Integer
  // getters accept any integer type whose value fits; float getters accept
  // f32 and f64.
  Expected<std::string> getString(const std::string &key) const;
  Expected<uint64_t> getU64(const std::string &key) const;
  Expected<uint32_t> getU32(const std::string &key) const;
  Expected<int64_t> getI64(const std::string &key) const;
  Expected<int32_t> getI32(const std::string &key) const;
  Expected<double> getF64(const std::string &key) const;
  Expected<float> getF32(const std::string &key) const;
  Expected<bool> getBool(const std::string &key) const;
  Expected<const GGUFValue *> getArray(const std::string &key) const;
  Expected<std::vector<std::string>>
  getStringArray(const std::string &key) const;
  /// An array of f32 or f64 elements.
  Expected<std::vector<float>> getF32Array(const std::string &key) const;
  /// An array of any integer element type whose values fit in int64.
  Expected<std::vector<int64_t>> getI64Array(const std::string &key) const;

private:
  friend class GGUFParser; // fills the indices while parsing
  Expected<const GGUFValue *> require(const std::string &key) const;
  Status typeError(const std::string &key, const GGUFValue &value,
                   const char *expected) const;
  std::map<std::string, size_t> keyIndex_;
  std::map<std::string, size_t> tensorIndex_;
};

/// Parses a GGUF v2 or v3 file held in [data, data + size). Errors name
/// `what` and the key, tensor or offset at fault.
Expected<GGUFFile> parseGGUF(const uint8_t *data, uint64_t size,
                             const std::string &what);

//===----------------------------------------------------------------------===//
// Llama import
//===----------------------------------------------------------------------===//

/// Canonical name (ModelConfig.h) of a llama GGUF tensor name:
/// "blk.3.attn_q.weight" -> "blk3.q_proj", "token_embd.weight" ->
/// "tok_embed"; nullopt for any other name.
std::optional<std::string> canonicalNameOfGGUFTensor(const std::string &name);
/// The inverse: "blk3.q_proj" -> "blk.3.attn_q.weight".
std::optional<std::string> ggufNameOfCanonicalTensor(const std::string &name);

/// Where a canonical tensor lies in a GGUF file.
struct GGUFTensorPlacement {
  std::string canonicalName;
  std::string ggufName;
  DType dtype = DType::F32;
  std::vector<int64_t> shape;
  /// Absolute offset in the file (data section + tensor offset).
  uint64_t fileOffset = 0;
  uint64_t byteSize = 0;
};

/// A llama GGUF file interpreted: everything a Model needs but the mapping.
struct GGUFLlamaModel {
  ModelConfig config;
  TokenizerData tokenizer;
  /// One per canonical tensor, in file order (rope_freqs.weight, which is
  /// checked against the config instead, is not among them).
  std::vector<GGUFTensorPlacement> tensors;
};

/// Reads the llama config, tokenizer and tensor placements of a parsed
/// file, checking the tensors' names, types and shapes against the config.
/// Errors name `file.what` and the key or tensor.
Expected<GGUFLlamaModel> interpretGGUFLlama(const GGUFFile &file);

/// Llama 3 rope scaling as per-frequency divisors, as llama.cpp stores it in
/// rope_freqs.weight: element i divides frequency theta^(-2i/headDim).
std::vector<double> llama3RopeFrequencyFactors(int64_t headDim,
                                               double ropeTheta,
                                               const RopeScaling &scaling);

} // namespace mixq

#endif // MIXQ_FRONTEND_GGUF_H
