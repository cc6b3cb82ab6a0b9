//===- CalibrationStats.h - per-channel activation statistics ---*- C++ -*-===//
//
// Calibration statistics are what the quantizers know about the inputs of a
// linear layer y = x W^T: per input channel k, E[x_k^2] (the diagonal of the
// layer Hessian X^T X / tokens, so the output error of a weight error d_k is
// about E[x_k^2] d_k^2) and max |x_k| (activation outliers, QUIK).
//
// File format, version 1, all integers and floats little-endian:
//
//   offset  size  field
//   0       8     magic "MIXQCAL" followed by a zero byte
//   8       4     u32 version (1)
//   12      4     u32 tensor count T
//   then T records, in strictly increasing byte order of the names:
//           4     u32 name length L (1 .. 4096)
//           L     name (the weight tensor whose input the stats describe,
//                 e.g. "blk0.q_proj")
//           8     u64 tokens (how many activation rows were averaged)
//           4     u32 channel count C (>= 1)
//           4C    f32 E[x^2] per channel
//           4C    f32 max |x| per channel
//   nothing after the last record.
//
// Values must be finite and non-negative. A file that is truncated, has
// trailing bytes, a bad magic, a newer version, duplicate or unsorted names
// or bad values is rejected with a message naming the file, the tensor and
// the byte offset.
//===----------------------------------------------------------------------===//
#ifndef MIXQ_QUANT_CALIBRATIONSTATS_H
#define MIXQ_QUANT_CALIBRATIONSTATS_H

#include "support/Expected.h"

#include <cstdint>
#include <map>
#include <string>
#include <vector>

namespace mixq::quant {

/// What a quantizer may know about its K input channels. `meanSquare`
/// (E[x^2]) has K entries; `maxAbs` has K entries or is empty.
struct Sensitivity {
  std::vector<float> meanSquare;
  std::vector<float> maxAbs;
};

/// "" when `sensitivity` describes `cols` input channels with finite
/// non-negative values, otherwise a message naming the bad field.
std::string validateSensitivity(const Sensitivity &sensitivity, int64_t cols);

/// Statistics of one tensor's input.
struct TensorStats {
  uint64_t tokens = 0;
  Sensitivity channels; ///< both vectors filled, same length
};

struct CalibrationStats {
  std::map<std::string, TensorStats> tensors;

  /// The channel statistics of `tensor`, or null when there are none.
  const Sensitivity *find(const std::string &tensor) const;
};

constexpr uint32_t kCalibrationStatsVersion = 1;

/// The file image of `stats` (see the file comment).
std::vector<uint8_t> serializeCalibrationStats(const CalibrationStats &stats);
/// Parses a file image; `source` names it in error messages.
Expected<CalibrationStats> parseCalibrationStats(const uint8_t *data,
                                                 size_t size,
                                                 const std::string &source);
Expected<CalibrationStats> readCalibrationStats(const std::string &path);
Status writeCalibrationStats(const CalibrationStats &stats,
                             const std::string &path);

/// Combines statistics gathered on two disjoint token sets: E[x^2] is the
/// token-weighted mean, max |x| the maximum. A tensor present in only one
/// input is copied. Fails when a tensor's channel counts differ.
Expected<CalibrationStats> mergeCalibrationStats(const CalibrationStats &a,
                                                 const CalibrationStats &b);

} // namespace mixq::quant

#endif // MIXQ_QUANT_CALIBRATIONSTATS_H
