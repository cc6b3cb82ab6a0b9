//===- DummyWeights.cpp - random weights of the right structure -----------===//
#include "tools/mixq-bench/DummyWeights.h"

#include "runtime/Plan.h"
#include "runtime/cuda/UtilityKernels.h"
#include "tools/mixq-bench/BenchCore.h"

#include <algorithm>
#include <cstring>

namespace mixq::bench {

using json = nlohmann::json;

namespace {

/// The splitmix64 finalizer of `z`.
uint64_t mix(uint64_t z) {
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  return z ^ (z >> 31);
}

/// Word i of a seed's stream: what mixq_fill_random writes before masking.
uint32_t randomWord(uint64_t seed, uint64_t i) {
  return uint32_t(mix(seed + i * 0x9E3779B97F4A7C15ull));
}

uint64_t hashName(const std::string &name) {
  uint64_t h = 0xCBF29CE484222325ull; // FNV-1a
  for (unsigned char c : name)
    h = (h ^ c) * 0x100000001B3ull;
  return h;
}

bool contains(const std::string &text, const char *piece) {
  return text.find(piece) != std::string::npos;
}

bool isFloat(const std::string &dtype) {
  return dtype == "f32" || dtype == "f16" || dtype == "bf16";
}

bool isRowPointer(const std::string &name) {
  return contains(name, "row_ptr") || contains(name, "row_start");
}

/// The text before the first of `markers` in `name`.
std::string prefixBefore(const std::string &name,
                         std::initializer_list<const char *> markers) {
  for (const char *marker : markers)
    if (size_t at = name.find(marker); at != std::string::npos)
      return name.substr(0, at);
  return name;
}

/// Random 32-bit words AND-ed with `mask`, as mixq_fill_random makes them
/// on the GPU (the tail of size % 4 bytes stays zero).
void fillMaskedWords(uint8_t *bytes, size_t size, uint32_t mask,
                     uint64_t seed) {
  for (size_t i = 0; i + 4 <= size; i += 4) {
    uint32_t word = randomWord(seed, i / 4) & mask;
    std::memcpy(bytes + i, &word, 4);
  }
  std::memset(bytes + size / 4 * 4, 0, size % 4);
}

/// Stores `value` as element i of an integer buffer of `dtype`.
void storeInt(const std::string &dtype, uint8_t *bytes, size_t i,
              int64_t value) {
  switch (runtime::dtypeBytes(dtype)) {
  case 1:
    bytes[i] = uint8_t(value);
    break;
  case 2: {
    auto v = uint16_t(value);
    std::memcpy(bytes + 2 * i, &v, 2);
    break;
  }
  case 4: {
    auto v = uint32_t(value);
    std::memcpy(bytes + 4 * i, &v, 4);
    break;
  }
  default:
    std::memcpy(bytes + 8 * i, &value, 8);
  }
}

/// Rules 1-5: components that locate other data.
bool isIndexComponent(const DummyWeights::Component &c) {
  return isRowPointer(c.name) || contains(c.name, "col_idx") ||
         c.name == "bit_map" || c.name == "high_group_start" ||
         c.name == "outlier_cols" || c.name == "col_map" ||
         (!isFloat(c.dtype) && c.shape.size() == 1);
}

const DummyWeights::Component *byName(const DummyWeights::Weight &w,
                                      const std::string &name) {
  for (const DummyWeights::Component &c : w.components)
    if (c.name == name)
      return &c;
  return nullptr;
}

/// The row-pointer component of `prefix` ("outlier_" -> outlier_row_ptr).
const DummyWeights::Component *rowPointerOf(const DummyWeights::Weight &w,
                                            const std::string &prefix) {
  for (const DummyWeights::Component &c : w.components)
    if (c.name.rfind(prefix, 0) == 0 && isRowPointer(c.name) &&
        c.shape.size() == 1)
      return &c;
  return nullptr;
}

Expected<DummyWeights::Component> parseComponent(const json &c,
                                                 const std::string &where) {
  DummyWeights::Component out;
  if (!c.is_object() || !c.value("name", json()).is_string() ||
      !c.value("dtype", json()).is_string() ||
      !c.value("shape", json()).is_array())
    return makeError(where, ": a component needs a name, dtype and shape");
  out.name = c["name"].get<std::string>();
  out.dtype = c["dtype"].get<std::string>();
  for (const json &d : c["shape"]) {
    if (!d.is_number_integer() || d.get<int64_t>() < 0)
      return makeError(where, ": component '", out.name, "' has a bad shape");
    out.shape.push_back(d.get<int64_t>());
  }
  return out;
}

} // namespace

Expected<DummyWeights> DummyWeights::fromManifest(const json &manifest,
                                                  uint64_t seed) {
  DummyWeights out;
  out.seed_ = seed;
  for (const json &w : manifest.value("weights", json::array())) {
    if (!w.is_object())
      continue;
    Weight weight;
    weight.name = textField(w, "name", "?");
    std::string where = "weight '" + weight.name + "'";
    for (const json &d : w.value("shape", json::array()))
      weight.shape.push_back(d.is_number_integer() ? d.get<int64_t>() : 0);
    for (const json &c : w.value("components", json::array())) {
      auto component = parseComponent(c, where);
      if (!component)
        return component.status();
      out.blobs_[textField(c, "blob")] = {out.weights_.size(),
                                          weight.components.size()};
      weight.components.push_back(component.take());
    }
    out.weights_.push_back(std::move(weight));
  }
  return out;
}

std::vector<int64_t> DummyWeights::rowPointers(const Weight &w,
                                               const std::string &prefix,
                                               int64_t rows) const {
  int64_t total = 0;
  for (const Component &c : w.components)
    if (c.name.rfind(prefix, 0) == 0 && !isRowPointer(c.name) &&
        !c.shape.empty()) {
      total = c.shape[0];
      break;
    }
  std::vector<int64_t> ptr(size_t(std::max<int64_t>(rows, 0) + 1));
  for (int64_t r = 0; r <= rows; ++r)
    ptr[size_t(r)] = rows ? r * total / rows : total;
  return ptr;
}

std::vector<uint32_t> DummyWeights::highGroupMap(const Weight &w, int64_t rows,
                                                 int64_t words) const {
  const Component *sc = byName(w, "scale_codes");
  int64_t groups = sc && sc->shape.size() > 1 ? sc->shape[1] : words * 32;
  std::vector<int64_t> ptr = rowPointers(w, "high_", rows);
  std::vector<uint32_t> map(size_t(rows * words), 0);
  for (int64_t r = 0; r < rows; ++r) {
    int64_t high = std::min(ptr[size_t(r) + 1] - ptr[size_t(r)], groups);
    for (int64_t j = 0; j < high; ++j) {
      int64_t g = j * groups / high;
      map[size_t(r * words + g / 32)] |= 1u << (g % 32);
    }
  }
  return map;
}

Status DummyWeights::fillIndex(const Weight &w, const Component &c,
                               uint8_t *bytes) const {
  int64_t count = runtime::numElements(c.shape);
  int64_t k = w.shape.empty() ? 1 : std::max<int64_t>(w.shape.back(), 1);
  if (isRowPointer(c.name)) {
    std::vector<int64_t> ptr = rowPointers(
        w, prefixBefore(c.name, {"row_ptr", "row_start"}), count - 1);
    for (int64_t i = 0; i < count; ++i)
      storeInt(c.dtype, bytes, size_t(i), ptr[size_t(i)]);
    return Status::success();
  }
  if (contains(c.name, "col_idx")) {
    const Component *rp = rowPointerOf(w, prefixBefore(c.name, {"col_idx"}));
    std::vector<int64_t> ptr =
        rp ? rowPointers(w, prefixBefore(rp->name, {"row_ptr", "row_start"}),
                         rp->shape[0] - 1)
           : std::vector<int64_t>{0, count};
    for (size_t r = 0; r + 1 < ptr.size(); ++r) {
      int64_t entries = std::min(ptr[r + 1], count) - ptr[r];
      for (int64_t j = 0; j < entries; ++j)
        storeInt(c.dtype, bytes, size_t(ptr[r] + j), j * k / entries);
    }
    return Status::success();
  }
  if (c.name == "bit_map" || c.name == "high_group_start") {
    int64_t rows = c.shape.empty() ? 0 : c.shape[0];
    int64_t words = c.shape.size() > 1 ? c.shape[1] : 1;
    std::vector<uint32_t> map = highGroupMap(w, rows, words);
    if (c.name == "bit_map") {
      std::memcpy(bytes, map.data(), map.size() * 4);
      return Status::success();
    }
    // Each map word's first high group: the row's, plus the bits of the
    // row's earlier words.
    std::vector<int64_t> ptr = rowPointers(w, "high_", rows);
    for (int64_t r = 0; r < rows; ++r) {
      int64_t next = ptr[size_t(r)];
      for (int64_t i = 0; i < words; ++i) {
        storeInt(c.dtype, bytes, size_t(r * words + i), next);
        next += __builtin_popcount(map[size_t(r * words + i)]);
      }
    }
    return Status::success();
  }
  // QUIK's outlier columns and the column map that must agree with them.
  const Component *cols = byName(w, "outlier_cols");
  int64_t n = cols ? runtime::numElements(cols->shape) : 0;
  if (c.name == "outlier_cols") {
    for (int64_t j = 0; j < count; ++j)
      storeInt(c.dtype, bytes, size_t(j), j * k / count);
    return Status::success();
  }
  if (c.name == "col_map") {
    int64_t slot = 0;
    for (int64_t col = 0; col < count; ++col) {
      bool outlier = slot < n && slot * k / n == col;
      storeInt(c.dtype, bytes, size_t(col), outlier ? slot++ : -1);
    }
    return Status::success();
  }
  std::memset(bytes, 0, size_t(count * runtime::dtypeBytes(c.dtype)));
  return Status::success();
}

std::pair<const DummyWeights::Weight *, const DummyWeights::Component *>
DummyWeights::find(const std::string &blob) const {
  auto it = blobs_.find(blob);
  if (it == blobs_.end())
    return {nullptr, nullptr};
  const Weight &w = weights_[it->second.first];
  return {&w, &w.components[it->second.second]};
}

uint64_t DummyWeights::seedOf(const std::string &blob) const {
  return seed_ ^ hashName(blob);
}

std::optional<runtime::DeviceRandomFill>
DummyWeights::deviceFill(const std::string &blob) const {
  const Component *c = find(blob).second;
  if (!c || isIndexComponent(*c))
    return std::nullopt;
  return runtime::DeviceRandomFill{
      seedOf(blob), runtime::cuda::finiteMaskFor(c->dtype.c_str())};
}

Status DummyWeights::fill(const std::string &blob, uint8_t *bytes,
                          size_t size) const {
  auto [w, found] = find(blob);
  if (!found)
    return makeError("blob '", blob,
                     "' is no component of the manifest's weights");
  const Component &c = *found;
  int64_t elementBytes = runtime::dtypeBytes(c.dtype);
  int64_t count = runtime::numElements(c.shape);
  if (elementBytes == 0 || uint64_t(count * elementBytes) != size)
    return makeError("blob '", blob, "' is ", size,
                     " bytes, not its component's ", c.dtype, " x ", count);
  if (isIndexComponent(c))
    return fillIndex(*w, c, bytes);
  fillMaskedWords(bytes, size, runtime::cuda::finiteMaskFor(c.dtype.c_str()),
                  seedOf(blob));
  return Status::success();
}

} // namespace mixq::bench
