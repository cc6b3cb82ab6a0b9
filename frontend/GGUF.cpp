//===- GGUF.cpp - GGUF v2/v3 parsing, llama import and writing ------------===//
//
// Layout (ggml's docs/gguf.md), all little-endian:
//   "GGUF", u32 version, u64 n_tensors, u64 n_kv,
//   n_kv x (string key, u32 value type, value),
//   n_tensors x (string name, u32 n_dims, u64 ne[n_dims], u32 ggml type,
//                u64 offset),
//   zero padding to general.alignment, then the data section.
// A string is a u64 length and that many bytes (no terminator); an array is
// a u32 element type, a u64 length and the elements. Version 1 used u32
// counts and lengths and is not read.
//===----------------------------------------------------------------------===//

#include "frontend/GGUF.h"
#include "frontend/Checkpoint.h"
#include "frontend/OutputFile.h"
#include "support/MappedFile.h"

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <limits>
#include <new>
#include <set>
#include <unistd.h>

using namespace mixq;

namespace {

constexpr char kMagic[4] = {'G', 'G', 'U', 'F'};
constexpr uint32_t kWrittenVersion = 3;
constexpr uint64_t kDefaultAlignment = 32;
constexpr uint32_t kMaxDims = 4;
/// Nested arrays are legal but never deeper than this in practice; the
/// bound keeps the recursive reader's stack use small on hostile input.
constexpr unsigned kMaxArrayNesting = 8;
/// Sanity limits far above real files (which have tens of metadata keys
/// and no nested arrays), because each entry takes several times more
/// memory than its smallest encoding: without them, a large hostile file
/// could make the parser allocate many times its size.
constexpr uint64_t kMaxMetadataEntries = uint64_t(1) << 20;
constexpr uint64_t kMaxNestedArrayElements = uint64_t(1) << 16;
/// Reservations are capped: the counts are already bounded by the bytes that
/// remain, but an element can take more memory than its encoding, so
/// vectors grow with what is actually parsed rather than what is announced.
constexpr uint64_t kMaxReserve = 4096;

// The smallest encodings, used to bound counts by the bytes that remain
// before anything is allocated for them.
constexpr uint64_t kStringLengthBytes = 8;
/// Empty key, value type, one-byte value.
constexpr uint64_t kMinKeyValueBytes = kStringLengthBytes + 4 + 1;
/// Empty name, n_dims = 0, ggml type, offset.
constexpr uint64_t kMinTensorInfoBytes = kStringLengthBytes + 4 + 4 + 8;
/// Element type and length of an empty array.
constexpr uint64_t kMinArrayBytes = 4 + 8;

const char *const kRopeFreqsTensor = "rope_freqs.weight";

/// Appends `context` to a failure's message.
Status withContext(const Status &status, const std::string &context) {
  return Status::failure(status.message() + context);
}

uint64_t alignUp(uint64_t value, uint64_t alignment) {
  return (value + alignment - 1) / alignment * alignment;
}

bool isPowerOfTwo(uint64_t value) {
  return value != 0 && (value & (value - 1)) == 0;
}

const GGMLTypeInfo kGGMLTypes[] = {
    {GGMLType::F32, "F32", 1, 4},
    {GGMLType::F16, "F16", 1, 2},
    {GGMLType::Q4_0, "Q4_0", 32, 18},
    {GGMLType::Q4_1, "Q4_1", 32, 20},
    {GGMLType::Q5_0, "Q5_0", 32, 22},
    {GGMLType::Q5_1, "Q5_1", 32, 24},
    {GGMLType::Q8_0, "Q8_0", 32, 34},
    {GGMLType::Q8_1, "Q8_1", 32, 36},
    {GGMLType::Q2_K, "Q2_K", 256, 84},
    {GGMLType::Q3_K, "Q3_K", 256, 110},
    {GGMLType::Q4_K, "Q4_K", 256, 144},
    {GGMLType::Q5_K, "Q5_K", 256, 176},
    {GGMLType::Q6_K, "Q6_K", 256, 210},
    {GGMLType::Q8_K, "Q8_K", 256, 292},
    {GGMLType::IQ2_XXS, "IQ2_XXS", 256, 66},
    {GGMLType::IQ2_XS, "IQ2_XS", 256, 74},
    {GGMLType::IQ3_XXS, "IQ3_XXS", 256, 98},
    {GGMLType::IQ1_S, "IQ1_S", 256, 50},
    {GGMLType::IQ4_NL, "IQ4_NL", 32, 18},
    {GGMLType::IQ3_S, "IQ3_S", 256, 110},
    {GGMLType::IQ2_S, "IQ2_S", 256, 82},
    {GGMLType::IQ4_XS, "IQ4_XS", 256, 136},
    {GGMLType::I8, "I8", 1, 1},
    {GGMLType::I16, "I16", 1, 2},
    {GGMLType::I32, "I32", 1, 4},
    {GGMLType::I64, "I64", 1, 8},
    {GGMLType::F64, "F64", 1, 8},
    {GGMLType::IQ1_M, "IQ1_M", 256, 56},
    {GGMLType::BF16, "BF16", 1, 2},
    {GGMLType::TQ1_0, "TQ1_0", 256, 54},
    {GGMLType::TQ2_0, "TQ2_0", 256, 66},
    {GGMLType::MXFP4, "MXFP4", 32, 17},
};

/// The DType of the ggml types mixq imports, or nullopt.
std::optional<DType> importableDType(uint32_t ggmlType) {
  switch (GGMLType(ggmlType)) {
  case GGMLType::F32:
    return DType::F32;
  case GGMLType::F16:
    return DType::F16;
  case GGMLType::BF16:
    return DType::BF16;
  default:
    return std::nullopt;
  }
}

std::optional<GGMLType> ggmlTypeOfDType(DType dtype) {
  switch (dtype) {
  case DType::F32:
    return GGMLType::F32;
  case DType::F16:
    return GGMLType::F16;
  case DType::BF16:
    return GGMLType::BF16;
  default:
    return std::nullopt;
  }
}

bool isKnownValueType(uint32_t id) { return id <= uint32_t(GGUFType::F64); }

/// "47 47 55 46 ("GGUF")", with non-printable bytes shown as '.'.
std::string describeMagic(const uint8_t *bytes) {
  static const char hex[] = "0123456789abcdef";
  std::string out, text;
  for (int i = 0; i < 4; ++i) {
    if (i)
      out += ' ';
    out += hex[bytes[i] >> 4];
    out += hex[bytes[i] & 15];
    text += (bytes[i] >= 0x20 && bytes[i] < 0x7f) ? char(bytes[i]) : '.';
  }
  return out + " (\"" + text + "\")";
}

/// A float for messages: "8", "3.2396418", "1e-05" (not std::to_string's
/// fixed six decimals).
std::string formatNumber(double value) {
  char text[32];
  std::snprintf(text, sizeof(text), "%.8g", value);
  return text;
}

std::string formatDims(const std::vector<uint64_t> &dims) {
  std::string out = "[";
  for (size_t i = 0; i < dims.size(); ++i)
    out += (i ? ", " : "") + std::to_string(dims[i]);
  return out + "]";
}

} // namespace

//===----------------------------------------------------------------------===//
// Parser
//===----------------------------------------------------------------------===//

namespace mixq {

class GGUFParser {
public:
  GGUFParser(const uint8_t *data, uint64_t size, const std::string &what)
      : reader_(data, size, what), what_(what) {}

  Expected<GGUFFile> parse(GGUFFile file);

private:
  Status readHeader(GGUFFile &file, uint64_t &numTensors, uint64_t &numKV);
  Status readString(const char *field, std::string &out,
                    const std::string &context);
  Status readValue(GGUFType type, GGUFValue &out, unsigned depth,
                   const std::string &key);
  Status readArray(GGUFValue &out, unsigned depth, const std::string &key);
  Status readTensorInfo(GGUFTensorInfo &info, uint64_t index,
                        uint64_t numTensors);
  Status checkTensorPlacement(const GGUFFile &file);

  ByteReader reader_;
  const std::string &what_;
  /// Elements of nested arrays read so far (see kMaxNestedArrayElements).
  uint64_t nestedArrayElements_ = 0;
};

Status GGUFParser::readHeader(GGUFFile &file, uint64_t &numTensors,
                              uint64_t &numKV) {
  if (reader_.remaining() < sizeof(kMagic))
    return makeError(what_, ": not a GGUF file: it has ", reader_.remaining(),
                     " bytes, fewer than the 4-byte magic \"GGUF\"");
  if (std::memcmp(reader_.current(), kMagic, sizeof(kMagic)) != 0)
    return makeError(what_, ": not a GGUF file: the magic is ",
                     describeMagic(reader_.current()),
                     ", expected 47 47 55 46 (\"GGUF\")");
  if (Status s = reader_.skip(sizeof(kMagic)); !s)
    return s;
  if (Status s = reader_.readU32(file.version); !s)
    return withContext(s, " (GGUF version)");
  // The magic is bytes, so a big-endian file only shows in the version.
  for (uint32_t v = 1; v <= kWrittenVersion; ++v)
    if (file.version == (v << 24))
      return makeError(what_, ": this is a big-endian (byte-swapped) GGUF v", v,
                       " file; mixq reads little-endian GGUF only");
  if (file.version == 1)
    return makeError(what_, ": GGUF version 1 is not supported (mixq reads "
                            "versions 2 and 3; re-convert the model with a "
                            "current llama.cpp)");
  if (file.version < 2 || file.version > kWrittenVersion)
    return makeError(what_, ": unsupported GGUF version ", file.version,
                     " (mixq reads versions 2 and 3)");
  if (Status s = reader_.readU64(numTensors); !s)
    return withContext(s, " (tensor count)");
  if (Status s = reader_.readU64(numKV); !s)
    return withContext(s, " (metadata entry count)");
  // Every entry takes at least a few bytes, so counts the rest of the file
  // cannot hold are corrupt; rejecting them here keeps the reservations
  // below bounded by the file size.
  uint64_t left = reader_.remaining();
  if (numTensors > left / kMinTensorInfoBytes)
    return makeError(what_, ": corrupt header: ", numTensors,
                     " tensors cannot fit in the ", left,
                     " bytes after the header (each takes at least ",
                     kMinTensorInfoBytes, ")");
  left -= numTensors * kMinTensorInfoBytes;
  if (numKV > left / kMinKeyValueBytes)
    return makeError(what_, ": corrupt header: ", numKV,
                     " metadata entries cannot fit in the ",
                     reader_.remaining(), " bytes after the header with ",
                     numTensors, " tensors");
  if (numKV > kMaxMetadataEntries)
    return makeError(what_, ": corrupt header: ", numKV,
                     " metadata entries (mixq's limit is ", kMaxMetadataEntries,
                     ")");
  return Status::success();
}

Status GGUFParser::readString(const char *field, std::string &out,
                              const std::string &context) {
  uint64_t length = 0;
  if (Status s = reader_.readU64(length); !s)
    return withContext(s, context);
  // readBytes checks the length before allocating; this message is clearer.
  if (length > reader_.remaining())
    return makeError(what_, ": ", field, " length ", length, " at offset ",
                     reader_.offset() - kStringLengthBytes, " exceeds the ",
                     reader_.remaining(), " bytes left in the file", context);
  return reader_.readBytes(length, out);
}

Status GGUFParser::readArray(GGUFValue &out, unsigned depth,
                             const std::string &key) {
  std::string context = " (array value of metadata key '" + key + "')";
  if (depth >= kMaxArrayNesting)
    return makeError(what_, ": metadata key '", key,
                     "' nests arrays deeper than ", kMaxArrayNesting,
                     " levels");
  uint32_t elementType = 0;
  if (Status s = reader_.readU32(elementType); !s)
    return withContext(s, context);
  if (!isKnownValueType(elementType))
    return makeError(what_, ": metadata key '", key,
                     "' is an array of unknown value type id ", elementType);
  out.elementType = GGUFType(elementType);
  if (Status s = reader_.readU64(out.length); !s)
    return withContext(s, context);
  uint64_t minElementBytes = ggufFixedTypeSize(out.elementType);
  if (out.elementType == GGUFType::String)
    minElementBytes = kStringLengthBytes;
  else if (out.elementType == GGUFType::Array)
    minElementBytes = kMinArrayBytes;
  if (out.length > reader_.remaining() / minElementBytes)
    return makeError(what_, ": metadata key '", key, "' announces an array of ",
                     out.length, " ", ggufTypeName(out.elementType),
                     " elements, which cannot fit in the ", reader_.remaining(),
                     " bytes left at offset ", reader_.offset());

  if (out.elementType == GGUFType::String) {
    out.stringElements.reserve(std::min(out.length, kMaxReserve));
    for (uint64_t i = 0; i < out.length; ++i) {
      std::string element;
      if (Status s = readString("string", element,
                                " (element " + std::to_string(i) +
                                    " of metadata key '" + key + "')");
          !s)
        return s;
      out.stringElements.push_back(std::move(element));
    }
    return Status::success();
  }
  if (out.elementType == GGUFType::Array) {
    nestedArrayElements_ += out.length;
    if (nestedArrayElements_ > kMaxNestedArrayElements)
      return makeError(what_, ": metadata key '", key, "' takes the file past ",
                       kMaxNestedArrayElements,
                       " nested array elements; this is not a model file");
    out.arrayElements.reserve(std::min(out.length, kMaxReserve));
    for (uint64_t i = 0; i < out.length; ++i) {
      GGUFValue element;
      element.type = GGUFType::Array;
      if (Status s = readArray(element, depth + 1, key); !s)
        return s;
      out.arrayElements.push_back(std::move(element));
    }
    return Status::success();
  }
  // Fixed-size elements: one copy of the bytes (the length was bounded
  // above, so length * size fits in the remaining bytes).
  uint64_t bytes = out.length * minElementBytes;
  const uint8_t *first = reader_.current();
  if (Status s = reader_.skip(bytes); !s)
    return withContext(s, context);
  if (out.elementType == GGUFType::Bool)
    for (uint64_t i = 0; i < bytes; ++i)
      if (first[i] > 1)
        return makeError(what_, ": metadata key '", key, "' element ", i,
                         " is a bool of value ", int(first[i]), ", not 0 or 1");
  out.fixedElements.assign(first, first + bytes);
  return Status::success();
}

Status GGUFParser::readValue(GGUFType type, GGUFValue &out, unsigned depth,
                             const std::string &key) {
  out.type = type;
  std::string context = " (value of metadata key '" + key + "')";
  Status s = Status::success();
  switch (type) {
  case GGUFType::U8:
  case GGUFType::I8:
  case GGUFType::Bool: {
    uint8_t v = 0;
    s = reader_.readU8(v);
    if (type == GGUFType::I8)
      out.signedValue = int8_t(v);
    else
      out.unsignedValue = v;
    if (s && type == GGUFType::Bool && v > 1)
      return makeError(what_, ": metadata key '", key, "' is a bool of value ",
                       int(v), ", not 0 or 1");
    break;
  }
  case GGUFType::U16:
  case GGUFType::I16: {
    uint16_t v = 0;
    s = reader_.readU16(v);
    if (type == GGUFType::I16)
      out.signedValue = int16_t(v);
    else
      out.unsignedValue = v;
    break;
  }
  case GGUFType::U32:
  case GGUFType::I32: {
    uint32_t v = 0;
    s = reader_.readU32(v);
    if (type == GGUFType::I32)
      out.signedValue = int32_t(v);
    else
      out.unsignedValue = v;
    break;
  }
  case GGUFType::U64:
    s = reader_.readU64(out.unsignedValue);
    break;
  case GGUFType::I64:
    s = reader_.readI64(out.signedValue);
    break;
  case GGUFType::F32: {
    float v = 0;
    s = reader_.readF32(v);
    out.floatValue = v;
    break;
  }
  case GGUFType::F64:
    s = reader_.readF64(out.floatValue);
    break;
  case GGUFType::String:
    return readString("string", out.string, context);
  case GGUFType::Array:
    return readArray(out, depth, key);
  }
  if (!s)
    return withContext(s, context);
  return Status::success();
}

Status GGUFParser::readTensorInfo(GGUFTensorInfo &info, uint64_t index,
                                  uint64_t numTensors) {
  std::string position = " of tensor " + std::to_string(index) + " of " +
                         std::to_string(numTensors) + ")";
  if (Status s = readString("tensor name", info.name, " (name" + position); !s)
    return s;
  std::string context = " (info of tensor '" + info.name + "')";
  uint32_t numDims = 0;
  if (Status s = reader_.readU32(numDims); !s)
    return withContext(s, context);
  if (numDims > kMaxDims)
    return makeError(what_, ": tensor '", info.name, "' has ", numDims,
                     " dimensions; GGUF allows at most ", kMaxDims);
  info.dims.resize(numDims);
  for (uint64_t &dim : info.dims) {
    if (Status s = reader_.readU64(dim); !s)
      return withContext(s, context);
    // ggml stores dimensions as int64.
    if (dim > uint64_t(std::numeric_limits<int64_t>::max()))
      return makeError(what_, ": tensor '", info.name, "' has dimension ", dim,
                       ", which does not fit in int64");
  }
  if (Status s = reader_.readU32(info.ggmlType); !s)
    return withContext(s, context);
  if (Status s = reader_.readU64(info.offset); !s)
    return withContext(s, context);

  const GGMLTypeInfo *type = ggmlTypeInfo(info.ggmlType);
  if (!type)
    return makeError(what_, ": tensor '", info.name,
                     "' has unknown ggml type id ", info.ggmlType);
  uint64_t elements = 1;
  for (uint64_t dim : info.dims) {
    if (dim != 0 &&
        elements > uint64_t(std::numeric_limits<int64_t>::max()) / dim)
      return makeError(what_, ": tensor '", info.name, "' with dims ",
                       formatDims(info.dims),
                       " has more elements than fit in int64");
    elements *= dim;
  }
  info.numElements = elements;
  // Blocks never straddle rows: ne[0] must be a whole number of blocks.
  uint64_t rowLength = info.dims.empty() ? 1 : info.dims[0];
  if (rowLength % type->blockSize != 0)
    return makeError(what_, ": tensor '", info.name, "' of ggml type ",
                     type->name, " has ne[0] = ", rowLength,
                     ", which is not a multiple of its block size ",
                     type->blockSize);
  uint64_t blocks = elements / type->blockSize;
  if (blocks > std::numeric_limits<uint64_t>::max() / type->blockBytes)
    return makeError(what_, ": tensor '", info.name, "' with dims ",
                     formatDims(info.dims), " is larger than 2^64 bytes");
  info.byteSize = blocks * type->blockBytes;
  return Status::success();
}

Status GGUFParser::checkTensorPlacement(const GGUFFile &file) {
  for (const GGUFTensorInfo &info : file.tensors) {
    if (info.offset % file.alignment != 0)
      return makeError(what_, ": tensor '", info.name, "' has offset ",
                       info.offset, ", which is not a multiple of the ",
                       file.alignment, "-byte alignment");
    // Written to avoid overflow: offset + byteSize may exceed 2^64.
    bool inside = file.dataOffset <= file.size &&
                  info.offset <= file.size - file.dataOffset &&
                  info.byteSize <= file.size - file.dataOffset - info.offset;
    if (!inside)
      return makeError(what_, ": tensor '", info.name, "' (", info.byteSize,
                       " bytes at offset ", info.offset,
                       " of the data section, which starts at ",
                       file.dataOffset, ") extends past the end of the file (",
                       file.size, " bytes)");
  }
  std::vector<const GGUFTensorInfo *> byOffset;
  for (const GGUFTensorInfo &info : file.tensors)
    if (info.byteSize != 0)
      byOffset.push_back(&info);
  std::sort(byOffset.begin(), byOffset.end(),
            [](const GGUFTensorInfo *a, const GGUFTensorInfo *b) {
              return a->offset < b->offset;
            });
  for (size_t i = 1; i < byOffset.size(); ++i) {
    const GGUFTensorInfo *prev = byOffset[i - 1], *cur = byOffset[i];
    if (cur->offset - prev->offset < prev->byteSize)
      return makeError(what_, ": tensors '", prev->name, "' (bytes [",
                       prev->offset, ", ", prev->offset + prev->byteSize,
                       ")) and '", cur->name, "' (bytes [", cur->offset, ", ",
                       cur->offset + cur->byteSize,
                       ")) of the data section overlap");
  }
  return Status::success();
}

Expected<GGUFFile> GGUFParser::parse(GGUFFile file) {
  uint64_t numTensors = 0, numKV = 0;
  if (Status s = readHeader(file, numTensors, numKV); !s)
    return s;

  file.metadata.reserve(std::min(numKV, kMaxReserve));
  for (uint64_t i = 0; i < numKV; ++i) {
    GGUFKeyValue entry;
    if (Status s = readString("metadata key", entry.key,
                              " (key of metadata entry " + std::to_string(i) +
                                  " of " + std::to_string(numKV) + ")");
        !s)
      return s;
    if (file.keyIndex_.count(entry.key))
      return makeError(what_, ": duplicate metadata key '", entry.key, "'");
    uint32_t type = 0;
    if (Status s = reader_.readU32(type); !s)
      return withContext(s,
                         " (value type of metadata key '" + entry.key + "')");
    if (!isKnownValueType(type))
      return makeError(what_, ": metadata key '", entry.key,
                       "' has unknown value type id ", type);
    if (Status s = readValue(GGUFType(type), entry.value, 0, entry.key); !s)
      return s;
    file.keyIndex_.emplace(entry.key, file.metadata.size());
    file.metadata.push_back(std::move(entry));
  }

  if (file.has("general.alignment")) {
    auto alignment = file.getU32("general.alignment");
    if (!alignment)
      return alignment.status();
    if (!isPowerOfTwo(*alignment))
      return makeError(what_,
                       ": general.alignment must be a non-zero power "
                       "of two, got ",
                       *alignment);
    file.alignment = *alignment;
  }

  file.tensors.reserve(std::min(numTensors, kMaxReserve));
  for (uint64_t i = 0; i < numTensors; ++i) {
    GGUFTensorInfo info;
    if (Status s = readTensorInfo(info, i, numTensors); !s)
      return s;
    if (file.tensorIndex_.count(info.name))
      return makeError(what_, ": duplicate tensor name '", info.name, "'");
    file.tensorIndex_.emplace(info.name, file.tensors.size());
    file.tensors.push_back(std::move(info));
  }

  // The header ends far below 2^64 - alignment (it lies inside the range).
  file.dataOffset = alignUp(reader_.offset(), file.alignment);
  if (Status s = checkTensorPlacement(file); !s)
    return s;
  return file;
}

} // namespace mixq

//===----------------------------------------------------------------------===//
// Values, types and accessors
//===----------------------------------------------------------------------===//

const char *mixq::ggufTypeName(GGUFType type) {
  switch (type) {
  case GGUFType::U8:
    return "u8";
  case GGUFType::I8:
    return "i8";
  case GGUFType::U16:
    return "u16";
  case GGUFType::I16:
    return "i16";
  case GGUFType::U32:
    return "u32";
  case GGUFType::I32:
    return "i32";
  case GGUFType::F32:
    return "f32";
  case GGUFType::Bool:
    return "bool";
  case GGUFType::String:
    return "string";
  case GGUFType::Array:
    return "array";
  case GGUFType::U64:
    return "u64";
  case GGUFType::I64:
    return "i64";
  case GGUFType::F64:
    return "f64";
  }
  return "unknown";
}

unsigned mixq::ggufFixedTypeSize(GGUFType type) {
  switch (type) {
  case GGUFType::U8:
  case GGUFType::I8:
  case GGUFType::Bool:
    return 1;
  case GGUFType::U16:
  case GGUFType::I16:
    return 2;
  case GGUFType::U32:
  case GGUFType::I32:
  case GGUFType::F32:
    return 4;
  case GGUFType::U64:
  case GGUFType::I64:
  case GGUFType::F64:
    return 8;
  case GGUFType::String:
  case GGUFType::Array:
    return 0;
  }
  return 0;
}

bool mixq::ggufIsIntegerType(GGUFType type) {
  switch (type) {
  case GGUFType::U8:
  case GGUFType::I8:
  case GGUFType::U16:
  case GGUFType::I16:
  case GGUFType::U32:
  case GGUFType::I32:
  case GGUFType::U64:
  case GGUFType::I64:
    return true;
  default:
    return false;
  }
}

static bool isSignedIntegerType(GGUFType type) {
  return type == GGUFType::I8 || type == GGUFType::I16 ||
         type == GGUFType::I32 || type == GGUFType::I64;
}

std::optional<int64_t> GGUFValue::asInt64() const {
  if (!isInteger())
    return std::nullopt;
  if (isSignedIntegerType(type))
    return signedValue;
  if (unsignedValue > uint64_t(std::numeric_limits<int64_t>::max()))
    return std::nullopt;
  return int64_t(unsignedValue);
}

std::optional<uint64_t> GGUFValue::asUInt64() const {
  if (!isInteger())
    return std::nullopt;
  if (isSignedIntegerType(type))
    return signedValue < 0 ? std::nullopt
                           : std::optional<uint64_t>(uint64_t(signedValue));
  return unsignedValue;
}

GGUFValue GGUFValue::fixedElement(uint64_t index) const {
  GGUFValue out;
  out.type = elementType;
  unsigned size = ggufFixedTypeSize(elementType);
  if (size == 0 || index >= length || fixedElements.size() < (index + 1) * size)
    return out;
  const uint8_t *p = fixedElements.data() + index * size;
  uint64_t bits = 0;
  std::memcpy(&bits, p, size); // little-endian host
  switch (elementType) {
  case GGUFType::I8:
    out.signedValue = int8_t(bits);
    break;
  case GGUFType::I16:
    out.signedValue = int16_t(bits);
    break;
  case GGUFType::I32:
    out.signedValue = int32_t(bits);
    break;
  case GGUFType::I64:
    out.signedValue = int64_t(bits);
    break;
  case GGUFType::F32: {
    float f;
    std::memcpy(&f, p, 4);
    out.floatValue = f;
    break;
  }
  case GGUFType::F64:
    std::memcpy(&out.floatValue, p, 8);
    break;
  default:
    out.unsignedValue = bits;
    break;
  }
  return out;
}

std::string GGUFValue::describe() const {
  if (type != GGUFType::Array)
    return ggufTypeName(type);
  std::string out = "array of ";
  if (elementType != GGUFType::Array)
    return out + ggufTypeName(elementType);
  // Nested: describe the first element when there is one.
  if (!arrayElements.empty())
    return out + arrayElements.front().describe();
  return out + "array";
}

const GGMLTypeInfo *mixq::ggmlTypeInfo(uint32_t id) {
  for (const GGMLTypeInfo &info : kGGMLTypes)
    if (uint32_t(info.type) == id)
      return &info;
  return nullptr;
}

std::vector<int64_t> GGUFTensorInfo::shape() const {
  return std::vector<int64_t>(dims.rbegin(), dims.rend());
}

const GGUFValue *GGUFFile::find(const std::string &key) const {
  auto it = keyIndex_.find(key);
  return it == keyIndex_.end() ? nullptr : &metadata[it->second].value;
}

const GGUFTensorInfo *GGUFFile::findTensor(const std::string &name) const {
  auto it = tensorIndex_.find(name);
  return it == tensorIndex_.end() ? nullptr : &tensors[it->second];
}

Expected<const GGUFValue *> GGUFFile::require(const std::string &key) const {
  if (const GGUFValue *value = find(key))
    return value;
  return makeError(what, ": missing metadata key '", key, "'");
}

Status GGUFFile::typeError(const std::string &key, const GGUFValue &value,
                           const char *expected) const {
  return makeError(what, ": metadata key '", key, "' has type ",
                   value.describe(), ", expected ", expected);
}

/// The error for an integer that does not fit the requested type.
static Status outOfRange(const std::string &what, const std::string &key,
                         const GGUFValue &value, const char *type) {
  std::string text = isSignedIntegerType(value.type)
                         ? std::to_string(value.signedValue)
                         : std::to_string(value.unsignedValue);
  return makeError(what, ": metadata key '", key, "' = ", text,
                   " does not fit in ", type);
}

Expected<std::string> GGUFFile::getString(const std::string &key) const {
  auto value = require(key);
  if (!value)
    return value.status();
  if ((*value)->type != GGUFType::String)
    return typeError(key, **value, "string");
  return (*value)->string;
}

Expected<uint64_t> GGUFFile::getU64(const std::string &key) const {
  auto value = require(key);
  if (!value)
    return value.status();
  if (!(*value)->isInteger())
    return typeError(key, **value, "an integer");
  if (auto v = (*value)->asUInt64())
    return *v;
  return outOfRange(what, key, **value, "u64");
}

Expected<uint32_t> GGUFFile::getU32(const std::string &key) const {
  auto value = require(key);
  if (!value)
    return value.status();
  if (!(*value)->isInteger())
    return typeError(key, **value, "an integer");
  auto v = (*value)->asUInt64();
  if (!v || *v > std::numeric_limits<uint32_t>::max())
    return outOfRange(what, key, **value, "u32");
  return uint32_t(*v);
}

Expected<int64_t> GGUFFile::getI64(const std::string &key) const {
  auto value = require(key);
  if (!value)
    return value.status();
  if (!(*value)->isInteger())
    return typeError(key, **value, "an integer");
  if (auto v = (*value)->asInt64())
    return *v;
  return outOfRange(what, key, **value, "i64");
}

Expected<int32_t> GGUFFile::getI32(const std::string &key) const {
  auto value = require(key);
  if (!value)
    return value.status();
  if (!(*value)->isInteger())
    return typeError(key, **value, "an integer");
  auto v = (*value)->asInt64();
  if (!v || *v < std::numeric_limits<int32_t>::min() ||
      *v > std::numeric_limits<int32_t>::max())
    return outOfRange(what, key, **value, "i32");
  return int32_t(*v);
}

Expected<double> GGUFFile::getF64(const std::string &key) const {
  auto value = require(key);
  if (!value)
    return value.status();
  if (!(*value)->isFloat())
    return typeError(key, **value, "f32 or f64");
  return (*value)->floatValue;
}

Expected<float> GGUFFile::getF32(const std::string &key) const {
  auto value = getF64(key);
  if (!value)
    return value.status();
  return float(*value);
}

Expected<bool> GGUFFile::getBool(const std::string &key) const {
  auto value = require(key);
  if (!value)
    return value.status();
  if ((*value)->type != GGUFType::Bool)
    return typeError(key, **value, "bool");
  return (*value)->unsignedValue != 0;
}

Expected<const GGUFValue *> GGUFFile::getArray(const std::string &key) const {
  auto value = require(key);
  if (!value)
    return value.status();
  if ((*value)->type != GGUFType::Array)
    return typeError(key, **value, "an array");
  return *value;
}

Expected<std::vector<std::string>>
GGUFFile::getStringArray(const std::string &key) const {
  auto value = getArray(key);
  if (!value)
    return value.status();
  if ((*value)->elementType != GGUFType::String)
    return typeError(key, **value, "array of string");
  return (*value)->stringElements;
}

Expected<std::vector<float>>
GGUFFile::getF32Array(const std::string &key) const {
  auto value = getArray(key);
  if (!value)
    return value.status();
  const GGUFValue &array = **value;
  if (array.elementType != GGUFType::F32 && array.elementType != GGUFType::F64)
    return typeError(key, array, "array of f32 or f64");
  std::vector<float> out(array.length);
  for (uint64_t i = 0; i < array.length; ++i)
    out[i] = float(array.fixedElement(i).floatValue);
  return out;
}

Expected<std::vector<int64_t>>
GGUFFile::getI64Array(const std::string &key) const {
  auto value = getArray(key);
  if (!value)
    return value.status();
  const GGUFValue &array = **value;
  if (!ggufIsIntegerType(array.elementType))
    return typeError(key, array, "array of integers");
  std::vector<int64_t> out(array.length);
  for (uint64_t i = 0; i < array.length; ++i) {
    auto element = array.fixedElement(i).asInt64();
    if (!element)
      return makeError(what, ": metadata key '", key, "' element ", i,
                       " does not fit in i64");
    out[i] = *element;
  }
  return out;
}

Expected<GGUFFile> mixq::parseGGUF(const uint8_t *data, uint64_t size,
                                   const std::string &what) {
  // Allocations are bounded by the input size, but an input of gigabytes
  // of tiny metadata could still exhaust memory; report it, do not throw.
  try {
    GGUFFile file;
    file.what = what;
    file.data = data;
    file.size = size;
    return GGUFParser(data, size, what).parse(std::move(file));
  } catch (const std::bad_alloc &) {
    return makeError(what, ": out of memory while parsing the GGUF header");
  }
}

//===----------------------------------------------------------------------===//
// Llama import
//===----------------------------------------------------------------------===//

namespace {

struct NamePair {
  const char *canonical;
  const char *gguf;
};

/// Block tensors: canonical suffix and GGUF suffix (after "blk.N.").
const NamePair kBlockNames[] = {
    {"attn_norm", "attn_norm.weight"}, {"q_proj", "attn_q.weight"},
    {"k_proj", "attn_k.weight"},       {"v_proj", "attn_v.weight"},
    {"o_proj", "attn_output.weight"},  {"ffn_norm", "ffn_norm.weight"},
    {"gate_proj", "ffn_gate.weight"},  {"up_proj", "ffn_up.weight"},
    {"down_proj", "ffn_down.weight"},
};
const NamePair kTopLevelNames[] = {
    {"tok_embed", "token_embd.weight"},
    {"final_norm", "output_norm.weight"},
    {"lm_head", "output.weight"},
};

/// Parses "<digits>." at the start of `text` (no sign, no leading zeros,
/// at most 9 digits) into `layer`; returns the length consumed, or 0.
size_t parseLayerPrefix(const std::string &text, size_t start, int64_t &layer) {
  size_t end = start;
  while (end < text.size() && text[end] >= '0' && text[end] <= '9')
    ++end;
  size_t digits = end - start;
  if (digits == 0 || digits > 9 || (digits > 1 && text[start] == '0') ||
      end >= text.size() || text[end] != '.')
    return 0;
  layer = std::stoll(text.substr(start, digits));
  return digits + 1;
}

/// Splits a canonical block name "blk3.q_proj" into layer and suffix.
bool splitCanonicalBlockName(const std::string &name, int64_t &layer,
                             std::string &suffix) {
  if (name.compare(0, 3, "blk") != 0)
    return false;
  size_t used = parseLayerPrefix(name, 3, layer);
  if (!used)
    return false;
  suffix = name.substr(3 + used);
  return true;
}

/// Splits a GGUF block name "blk.3.attn_q.weight" into layer and suffix.
bool splitGGUFBlockName(const std::string &name, int64_t &layer,
                        std::string &suffix) {
  if (name.compare(0, 4, "blk.") != 0)
    return false;
  size_t used = parseLayerPrefix(name, 4, layer);
  if (!used)
    return false;
  suffix = name.substr(4 + used);
  return true;
}

/// Reads a positive-or-zero count key into int64 (config fields).
Status readCount(const GGUFFile &file, const std::string &key, int64_t &out) {
  auto value = file.getU64(key);
  if (!value)
    return value.status();
  if (*value > uint64_t(std::numeric_limits<int64_t>::max()))
    return makeError(file.what, ": metadata key '", key, "' = ", *value,
                     " is too large");
  out = int64_t(*value);
  return Status::success();
}

Status readOptionalCount(const GGUFFile &file, const std::string &key,
                         int64_t &out) {
  return file.has(key) ? readCount(file, key, out) : Status::success();
}

Status readConfig(const GGUFFile &file, ModelConfig &c) {
  const std::string &path = file.what;
  auto arch = file.getString("general.architecture");
  if (!arch)
    return arch.status();
  if (*arch != "llama")
    return makeError(path, ": general.architecture is '", *arch,
                     "', but mixq imports only 'llama' GGUF models");
  struct Count {
    const char *key;
    int64_t *field;
  };
  for (Count count : {Count{"llama.context_length", &c.maxSeqLen},
                      Count{"llama.embedding_length", &c.dim},
                      Count{"llama.block_count", &c.numLayers},
                      Count{"llama.feed_forward_length", &c.hiddenDim},
                      Count{"llama.attention.head_count", &c.numHeads}})
    if (Status s = readCount(file, count.key, *count.field); !s)
      return s;
  c.numKvHeads = c.numHeads;
  if (Status s = readOptionalCount(file, "llama.attention.head_count_kv",
                                   c.numKvHeads);
      !s)
    return s;
  auto eps = file.getF32("llama.attention.layer_norm_rms_epsilon");
  if (!eps)
    return eps.status();
  c.normEps = *eps;
  if (file.has("llama.rope.freq_base")) {
    auto theta = file.getF32("llama.rope.freq_base");
    if (!theta)
      return theta.status();
    c.ropeTheta = *theta;
  }
  // llama.cpp converts q/k rows back to Meta's interleaved pairs.
  c.ropeLayout = RopeLayout::Interleaved;

  // head_dim is dim / n_heads unless the file says otherwise (key_length,
  // as llama.cpp writes it for models with a decoupled head size).
  if (file.has("llama.attention.key_length")) {
    if (Status s = readCount(file, "llama.attention.key_length", c.headDim); !s)
      return s;
    int64_t valueLength = c.headDim;
    if (Status s = readOptionalCount(file, "llama.attention.value_length",
                                     valueLength);
        !s)
      return s;
    if (valueLength != c.headDim)
      return makeError(path, ": llama.attention.value_length (", valueLength,
                       ") differs from llama.attention.key_length (", c.headDim,
                       "); mixq needs equal q/k and v head sizes");
  } else {
    if (c.numHeads <= 0)
      return makeError(path,
                       ": llama.attention.head_count must be "
                       "positive, got ",
                       c.numHeads);
    if (c.dim % c.numHeads != 0)
      return makeError(path, ": llama.embedding_length (", c.dim,
                       ") is not a multiple of llama.attention.head_count (",
                       c.numHeads, ")");
    c.headDim = c.dim / c.numHeads;
  }
  if (file.has("llama.rope.dimension_count")) {
    int64_t ropeDims = 0;
    if (Status s = readCount(file, "llama.rope.dimension_count", ropeDims); !s)
      return s;
    if (ropeDims != c.headDim)
      return makeError(path, ": llama.rope.dimension_count is ", ropeDims,
                       " but the head size is ", c.headDim,
                       "; mixq applies rope to whole heads only");
  }

  // Rope scaling. "llama3" keys beyond type/factor/original_context_length
  // are mixq's own; llama.cpp itself stores the result as rope_freqs.weight.
  std::string scalingType = "none";
  if (file.has("llama.rope.scaling.type")) {
    auto type = file.getString("llama.rope.scaling.type");
    if (!type)
      return type.status();
    scalingType = *type;
  }
  if (scalingType == "llama3") {
    auto factor = file.getF32("llama.rope.scaling.factor");
    if (!factor)
      return factor.status();
    c.ropeScaling.factor = *factor;
    if (Status s = readOptionalCount(
            file, "llama.rope.scaling.original_context_length",
            c.ropeScaling.originalMaxPositions);
        !s)
      return s;
    for (auto [key, field] : {std::pair{"llama.rope.scaling.low_freq_factor",
                                        &c.ropeScaling.lowFreqFactor},
                              std::pair{"llama.rope.scaling.high_freq_factor",
                                        &c.ropeScaling.highFreqFactor}}) {
      if (!file.has(key))
        continue;
      auto value = file.getF32(key);
      if (!value)
        return value.status();
      *field = *value;
    }
    if (!(c.ropeScaling.factor > 0.0f))
      return makeError(path,
                       ": llama.rope.scaling.factor must be positive "
                       "for llama3 rope scaling, got ",
                       formatNumber(c.ropeScaling.factor));
  } else if (scalingType != "none") {
    return makeError(path, ": llama.rope.scaling.type '", scalingType,
                     "' is not supported (mixq supports 'llama3' and "
                     "'none')");
  }

  // Vocabulary size: the explicit key, else the tokenizer, else the
  // embedding's rows.
  if (file.has("llama.vocab_size")) {
    if (Status s = readCount(file, "llama.vocab_size", c.vocabSize); !s)
      return s;
  } else if (file.has("tokenizer.ggml.tokens")) {
    auto tokens = file.getArray("tokenizer.ggml.tokens");
    if (!tokens)
      return tokens.status();
    c.vocabSize = int64_t((*tokens)->length);
  } else if (const GGUFTensorInfo *embed = file.findTensor("token_embd.weight");
             embed && embed->dims.size() == 2) {
    c.vocabSize = int64_t(embed->dims[1]);
  } else {
    return makeError(path, ": cannot tell the vocabulary size: none of "
                           "llama.vocab_size, tokenizer.ggml.tokens or a 2-D "
                           "token_embd.weight is present");
  }
  return Status::success();
}

Status readTokenizer(const GGUFFile &file, int64_t vocabSize,
                     TokenizerData &out) {
  const std::string &path = file.what;
  // Without a tokenizer model the vocabulary cannot be interpreted; the
  // model still compiles and runs on token ids.
  if (!file.has("tokenizer.ggml.model"))
    return Status::success();
  auto model = file.getString("tokenizer.ggml.model");
  if (!model)
    return model.status();
  if (*model == "no" || *model == "none")
    return Status::success();
  TokenizerData data;
  data.model = *model;
  auto tokens = file.getStringArray("tokenizer.ggml.tokens");
  if (!tokens)
    return tokens.status();
  data.tokens = tokens.take();
  uint64_t count = data.tokens.size();
  if (int64_t(count) != vocabSize)
    return makeError(path, ": tokenizer.ggml.tokens has ", count,
                     " tokens but the vocabulary size is ", vocabSize);
  if (file.has("tokenizer.ggml.scores")) {
    auto scores = file.getF32Array("tokenizer.ggml.scores");
    if (!scores)
      return scores.status();
    if (scores->size() != count)
      return makeError(path, ": tokenizer.ggml.scores has ", scores->size(),
                       " entries but there are ", count, " tokens");
    data.scores = scores.take();
  } else {
    data.scores.assign(count, 0.0f);
  }
  if (file.has("tokenizer.ggml.token_type")) {
    auto types = file.getI64Array("tokenizer.ggml.token_type");
    if (!types)
      return types.status();
    if (types->size() != count)
      return makeError(path, ": tokenizer.ggml.token_type has ", types->size(),
                       " entries but there are ", count, " tokens");
    data.types.reserve(count);
    for (uint64_t i = 0; i < count; ++i) {
      int64_t type = (*types)[i];
      // 0 is llama.cpp's "undefined", which it treats as normal.
      if (type == 0)
        type = int64_t(TokenType::Normal);
      if (type < int64_t(TokenType::Normal) || type > int64_t(TokenType::Byte))
        return makeError(path, ": tokenizer.ggml.token_type[", i, "] = ", type,
                         " is not a known token type (0-6)");
      data.types.push_back(int32_t(type));
    }
  } else {
    data.types.assign(count, int32_t(TokenType::Normal));
  }
  for (auto [key, field] :
       {std::pair{"tokenizer.ggml.bos_token_id", &data.bosId},
        std::pair{"tokenizer.ggml.eos_token_id", &data.eosId}}) {
    if (!file.has(key))
      continue;
    auto id = file.getU64(key);
    if (!id)
      return id.status();
    if (*id >= count)
      return makeError(path, ": ", key, " = ", *id,
                       " is not a token id (there are ", count, " tokens)");
    *field = int32_t(*id);
  }
  out = std::move(data);
  return Status::success();
}

/// The first canonical tensor of `c` missing from `present`. Called only
/// when fewer tensors are present than `c` needs, so by pigeonhole the walk
/// stops after at most present.size() + 1 names, whatever numLayers claims.
std::string firstMissingTensor(const ModelConfig &c,
                               const std::map<std::string, size_t> &present) {
  if (!present.count("tok_embed"))
    return "tok_embed";
  for (int64_t layer = 0; layer < c.numLayers; ++layer)
    for (const NamePair &pair : kBlockNames) {
      std::string name = blockTensorName(layer, pair.canonical);
      if (!present.count(name))
        return name;
    }
  if (!present.count("final_norm"))
    return "final_norm";
  return "lm_head";
}

/// Checks rope_freqs.weight (llama.cpp's form of llama3 rope scaling)
/// against the config's scaling, inferring the scaling when the file has no
/// llama.rope.scaling keys (llama.cpp does not write them for llama3).
Status checkRopeFreqs(const GGUFFile &file, const GGUFTensorInfo &tensor,
                      ModelConfig &c) {
  const std::string &path = file.what;
  int64_t half = c.headDim / 2;
  if (tensor.ggmlType != uint32_t(GGMLType::F32) || tensor.dims.size() != 1 ||
      tensor.dims[0] != uint64_t(half))
    return makeError(path, ": tensor '", kRopeFreqsTensor, "' must be F32 of ",
                     "dims [", half, "] (head size / 2), got ",
                     ggmlTypeInfo(tensor.ggmlType)->name, " of dims ",
                     formatDims(tensor.dims));
  std::vector<float> actual(half);
  std::memcpy(actual.data(), file.tensorData(tensor), half * sizeof(float));

  RopeScaling scaling = c.ropeScaling;
  bool inferred = !scaling.enabled();
  if (inferred) {
    // The largest factor is the one applied to the lowest frequencies: the
    // llama3 `factor`. The others take Llama 3.1's published defaults.
    float largest = 1.0f;
    for (float v : actual)
      largest = std::isnan(v) ? v : std::max(largest, v);
    bool allOnes = std::all_of(actual.begin(), actual.end(),
                               [](float v) { return v == 1.0f; });
    if (allOnes)
      return Status::success();
    scaling = RopeScaling();
    scaling.factor = largest;
  }
  std::vector<double> expected =
      llama3RopeFrequencyFactors(c.headDim, c.ropeTheta, scaling);
  for (int64_t i = 0; i < half; ++i) {
    double tolerance = 1e-3 * std::fabs(expected[i]);
    if (!(std::fabs(double(actual[i]) - expected[i]) <= tolerance))
      return makeError(
          path, ": tensor '", kRopeFreqsTensor, "' frequency ", i, " is ",
          formatNumber(actual[i]), " but llama3 rope scaling with factor ",
          formatNumber(scaling.factor), ", low_freq_factor ",
          formatNumber(scaling.lowFreqFactor), ", high_freq_factor ",
          formatNumber(scaling.highFreqFactor), ", original_context_length ",
          scaling.originalMaxPositions, " and theta ",
          formatNumber(c.ropeTheta), " gives ", formatNumber(expected[i]),
          inferred ? " (no llama.rope.scaling.* keys; these parameters were "
                     "assumed: add the keys to the file)"
                   : "");
  }
  c.ropeScaling = scaling;
  return Status::success();
}

} // namespace

std::optional<std::string>
mixq::canonicalNameOfGGUFTensor(const std::string &name) {
  for (const NamePair &pair : kTopLevelNames)
    if (name == pair.gguf)
      return std::string(pair.canonical);
  int64_t layer = 0;
  std::string suffix;
  if (!splitGGUFBlockName(name, layer, suffix))
    return std::nullopt;
  for (const NamePair &pair : kBlockNames)
    if (suffix == pair.gguf)
      return blockTensorName(layer, pair.canonical);
  return std::nullopt;
}

std::optional<std::string>
mixq::ggufNameOfCanonicalTensor(const std::string &name) {
  for (const NamePair &pair : kTopLevelNames)
    if (name == pair.canonical)
      return std::string(pair.gguf);
  int64_t layer = 0;
  std::string suffix;
  if (!splitCanonicalBlockName(name, layer, suffix))
    return std::nullopt;
  for (const NamePair &pair : kBlockNames)
    if (suffix == pair.canonical)
      return "blk." + std::to_string(layer) + "." + pair.gguf;
  return std::nullopt;
}

std::vector<double>
mixq::llama3RopeFrequencyFactors(int64_t headDim, double ropeTheta,
                                 const RopeScaling &scaling) {
  // As Hugging Face's _compute_llama3_parameters, expressed as the divisor
  // of each frequency (llama.cpp's convert_hf_to_gguf.py).
  const double pi = 3.14159265358979323846;
  double original = double(scaling.originalMaxPositions);
  double lowFreqWavelength = original / scaling.lowFreqFactor;
  double highFreqWavelength = original / scaling.highFreqFactor;
  std::vector<double> factors;
  for (int64_t i = 0; i < headDim / 2; ++i) {
    double frequency = std::pow(ropeTheta, -double(2 * i) / double(headDim));
    double wavelength = 2 * pi / frequency;
    if (wavelength < highFreqWavelength) {
      factors.push_back(1.0);
    } else if (wavelength > lowFreqWavelength) {
      factors.push_back(scaling.factor);
    } else {
      double smooth = (original / wavelength - scaling.lowFreqFactor) /
                      (scaling.highFreqFactor - scaling.lowFreqFactor);
      factors.push_back(1.0 / ((1.0 - smooth) / scaling.factor + smooth));
    }
  }
  return factors;
}

Expected<GGUFLlamaModel> mixq::interpretGGUFLlama(const GGUFFile &file) {
  const std::string &path = file.what;
  GGUFLlamaModel out;
  ModelConfig &c = out.config;
  if (Status s = readConfig(file, c); !s)
    return s;
  if (Status s = readTokenizer(file, c.vocabSize, out.tokenizer); !s)
    return s;

  const GGUFTensorInfo *ropeFreqs = nullptr;
  std::map<std::string, size_t> byCanonicalName;
  for (const GGUFTensorInfo &info : file.tensors) {
    if (info.name == kRopeFreqsTensor) {
      ropeFreqs = &info;
      continue;
    }
    std::optional<std::string> canonical = canonicalNameOfGGUFTensor(info.name);
    if (!canonical)
      return makeError(path, ": unknown tensor '", info.name,
                       "' for a llama model");
    int64_t layer = 0;
    std::string suffix;
    if (splitGGUFBlockName(info.name, layer, suffix) && layer >= c.numLayers)
      return makeError(path, ": tensor '", info.name, "' belongs to block ",
                       layer, " but llama.block_count is ", c.numLayers);
    std::optional<DType> dtype = importableDType(info.ggmlType);
    if (!dtype)
      return makeError(path, ": tensor '", info.name, "' has ggml type ",
                       ggmlTypeInfo(info.ggmlType)->name,
                       ", which mixq cannot import yet (only F32, F16 and "
                       "BF16)");
    GGUFTensorPlacement placement;
    placement.canonicalName = *canonical;
    placement.ggufName = info.name;
    placement.dtype = *dtype;
    placement.shape = info.shape();
    placement.fileOffset = file.dataOffset + info.offset;
    placement.byteSize = info.byteSize;
    byCanonicalName.emplace(*canonical, out.tensors.size());
    out.tensors.push_back(std::move(placement));
  }
  c.tiedEmbeddings = !byCanonicalName.count("lm_head");
  auto embed = byCanonicalName.find("tok_embed");
  if (embed != byCanonicalName.end())
    c.weightDType = out.tensors[embed->second].dtype;
  if (Status s = c.validate(path); !s)
    return s;

  // Every tensor present maps to a distinct canonical name of this config,
  // so the set is complete exactly when the counts agree. Checking counts
  // first keeps a huge block_count from making a huge expected list.
  uint64_t needed = 2 + 9 * uint64_t(c.numLayers) + (c.tiedEmbeddings ? 0 : 1);
  if (out.tensors.size() < needed) {
    std::string missing = firstMissingTensor(c, byCanonicalName);
    return makeError(path, ": missing tensor '",
                     ggufNameOfCanonicalTensor(missing).value_or(missing),
                     "' (mixq's '", missing, "'); the file has ",
                     out.tensors.size(), " of the ", needed,
                     " tensors this config needs");
  }
  for (const ExpectedTensor &expected : expectedTensors(c)) {
    const GGUFTensorPlacement &placement =
        out.tensors[byCanonicalName.at(expected.name)];
    if (placement.shape != expected.shape)
      return makeError(path, ": tensor '", placement.ggufName, "' (mixq's '",
                       expected.name, "') has shape ",
                       formatShape(placement.shape), " but the config implies ",
                       formatShape(expected.shape));
  }
  if (ropeFreqs) {
    if (Status s = checkRopeFreqs(file, *ropeFreqs, c); !s)
      return s;
    // The scaling may have been inferred from the tensor: check it too.
    if (Status s = c.validate(path); !s)
      return s;
  }
  return out;
}

static Expected<std::unique_ptr<Model>> loadGGUFFile(const std::string &path) {
  auto model = std::make_unique<Model>();
  model->source = path;
  model->format = "gguf";
  auto mapped = model->weights.mapFile(path);
  if (!mapped)
    return mapped.status();
  const MappedFile &file = **mapped;
  auto parsed = parseGGUF(file.data(), file.size(), path);
  if (!parsed)
    return parsed.status();
  auto llama = interpretGGUFLlama(*parsed);
  if (!llama)
    return llama.status();
  model->config = llama->config;
  model->tokenizer = std::move(llama->tokenizer);
  for (GGUFTensorPlacement &t : llama->tensors)
    if (Status s = model->weights.addFileTensor(file, t.canonicalName, t.dtype,
                                                std::move(t.shape),
                                                t.fileOffset, t.byteSize);
        !s)
      return s;
  if (Status s = validateModel(*model); !s)
    return s;
  return model;
}

Expected<std::unique_ptr<Model>> mixq::loadGGUF(const std::string &path) {
  try {
    return loadGGUFFile(path);
  } catch (const std::bad_alloc &) {
    return makeError(path, ": out of memory while loading");
  }
}

//===----------------------------------------------------------------------===//
// Writer
//===----------------------------------------------------------------------===//

namespace {

/// Little-endian serialization of header fields and metadata entries.
class HeaderBytes {
public:
  std::vector<uint8_t> bytes;
  uint64_t numEntries = 0;

  void raw(const void *data, size_t size) {
    const uint8_t *p = static_cast<const uint8_t *>(data);
    bytes.insert(bytes.end(), p, p + size);
  }
  void u32(uint32_t v) { raw(&v, 4); }
  void u64(uint64_t v) { raw(&v, 8); }
  void string(const std::string &s) {
    u64(s.size());
    raw(s.data(), s.size());
  }
  void key(const std::string &key, GGUFType type) {
    ++numEntries;
    string(key);
    u32(uint32_t(type));
  }
  void kvString(const std::string &k, const std::string &v) {
    key(k, GGUFType::String);
    string(v);
  }
  void kvU32(const std::string &k, int64_t v) {
    key(k, GGUFType::U32);
    u32(uint32_t(v));
  }
  void kvF32(const std::string &k, float v) {
    key(k, GGUFType::F32);
    raw(&v, 4);
  }
  void kvStringArray(const std::string &k,
                     const std::vector<std::string> &values) {
    key(k, GGUFType::Array);
    u32(uint32_t(GGUFType::String));
    u64(values.size());
    for (const std::string &v : values)
      string(v);
  }
  void kvF32Array(const std::string &k, const std::vector<float> &values) {
    key(k, GGUFType::Array);
    u32(uint32_t(GGUFType::F32));
    u64(values.size());
    raw(values.data(), values.size() * sizeof(float));
  }
  void kvI32Array(const std::string &k, const std::vector<int32_t> &values) {
    key(k, GGUFType::Array);
    u32(uint32_t(GGUFType::I32));
    u64(values.size());
    raw(values.data(), values.size() * sizeof(int32_t));
  }
};

/// A tensor to write: where its bytes come from and where they go.
struct PlannedTensor {
  std::string ggufName;
  std::vector<int64_t> shape;
  GGMLType ggmlType = GGMLType::F32;
  uint64_t byteSize = 0;
  uint64_t offset = 0;
  const TensorSource *source = nullptr; ///< null: rope_freqs
  /// Heads whose rows to convert from rotate-half to interleaved (q/k of a
  /// RotateHalf model), or 0.
  int64_t permuteHeads = 0;
};

std::string modelNameOf(const std::string &path) {
  size_t slash = path.find_last_of('/');
  std::string name = slash == std::string::npos ? path : path.substr(slash + 1);
  if (name.size() > 5 && name.compare(name.size() - 5, 5, ".gguf") == 0)
    name.resize(name.size() - 5);
  return name;
}

/// llama.cpp's general.file_type (enum llama_ftype).
uint32_t llamaFileType(DType dtype) {
  switch (dtype) {
  case DType::F16:
    return 1;
  case DType::BF16:
    return 32;
  default:
    return 0;
  }
}

HeaderBytes metadataOf(const std::string &path, const ModelConfig &c,
                       const TokenizerData &tokenizer) {
  HeaderBytes kv;
  kv.kvString("general.architecture", "llama");
  kv.kvString("general.name", modelNameOf(path));
  kv.kvU32("general.alignment", kDefaultAlignment);
  kv.kvU32("general.file_type", llamaFileType(c.weightDType));
  kv.kvU32("llama.context_length", c.maxSeqLen);
  kv.kvU32("llama.embedding_length", c.dim);
  kv.kvU32("llama.block_count", c.numLayers);
  kv.kvU32("llama.feed_forward_length", c.hiddenDim);
  kv.kvU32("llama.attention.head_count", c.numHeads);
  kv.kvU32("llama.attention.head_count_kv", c.numKvHeads);
  kv.kvF32("llama.attention.layer_norm_rms_epsilon", c.normEps);
  kv.kvF32("llama.rope.freq_base", c.ropeTheta);
  kv.kvU32("llama.rope.dimension_count", c.headDim);
  if (c.headDim * c.numHeads != c.dim) {
    kv.kvU32("llama.attention.key_length", c.headDim);
    kv.kvU32("llama.attention.value_length", c.headDim);
  }
  kv.kvU32("llama.vocab_size", c.vocabSize);
  if (c.ropeScaling.enabled()) {
    kv.kvString("llama.rope.scaling.type", "llama3");
    kv.kvF32("llama.rope.scaling.factor", c.ropeScaling.factor);
    kv.kvU32("llama.rope.scaling.original_context_length",
             c.ropeScaling.originalMaxPositions);
    kv.kvF32("llama.rope.scaling.low_freq_factor", c.ropeScaling.lowFreqFactor);
    kv.kvF32("llama.rope.scaling.high_freq_factor",
             c.ropeScaling.highFreqFactor);
  }
  if (!tokenizer.empty()) {
    // mixq's byte-level vocabulary is SentencePiece-style (byte tokens
    // spelled <0xXX>), which is what GGUF calls "llama".
    bool spm = tokenizer.model.empty() || tokenizer.model == "llama" ||
               tokenizer.model == "byte";
    kv.kvString("tokenizer.ggml.model", spm ? "llama" : tokenizer.model);
    kv.kvStringArray("tokenizer.ggml.tokens", tokenizer.tokens);
    kv.kvF32Array("tokenizer.ggml.scores",
                  tokenizer.scores.empty()
                      ? std::vector<float>(tokenizer.tokens.size(), 0.0f)
                      : tokenizer.scores);
    kv.kvI32Array("tokenizer.ggml.token_type",
                  tokenizer.types.empty()
                      ? std::vector<int32_t>(tokenizer.tokens.size(),
                                             int32_t(TokenType::Normal))
                      : tokenizer.types);
    if (tokenizer.bosId >= 0)
      kv.kvU32("tokenizer.ggml.bos_token_id", tokenizer.bosId);
    if (tokenizer.eosId >= 0)
      kv.kvU32("tokenizer.ggml.eos_token_id", tokenizer.eosId);
  }
  return kv;
}

Status checkTokenizer(const std::string &path, const ModelConfig &c,
                      const TokenizerData &t) {
  if (t.empty())
    return Status::success();
  uint64_t count = t.tokens.size();
  if (int64_t(count) != c.vocabSize)
    return makeError(path, ": the tokenizer has ", count,
                     " tokens but vocab_size is ", c.vocabSize);
  if (!t.scores.empty() && t.scores.size() != count)
    return makeError(path, ": the tokenizer has ", t.scores.size(),
                     " scores for ", count, " tokens");
  if (!t.types.empty() && t.types.size() != count)
    return makeError(path, ": the tokenizer has ", t.types.size(),
                     " token types for ", count, " tokens");
  for (int32_t id : {t.bosId, t.eosId})
    if (id >= int64_t(count))
      return makeError(path, ": special token id ", id,
                       " is not a token id (there are ", count, " tokens)");
  return Status::success();
}

/// Checks `tensors` against the config (exactly the expected set, float
/// types, expected shapes) and lays them out in the data section.
Expected<std::vector<PlannedTensor>>
planTensors(const std::string &path, const ModelConfig &c,
            const std::vector<TensorSource> &tensors) {
  std::map<std::string, std::vector<int64_t>> expectedShapes;
  for (const ExpectedTensor &t : expectedTensors(c))
    expectedShapes.emplace(t.name, t.shape);
  std::vector<PlannedTensor> plan;
  if (c.ropeScaling.enabled()) {
    PlannedTensor freqs;
    freqs.ggufName = kRopeFreqsTensor;
    freqs.shape = {c.headDim / 2};
    freqs.byteSize = uint64_t(c.headDim / 2) * sizeof(float);
    plan.push_back(freqs);
  }
  std::set<std::string> seen;
  for (const TensorSource &t : tensors) {
    std::optional<std::string> ggufName = ggufNameOfCanonicalTensor(t.name);
    auto expected = expectedShapes.find(t.name);
    if (!ggufName || expected == expectedShapes.end())
      return makeError(path, ": tensor '", t.name,
                       "' is not a tensor of this llama config");
    if (!seen.insert(t.name).second)
      return makeError(path, ": tensor '", t.name, "' is given twice");
    if (t.shape != expected->second)
      return makeError(path, ": tensor '", t.name, "' has shape ",
                       formatShape(t.shape), " but the config implies ",
                       formatShape(expected->second));
    std::optional<GGMLType> type = ggmlTypeOfDType(t.dtype);
    if (!type)
      return makeError(path, ": tensor '", t.name, "' is ", dtypeName(t.dtype),
                       "; GGUF export takes f32, f16 and "
                       "bf16");
    PlannedTensor planned;
    planned.ggufName = *ggufName;
    planned.shape = t.shape;
    planned.ggmlType = *type;
    auto elements =
        checkedNumElements(t.shape, path + ": tensor '" + t.name + "'");
    if (!elements)
      return elements.status();
    planned.byteSize = uint64_t(*elements) * dtypeSize(t.dtype);
    planned.source = &t;
    if (c.ropeLayout == RopeLayout::RotateHalf) {
      int64_t layer = 0;
      std::string suffix;
      if (splitCanonicalBlockName(t.name, layer, suffix))
        planned.permuteHeads = suffix == "q_proj"   ? c.numHeads
                               : suffix == "k_proj" ? c.numKvHeads
                                                    : 0;
    }
    plan.push_back(std::move(planned));
  }
  for (const auto &expected : expectedShapes)
    if (!seen.count(expected.first))
      return makeError(path, ": no data for tensor '", expected.first, "'");
  uint64_t offset = 0;
  for (PlannedTensor &t : plan) {
    t.offset = offset;
    offset = alignUp(offset + t.byteSize, kDefaultAlignment);
  }
  return plan;
}

Status writeGGUFFile(const std::string &path, const ModelConfig &c,
                     const TokenizerData &tokenizer,
                     const std::vector<TensorSource> &tensors) {
  if (Status s = c.validate(path); !s)
    return s;
  if (Status s = checkTokenizer(path, c, tokenizer); !s)
    return s;
  auto plan = planTensors(path, c, tensors);
  if (!plan)
    return plan.status();

  HeaderBytes metadata = metadataOf(path, c, tokenizer);
  HeaderBytes header;
  header.raw(kMagic, sizeof(kMagic));
  header.u32(kWrittenVersion);
  header.u64(plan->size());
  header.u64(metadata.numEntries);
  header.raw(metadata.bytes.data(), metadata.bytes.size());
  for (const PlannedTensor &t : *plan) {
    header.string(t.ggufName);
    header.u32(uint32_t(t.shape.size()));
    for (auto dim = t.shape.rbegin(); dim != t.shape.rend(); ++dim)
      header.u64(uint64_t(*dim));
    header.u32(uint32_t(t.ggmlType));
    header.u64(t.offset);
  }

  AtomicOutputFile out(path);
  if (Status s = out.open(); !s)
    return s;
  if (Status s = out.write(header.bytes.data(), header.bytes.size()); !s)
    return s;
  uint64_t dataStart = alignUp(out.written(), kDefaultAlignment);
  if (Status s = out.writeZeros(dataStart - out.written()); !s)
    return s;

  // One buffer, reused: only one tensor is in memory at a time.
  std::vector<uint8_t> buffer, permuted;
  for (const PlannedTensor &t : *plan) {
    buffer.assign(t.byteSize, 0);
    if (!t.source) {
      std::vector<double> factors =
          llama3RopeFrequencyFactors(c.headDim, c.ropeTheta, c.ropeScaling);
      for (size_t i = 0; i < factors.size(); ++i) {
        float f = float(factors[i]);
        std::memcpy(buffer.data() + i * sizeof(float), &f, sizeof(float));
      }
    } else if (Status s = t.source->fill(buffer.data()); !s) {
      return withContext(s, " (filling tensor '" + t.source->name + "' for " +
                                path + ")");
    }
    const std::vector<uint8_t> *bytes = &buffer;
    if (t.permuteHeads) {
      // GGUF holds q/k rows in Meta's interleaved layout: undo the Hugging
      // Face permutation. sourceOf[d] is the interleaved row that the
      // rotate-half row d came from.
      std::vector<int64_t> sourceOf =
          interleavedToRotateHalfRows(t.permuteHeads, c.headDim);
      uint64_t rowBytes = t.byteSize / sourceOf.size();
      permuted.resize(t.byteSize);
      for (size_t row = 0; row < sourceOf.size(); ++row)
        std::memcpy(permuted.data() + sourceOf[row] * rowBytes,
                    buffer.data() + row * rowBytes, rowBytes);
      bytes = &permuted;
    }
    if (Status s = out.write(bytes->data(), bytes->size()); !s)
      return s;
    // Pad every tensor, the last included, as llama.cpp does.
    uint64_t end = alignUp(t.byteSize, kDefaultAlignment);
    if (Status s = out.writeZeros(end - t.byteSize); !s)
      return s;
  }
  return out.commit();
}

} // namespace

Status mixq::writeGGUF(const std::string &path, const ModelConfig &config,
                       const TokenizerData &tokenizer,
                       const std::vector<TensorSource> &tensors) {
  try {
    return writeGGUFFile(path, config, tokenizer, tensors);
  } catch (const std::bad_alloc &) {
    return makeError(path, ": out of memory while writing");
  }
}
