//===- Safetensors.cpp - safetensors parsing and writing ------------------===//
//
// The parser never trusts the header: the JSON is parsed without exceptions,
// every value's JSON type is checked before it is read, and every tensor's
// shape, byte range, size and alignment is checked against the bytes that
// are really there, so a corrupt or hostile file is an error naming the
// file, the tensor and the bad value.
//===----------------------------------------------------------------------===//

#include "frontend/Safetensors.h"
#include "frontend/OutputFile.h"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <limits>
#include <unistd.h>

using namespace mixq;
using json = nlohmann::json;

namespace {

//===----------------------------------------------------------------------===//
// dtypes
//===----------------------------------------------------------------------===//

/// The dtype strings of the safetensors format. Only the first three are
/// loadable; the others are known, so that they get a clearer error than a
/// misspelled type.
struct SafetensorsDTypeInfo {
  const char *name;
  std::optional<DType> loadable;
};

const SafetensorsDTypeInfo kSafetensorsDTypes[] = {
    {"F32", DType::F32},       {"F16", DType::F16},
    {"BF16", DType::BF16},     {"F64", std::nullopt},
    {"I64", std::nullopt},     {"I32", std::nullopt},
    {"I16", std::nullopt},     {"I8", std::nullopt},
    {"U64", std::nullopt},     {"U32", std::nullopt},
    {"U16", std::nullopt},     {"U8", std::nullopt},
    {"BOOL", std::nullopt},    {"F8_E4M3", std::nullopt},
    {"F8_E5M2", std::nullopt}, {"F8_E8M0", std::nullopt},
    {"F6_E2M3", std::nullopt}, {"F6_E3M2", std::nullopt},
    {"F4", std::nullopt},      {"C64", std::nullopt},
};

const SafetensorsDTypeInfo *findDType(const std::string &name) {
  for (const SafetensorsDTypeInfo &info : kSafetensorsDTypes)
    if (name == info.name)
      return &info;
  return nullptr;
}

//===----------------------------------------------------------------------===//
// Error text
//===----------------------------------------------------------------------===//

//===----------------------------------------------------------------------===//
// Parsing
//===----------------------------------------------------------------------===//

class HeaderParser {
public:
  HeaderParser(const uint8_t *data, uint64_t size, const std::string &what)
      : data_(data), size_(size), what_(what) {}

  Expected<SafetensorsHeader> parse();

private:
  Status parseMetadata(const json &value, SafetensorsHeader &out);
  Status parseTensor(const std::string &name, const json &value,
                     SafetensorsHeader &out);
  Status checkOverlaps(const SafetensorsHeader &header);

  const uint8_t *data_;
  uint64_t size_;
  const std::string &what_;
};

Expected<SafetensorsHeader> HeaderParser::parse() {
  if (size_ < 8)
    return makeError(what_,
                     ": truncated: the 8-byte header length needs 8 "
                     "bytes but the file has ",
                     size_);
  uint64_t headerSize = 0;
  for (int i = 7; i >= 0; --i)
    headerSize = (headerSize << 8) | data_[i];
  if (headerSize > kMaxSafetensorsHeaderBytes)
    return makeError(what_, ": header length ", headerSize,
                     " exceeds the limit of ", kMaxSafetensorsHeaderBytes,
                     " bytes (not a safetensors file, or corrupt)");
  if (headerSize > size_ - 8)
    return makeError(what_, ": truncated: the header length is ", headerSize,
                     " bytes but only ", size_ - 8,
                     " bytes follow the length field");

  const char *first = reinterpret_cast<const char *>(data_ + 8);
  json header = json::parse(first, first + headerSize, /*cb=*/nullptr,
                            /*allow_exceptions=*/false);
  if (header.is_discarded())
    return makeError(what_, ": the ", headerSize,
                     "-byte header is not valid JSON");
  if (!header.is_object())
    return makeError(what_, ": the header must be a JSON object, not ",
                     describeJsonValue(header));

  SafetensorsHeader out;
  out.headerSize = headerSize;
  out.dataOffset = 8 + headerSize;
  for (const auto &entry : header.items()) {
    if (entry.key() == "__metadata__") {
      if (Status s = parseMetadata(entry.value(), out); !s)
        return s;
      continue;
    }
    if (Status s = parseTensor(entry.key(), entry.value(), out); !s)
      return s;
  }
  std::sort(out.tensors.begin(), out.tensors.end(),
            [](const SafetensorsTensor &a, const SafetensorsTensor &b) {
              if (a.dataBegin != b.dataBegin)
                return a.dataBegin < b.dataBegin;
              if (a.dataEnd != b.dataEnd)
                return a.dataEnd < b.dataEnd;
              return a.name < b.name;
            });
  if (Status s = checkOverlaps(out); !s)
    return s;
  return out;
}

Status HeaderParser::parseMetadata(const json &value, SafetensorsHeader &out) {
  if (!value.is_object())
    return makeError(what_, ": __metadata__ must be an object of strings, not ",
                     describeJsonValue(value));
  for (const auto &entry : value.items()) {
    if (!entry.value().is_string())
      return makeError(what_, ": __metadata__ key ", quoteName(entry.key()),
                       " must have a string value, not ",
                       describeJsonValue(entry.value()));
    out.metadata[entry.key()] = entry.value().get<std::string>();
  }
  return Status::success();
}

Status HeaderParser::parseTensor(const std::string &name, const json &value,
                                 SafetensorsHeader &out) {
  const std::string where = what_ + ": tensor " + quoteName(name);
  if (!value.is_object())
    return makeError(where, " must be described by an object, not ",
                     describeJsonValue(value));

  // dtype.
  auto dtypeIt = value.find("dtype");
  if (dtypeIt == value.end())
    return makeError(where, " has no dtype");
  if (!dtypeIt->is_string())
    return makeError(where, ": dtype must be a string, not ",
                     describeJsonValue(*dtypeIt));
  const std::string dtypeText = dtypeIt->get<std::string>();
  const SafetensorsDTypeInfo *dtypeInfo = findDType(dtypeText);
  if (!dtypeInfo)
    return makeError(where, " has unknown dtype ", quoteName(dtypeText));
  if (!dtypeInfo->loadable)
    return makeError(where, " has unsupported dtype ", quoteName(dtypeText),
                     " (only F32, F16 and BF16 tensors can be loaded)");
  DType dtype = *dtypeInfo->loadable;
  uint64_t elementSize = dtypeSize(dtype);

  // shape.
  auto shapeIt = value.find("shape");
  if (shapeIt == value.end())
    return makeError(where, " has no shape");
  if (!shapeIt->is_array())
    return makeError(where, ": shape must be an array, not ",
                     describeJsonValue(*shapeIt));
  std::vector<int64_t> shape;
  shape.reserve(shapeIt->size());
  for (const json &dim : *shapeIt) {
    if (!dim.is_number_integer())
      return makeError(
          where, ": shape ", describeJsonValue(*shapeIt),
          " has a dimension that is not an integer: ", describeJsonValue(dim));
    if (dim.is_number_unsigned()) {
      uint64_t d = dim.get<uint64_t>();
      if (d > uint64_t(std::numeric_limits<int64_t>::max()))
        return makeError(where, ": shape ", describeJsonValue(*shapeIt),
                         " has a dimension too large for 64 bits: ", d);
      shape.push_back(int64_t(d));
    } else {
      int64_t d = dim.get<int64_t>();
      if (d < 0)
        return makeError(where, ": shape ", describeJsonValue(*shapeIt),
                         " has a negative dimension ", d);
      shape.push_back(d);
    }
  }
  Expected<int64_t> elements = checkedNumElements(shape, where);
  if (!elements)
    return elements.status();

  // data_offsets.
  auto offsetsIt = value.find("data_offsets");
  if (offsetsIt == value.end())
    return makeError(where, " has no data_offsets");
  const json &offsets = *offsetsIt;
  if (!offsets.is_array() || offsets.size() != 2 ||
      !offsets[0].is_number_unsigned() || !offsets[1].is_number_unsigned())
    return makeError(where,
                     ": data_offsets must be two non-negative integers "
                     "[begin, end], not ",
                     describeJsonValue(offsets));
  uint64_t begin = offsets[0].get<uint64_t>();
  uint64_t end = offsets[1].get<uint64_t>();
  if (end < begin)
    return makeError(where, ": data_offsets [", begin, ", ", end,
                     "] end before they begin");
  uint64_t dataSize = size_ - out.dataOffset;
  if (end > dataSize)
    return makeError(where, ": data_offsets [", begin, ", ", end,
                     "] extend past the end of the data (", dataSize,
                     " bytes after the header; the file has ", size_,
                     " bytes)");
  uint64_t count = uint64_t(*elements);
  if (count > std::numeric_limits<uint64_t>::max() / elementSize ||
      count * elementSize != end - begin)
    return makeError(where, " of shape ", formatShape(shape), " and dtype ",
                     dtypeText, " needs ", count, " x ", elementSize,
                     " bytes but data_offsets [", begin, ", ", end, "] hold ",
                     end - begin);
  uint64_t fileOffset = out.dataOffset + begin;
  if (fileOffset % elementSize != 0)
    return makeError(where, " starts at file offset ", fileOffset,
                     ", which is not aligned to its ", elementSize,
                     "-byte elements");

  SafetensorsTensor tensor;
  tensor.name = name;
  tensor.dtype = dtype;
  tensor.shape = std::move(shape);
  tensor.dataBegin = begin;
  tensor.dataEnd = end;
  tensor.fileOffset = fileOffset;
  out.tensors.push_back(std::move(tensor));
  return Status::success();
}

Status HeaderParser::checkOverlaps(const SafetensorsHeader &header) {
  // Tensors are sorted by begin; each must start at or after the furthest
  // end seen so far. Empty tensors occupy no bytes and overlap nothing.
  const SafetensorsTensor *furthest = nullptr;
  for (const SafetensorsTensor &tensor : header.tensors) {
    if (tensor.byteSize() == 0)
      continue;
    if (furthest && tensor.dataBegin < furthest->dataEnd)
      return makeError(what_, ": tensor ", quoteName(tensor.name),
                       " at data_offsets [", tensor.dataBegin, ", ",
                       tensor.dataEnd, "] overlaps tensor ",
                       quoteName(furthest->name), " at [", furthest->dataBegin,
                       ", ", furthest->dataEnd, "]");
    if (!furthest || tensor.dataEnd > furthest->dataEnd)
      furthest = &tensor;
  }
  return Status::success();
}

//===----------------------------------------------------------------------===//
// Writing
//===----------------------------------------------------------------------===//

/// A tensor placed in the file being written.
struct PlacedTensor {
  const TensorSource *source;
  uint64_t byteSize;
  size_t position; ///< in the given list
  uint64_t begin = 0;
};

} // namespace

/// A JSON value as error text: short values verbatim, long ones cut, and
/// nested containers only described (dumping them would recurse as deep as
/// the input nests).
std::string mixq::describeJsonValue(const nlohmann::json &value) {
  auto cut = [](std::string text) {
    constexpr size_t limit = 80;
    if (text.size() > limit)
      text = text.substr(0, limit) + "...";
    return text;
  };
  auto dump = [](const json &v) {
    return v.dump(-1, ' ', false, json::error_handler_t::replace);
  };
  if (value.is_object())
    return "an object";
  if (value.is_array()) {
    for (const json &element : value)
      if (element.is_structured())
        return "an array of " + std::to_string(value.size()) + " elements";
    return cut(dump(value));
  }
  return cut(dump(value));
}

/// A tensor name as error text (names are keys of a hostile header too).
std::string mixq::quoteName(const std::string &name) {
  std::string text = name.size() > 200 ? name.substr(0, 200) + "..." : name;
  return "'" + text + "'";
}

const SafetensorsTensor *
SafetensorsHeader::find(const std::string &name) const {
  for (const SafetensorsTensor &tensor : tensors)
    if (tensor.name == name)
      return &tensor;
  return nullptr;
}

const char *mixq::safetensorsDTypeName(DType dtype) {
  switch (dtype) {
  case DType::F32:
    return "F32";
  case DType::F16:
    return "F16";
  case DType::BF16:
    return "BF16";
  default:
    return nullptr;
  }
}

Expected<SafetensorsHeader> mixq::parseSafetensors(const uint8_t *data,
                                                   uint64_t size,
                                                   const std::string &what) {
  return HeaderParser(data, size, what).parse();
}

Status
mixq::writeSafetensors(const std::string &path,
                       const std::vector<TensorSource> &tensors,
                       const std::map<std::string, std::string> &metadata,
                       std::vector<uint8_t> *scratch) {
  std::vector<PlacedTensor> placed;
  placed.reserve(tensors.size());
  std::map<std::string, const TensorSource *> seen;
  for (const TensorSource &source : tensors) {
    const std::string where = path + ": tensor " + quoteName(source.name);
    if (source.name == "__metadata__")
      return makeError(where, ": the name is reserved by the format");
    if (!seen.emplace(source.name, &source).second)
      return makeError(where, " is given twice");
    if (!safetensorsDTypeName(source.dtype))
      return makeError(where, " has type ", dtypeName(source.dtype),
                       "; only f32, f16 and bf16 tensors can be written");
    if (!source.fill)
      return makeError(where, " has no data producer");
    Expected<int64_t> elements = checkedNumElements(source.shape, where);
    if (!elements)
      return elements.status();
    uint64_t elementSize = dtypeSize(source.dtype);
    if (uint64_t(*elements) >
        std::numeric_limits<uint64_t>::max() / elementSize)
      return makeError(where, " of shape ", formatShape(source.shape),
                       " is too large to write");
    placed.push_back(
        {&source, uint64_t(*elements) * elementSize, placed.size()});
  }
  // safetensors data is contiguous (the reference loader rejects gaps), so
  // alignment comes from the order: larger elements first, each group's size
  // a multiple of its element size, starting 8-byte aligned.
  // (std::sort with the given position as tie-break: libstdc++'s
  // stable_sort uses the deprecated get_temporary_buffer.)
  std::sort(placed.begin(), placed.end(),
            [](const PlacedTensor &a, const PlacedTensor &b) {
              unsigned sizeA = dtypeSize(a.source->dtype),
                       sizeB = dtypeSize(b.source->dtype);
              if (sizeA != sizeB)
                return sizeA > sizeB;
              return a.position < b.position;
            });
  uint64_t dataSize = 0;
  for (PlacedTensor &tensor : placed) {
    if (tensor.byteSize > std::numeric_limits<uint64_t>::max() - dataSize)
      return makeError(path, ": the tensors are too large for one file");
    tensor.begin = dataSize;
    dataSize += tensor.byteSize;
  }

  nlohmann::ordered_json header = nlohmann::ordered_json::object();
  if (!metadata.empty()) {
    nlohmann::ordered_json meta = nlohmann::ordered_json::object();
    for (const auto &entry : metadata)
      meta[entry.first] = entry.second;
    header["__metadata__"] = std::move(meta);
  }
  for (const PlacedTensor &tensor : placed) {
    const TensorSource &source = *tensor.source;
    header[source.name] = {
        {"dtype", safetensorsDTypeName(source.dtype)},
        {"shape", source.shape},
        {"data_offsets", {tensor.begin, tensor.begin + tensor.byteSize}}};
  }
  std::string headerText;
  try {
    headerText = header.dump();
  } catch (const nlohmann::json::exception &e) {
    // Names and metadata must be valid UTF-8 to be JSON strings.
    return makeError(path, ": cannot encode the header: ", e.what());
  }
  // Spaces are JSON whitespace: the reader skips them, and they make the
  // data start 8-byte aligned, so every tensor can be mapped in place.
  while ((8 + headerText.size()) % 8 != 0)
    headerText.push_back(' ');

  std::vector<uint8_t> localBuffer;
  std::vector<uint8_t> &buffer = scratch ? *scratch : localBuffer;
  AtomicOutputFile out(path);
  if (Status s = out.open(); !s)
    return s;
  uint8_t lengthBytes[8];
  uint64_t headerSize = headerText.size();
  for (int i = 0; i < 8; ++i)
    lengthBytes[i] = uint8_t(headerSize >> (8 * i));
  if (Status s = out.write(lengthBytes, 8); !s)
    return s;
  if (Status s = out.write(headerText.data(), headerText.size()); !s)
    return s;
  for (const PlacedTensor &tensor : placed) {
    if (buffer.size() < tensor.byteSize)
      buffer.resize(tensor.byteSize);
    if (Status s = tensor.source->fill(buffer.data()); !s)
      return makeError(path, ": producing tensor ",
                       quoteName(tensor.source->name), ": ", s.message());
    if (Status s = out.write(buffer.data(), tensor.byteSize); !s)
      return s;
  }
  return out.commit();
}

Status mixq::writeFileAtomically(const std::string &path,
                                 const std::string &contents) {
  AtomicOutputFile out(path);
  if (Status s = out.open(); !s)
    return s;
  if (Status s = out.write(contents.data(), contents.size()); !s)
    return s;
  return out.commit();
}
