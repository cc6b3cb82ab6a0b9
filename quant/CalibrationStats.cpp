//===- CalibrationStats.cpp - per-channel activation statistics -----------===//
#include "quant/CalibrationStats.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <fstream>
#include <iterator>

using namespace mixq;
using namespace mixq::quant;

static const char kMagic[8] = {'M', 'I', 'X', 'Q', 'C', 'A', 'L', '\0'};
static constexpr uint32_t kMaxNameLength = 4096;

static std::string checkChannelValues(const std::vector<float> &values,
                                      const char *field) {
  for (size_t i = 0; i < values.size(); ++i)
    if (!std::isfinite(values[i]) || values[i] < 0.0f)
      return std::string(field) + "[" + std::to_string(i) +
             "] must be finite and non-negative, got " +
             std::to_string(values[i]);
  return "";
}

std::string mixq::quant::validateSensitivity(const Sensitivity &sensitivity,
                                             int64_t cols) {
  if (static_cast<int64_t>(sensitivity.meanSquare.size()) != cols)
    return "sensitivity meanSquare has " +
           std::to_string(sensitivity.meanSquare.size()) +
           " channels, expected " + std::to_string(cols);
  if (!sensitivity.maxAbs.empty() &&
      static_cast<int64_t>(sensitivity.maxAbs.size()) != cols)
    return "sensitivity maxAbs has " +
           std::to_string(sensitivity.maxAbs.size()) + " channels, expected " +
           std::to_string(cols);
  std::string error =
      checkChannelValues(sensitivity.meanSquare, "sensitivity meanSquare");
  if (error.empty())
    error = checkChannelValues(sensitivity.maxAbs, "sensitivity maxAbs");
  return error;
}

const Sensitivity *CalibrationStats::find(const std::string &tensor) const {
  auto it = tensors.find(tensor);
  return it == tensors.end() ? nullptr : &it->second.channels;
}

//===----------------------------------------------------------------------===//
// Writing
//===----------------------------------------------------------------------===//

namespace {
class ByteWriter {
public:
  void bytes(const void *data, size_t size) {
    const uint8_t *p = static_cast<const uint8_t *>(data);
    out.insert(out.end(), p, p + size);
  }
  void u32(uint32_t v) { little(v, 4); }
  void u64(uint64_t v) { little(v, 8); }
  void f32s(const std::vector<float> &values) {
    for (float v : values) {
      uint32_t bits;
      std::memcpy(&bits, &v, 4);
      u32(bits);
    }
  }
  std::vector<uint8_t> out;

private:
  // Byte by byte so that the file is little-endian on any host.
  void little(uint64_t v, unsigned size) {
    for (unsigned i = 0; i < size; ++i)
      out.push_back(static_cast<uint8_t>(v >> (8 * i)));
  }
};
} // namespace

std::vector<uint8_t>
mixq::quant::serializeCalibrationStats(const CalibrationStats &stats) {
  ByteWriter w;
  w.bytes(kMagic, sizeof(kMagic));
  w.u32(kCalibrationStatsVersion);
  w.u32(static_cast<uint32_t>(stats.tensors.size()));
  for (const auto &[name, tensor] : stats.tensors) {
    w.u32(static_cast<uint32_t>(name.size()));
    w.bytes(name.data(), name.size());
    w.u64(tensor.tokens);
    w.u32(static_cast<uint32_t>(tensor.channels.meanSquare.size()));
    w.f32s(tensor.channels.meanSquare);
    w.f32s(tensor.channels.maxAbs);
  }
  return w.out;
}

Status mixq::quant::writeCalibrationStats(const CalibrationStats &stats,
                                          const std::string &path) {
  for (const auto &[name, tensor] : stats.tensors) {
    if (name.empty() || name.size() > kMaxNameLength)
      return makeError(path, ": tensor name length ", name.size(),
                       " is not in 1..", kMaxNameLength);
    const Sensitivity &s = tensor.channels;
    if (s.meanSquare.empty() || s.maxAbs.size() != s.meanSquare.size())
      return makeError(path, ": tensor '", name, "' has ", s.meanSquare.size(),
                       " E[x^2] and ", s.maxAbs.size(),
                       " max|x| channels; both must be the same, non-zero");
  }
  std::vector<uint8_t> image = serializeCalibrationStats(stats);
  std::ofstream file(path, std::ios::binary | std::ios::trunc);
  if (!file)
    return makeError(path, ": cannot open for writing");
  file.write(reinterpret_cast<const char *>(image.data()),
             static_cast<std::streamsize>(image.size()));
  if (!file.flush())
    return makeError(path, ": write failed");
  return Status::success();
}

//===----------------------------------------------------------------------===//
// Reading
//===----------------------------------------------------------------------===//

namespace {
/// Bounds-checked little-endian reader; every failure names the offset.
class ByteReader {
public:
  ByteReader(const uint8_t *data, size_t size, const std::string &source)
      : data(data), size(size), source(source) {}

  bool has(size_t n) const { return size - pos >= n; }
  size_t offset() const { return pos; }
  bool atEnd() const { return pos == size; }

  uint64_t little(unsigned n) {
    uint64_t v = 0;
    for (unsigned i = 0; i < n; ++i)
      v |= static_cast<uint64_t>(data[pos + i]) << (8 * i);
    pos += n;
    return v;
  }
  std::string string(size_t n) {
    std::string s(reinterpret_cast<const char *>(data + pos), n);
    pos += n;
    return s;
  }
  void floats(std::vector<float> &out, size_t n) {
    out.resize(n);
    for (size_t i = 0; i < n; ++i) {
      uint32_t bits = static_cast<uint32_t>(little(4));
      std::memcpy(&out[i], &bits, 4);
    }
  }
  /// "<source>: <what> at byte <offset>: " prefix for messages.
  std::string where(const std::string &what) const {
    return source + ": " + what + " at byte " + std::to_string(pos) + ": ";
  }

private:
  const uint8_t *data;
  size_t size;
  size_t pos = 0;
  const std::string &source;
};
} // namespace

static Status checkHeader(ByteReader &r, uint32_t &count) {
  if (!r.has(16))
    return Status::failure(r.where("header") +
                           "truncated (a calibration file starts with 16 "
                           "header bytes)");
  std::string magic = r.string(8);
  if (std::memcmp(magic.data(), kMagic, 8) != 0)
    return makeError(r.where("header"),
                     "bad magic, not a mixq calibration statistics file");
  uint32_t version = static_cast<uint32_t>(r.little(4));
  if (version == 0 || version > kCalibrationStatsVersion)
    return makeError(r.where("header"), "version ", version,
                     " is not supported (this build reads version ",
                     kCalibrationStatsVersion, ")");
  count = static_cast<uint32_t>(r.little(4));
  return Status::success();
}

static Status readTensor(ByteReader &r, CalibrationStats &stats,
                         const std::string *previous) {
  if (!r.has(4))
    return Status::failure(r.where("tensor record") + "truncated");
  uint32_t length = static_cast<uint32_t>(r.little(4));
  if (length == 0 || length > kMaxNameLength)
    return makeError(r.where("tensor name"), "length ", length,
                     " is not in 1..", kMaxNameLength);
  if (!r.has(length))
    return Status::failure(r.where("tensor name") + "truncated");
  std::string name = r.string(length);
  if (previous && !(*previous < name))
    return makeError(r.where("tensor '" + name + "'"),
                     "names must be unique and sorted, but it follows '",
                     *previous, "'");
  std::string what = "tensor '" + name + "'";
  if (!r.has(12))
    return Status::failure(r.where(what) + "truncated");
  TensorStats tensor;
  tensor.tokens = r.little(8);
  uint32_t channels = static_cast<uint32_t>(r.little(4));
  if (channels == 0)
    return Status::failure(r.where(what) + "has 0 channels");
  if (!r.has(8ull * channels))
    return makeError(r.where(what), "truncated: ", channels, " channels need ",
                     8ull * channels, " bytes");
  r.floats(tensor.channels.meanSquare, channels);
  r.floats(tensor.channels.maxAbs, channels);
  std::string error = validateSensitivity(tensor.channels, channels);
  if (!error.empty())
    return Status::failure(r.where(what) + error);
  stats.tensors.emplace(std::move(name), std::move(tensor));
  return Status::success();
}

Expected<CalibrationStats>
mixq::quant::parseCalibrationStats(const uint8_t *data, size_t size,
                                   const std::string &source) {
  ByteReader r(data, size, source);
  uint32_t count = 0;
  if (Status s = checkHeader(r, count); !s)
    return s;
  CalibrationStats stats;
  const std::string *previous = nullptr;
  for (uint32_t i = 0; i < count; ++i) {
    if (Status s = readTensor(r, stats, previous); !s)
      return s;
    previous = &std::prev(stats.tensors.end())->first;
  }
  if (!r.atEnd())
    return Status::failure(r.where("end of file") +
                           "unexpected trailing bytes after " +
                           std::to_string(count) + " tensors");
  return stats;
}

Expected<CalibrationStats>
mixq::quant::readCalibrationStats(const std::string &path) {
  std::ifstream file(path, std::ios::binary);
  if (!file)
    return makeError(path, ": cannot open calibration statistics file");
  std::vector<uint8_t> image((std::istreambuf_iterator<char>(file)),
                             std::istreambuf_iterator<char>());
  if (file.bad())
    return makeError(path, ": read failed");
  return parseCalibrationStats(image.data(), image.size(), path);
}

Expected<CalibrationStats>
mixq::quant::mergeCalibrationStats(const CalibrationStats &a,
                                   const CalibrationStats &b) {
  CalibrationStats merged = a;
  for (const auto &[name, tb] : b.tensors) {
    auto [it, inserted] = merged.tensors.emplace(name, tb);
    if (inserted)
      continue;
    TensorStats &ta = it->second;
    size_t channels = ta.channels.meanSquare.size();
    if (tb.channels.meanSquare.size() != channels ||
        tb.channels.maxAbs.size() != ta.channels.maxAbs.size())
      return makeError("cannot merge calibration statistics of tensor '", name,
                       "': ", channels, " vs ", tb.channels.meanSquare.size(),
                       " channels");
    uint64_t tokens = ta.tokens + tb.tokens;
    // Token-weighted means; with no tokens on either side, a plain average.
    double wa = tokens ? double(ta.tokens) / double(tokens) : 0.5;
    for (size_t k = 0; k < channels; ++k) {
      ta.channels.meanSquare[k] =
          static_cast<float>(wa * ta.channels.meanSquare[k] +
                             (1.0 - wa) * tb.channels.meanSquare[k]);
      if (k < ta.channels.maxAbs.size())
        ta.channels.maxAbs[k] =
            std::max(ta.channels.maxAbs[k], tb.channels.maxAbs[k]);
    }
    ta.tokens = tokens;
  }
  return merged;
}
