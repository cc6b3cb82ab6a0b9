//===- OutlierColumns.cpp - fp16 outlier input columns (QUIK) -------------===//
#include "quant/OutlierColumns.h"
#include "quant/AffineQuantizer.h"
#include "quant/BitPacking.h"
#include "quant/FloatFormats.h"
#include "quant/Parallel.h"

#include <algorithm>
#include <cassert>
#include <cmath>
#include <numeric>

using namespace mixq::quant;

std::string
mixq::quant::validateOutlierColumns(const OutlierColumnsParams &params,
                                    int64_t rows, int64_t cols) {
  if (params.bits != 4 && params.bits != 8)
    return "outlier_cols bits must be 4 or 8, got " +
           std::to_string(params.bits);
  if (rows < 0 || cols < 0)
    return "matrix shape must be non-negative, got " + std::to_string(rows) +
           "x" + std::to_string(cols);
  if (params.outlierColumns < 0 || params.outlierColumns > cols)
    return "outlier_cols column count must be in 0.." + std::to_string(cols) +
           ", got " + std::to_string(params.outlierColumns);
  return "";
}

std::string mixq::quant::validateActivationBits(unsigned bits) {
  if (bits != 4 && bits != 8)
    return "activation bits must be 4 or 8, got " + std::to_string(bits);
  return "";
}

/// The per-column ranking statistic (larger = more of an outlier).
static std::vector<double> columnScores(const float *w, int64_t rows,
                                        int64_t cols,
                                        const OutlierColumnsParams &params,
                                        const Sensitivity *sensitivity) {
  std::vector<double> score(cols, 0.0);
  if (sensitivity) {
    bool useMax = params.rule == OutlierColumnRule::MaxAbs &&
                  !sensitivity->maxAbs.empty();
    const std::vector<float> &stat =
        useMax ? sensitivity->maxAbs : sensitivity->meanSquare;
    std::copy(stat.begin(), stat.end(), score.begin());
    return score;
  }
  for (int64_t r = 0; r < rows; ++r)
    for (int64_t c = 0; c < cols; ++c)
      score[c] += static_cast<double>(w[r * cols + c]) * w[r * cols + c];
  return score;
}

std::vector<int32_t> mixq::quant::chooseOutlierColumns(
    const float *weights, int64_t rows, int64_t cols,
    const OutlierColumnsParams &params, const Sensitivity *sensitivity) {
  std::vector<double> score =
      columnScores(weights, rows, cols, params, sensitivity);
  std::vector<int32_t> order(cols);
  std::iota(order.begin(), order.end(), 0);
  std::stable_sort(order.begin(), order.end(),
                   [&](int32_t a, int32_t b) { return score[a] > score[b]; });
  order.resize(params.outlierColumns);
  std::sort(order.begin(), order.end());
  return order;
}

/// The quantized (non-outlier) columns, increasing.
static std::vector<int32_t> keptColumns(const std::vector<int32_t> &outliers,
                                        int64_t cols) {
  std::vector<int32_t> kept;
  size_t o = 0;
  for (int32_t c = 0; c < cols; ++c) {
    if (o < outliers.size() && outliers[o] == c) {
      ++o;
      continue;
    }
    kept.push_back(c);
  }
  return kept;
}

static int quantizedMax(unsigned bits) { return (1 << (bits - 1)) - 1; }

static float rowScale(const float *w, const std::vector<int32_t> &kept,
                      unsigned bits) {
  float amax = 0.0f;
  for (int32_t c : kept)
    amax = std::max(amax, std::fabs(w[c]));
  // Saturated into fp16's positive range: the codes divide by it.
  float scale = roundToFormat(symmetricScale(amax, bits), ScalarFormat::F16);
  return std::clamp(scale, std::ldexp(1.0f, -24), 65504.0f);
}

OutlierColumnsQuantized mixq::quant::quantizeOutlierColumns(
    const float *weights, int64_t rows, int64_t cols,
    const OutlierColumnsParams &params, const Sensitivity *sensitivity) {
  assert(validateOutlierColumns(params, rows, cols).empty() &&
         "invalid parameters");
  OutlierColumnsQuantized result;
  result.outlierCols =
      chooseOutlierColumns(weights, rows, cols, params, sensitivity);
  int64_t n = params.outlierColumns;
  std::vector<int32_t> kept = keptColumns(result.outlierCols, cols);

  int64_t wordsPerRow = packedWordCount(cols, params.bits);
  result.outlierWeights.resize(rows * n);
  result.codes.assign(rows * wordsPerRow, 0u);
  result.scales.resize(rows);
  result.rowSums.resize(rows);
  int qmax = quantizedMax(params.bits), mid = qmax + 1;
  parallelFor(rows, [&](int64_t begin, int64_t end) {
    // Outlier columns keep the code of 0.
    std::vector<uint8_t> codes(cols);
    for (int64_t r = begin; r < end; ++r) {
      const float *w = weights + r * cols;
      std::fill(codes.begin(), codes.end(), static_cast<uint8_t>(mid));
      for (int64_t j = 0; j < n; ++j)
        result.outlierWeights[r * n + j] =
            floatToHalfBits(w[result.outlierCols[j]]);
      float scale = rowScale(w, kept, params.bits);
      result.scales[r] = floatToHalfBits(scale);
      int64_t sum = 0;
      for (int32_t c : kept) {
        float q = std::round(w[c] / scale);
        int code = static_cast<int>(std::clamp(q, float(-qmax), float(qmax)));
        sum += code;
        codes[c] = static_cast<uint8_t>(code + mid);
      }
      result.rowSums[r] = static_cast<int32_t>(sum);
      packCodes(codes.data(), cols, params.bits,
                result.codes.data() + r * wordsPerRow);
    }
  });
  return result;
}

std::vector<int8_t>
mixq::quant::outlierColumnsCodes(const OutlierColumnsQuantized &packed,
                                 int64_t rows, int64_t cols,
                                 const OutlierColumnsParams &params) {
  std::vector<int32_t> kept = keptColumns(packed.outlierCols, cols);
  int64_t kq = static_cast<int64_t>(kept.size());
  int64_t wordsPerRow = packedWordCount(cols, params.bits);
  int mid = quantizedMax(params.bits) + 1;
  std::vector<int8_t> codes(rows * kq);
  for (int64_t r = 0; r < rows; ++r)
    for (int64_t j = 0; j < kq; ++j)
      codes[r * kq + j] = static_cast<int8_t>(
          static_cast<int>(extractCode(packed.codes.data() + r * wordsPerRow,
                                       kept[j], params.bits)) -
          mid);
  return codes;
}

std::vector<float>
mixq::quant::dequantizeOutlierColumns(const OutlierColumnsQuantized &packed,
                                      int64_t rows, int64_t cols,
                                      const OutlierColumnsParams &params) {
  int64_t n = params.outlierColumns;
  std::vector<int32_t> kept = keptColumns(packed.outlierCols, cols);
  int64_t kq = static_cast<int64_t>(kept.size());
  std::vector<int8_t> codes = outlierColumnsCodes(packed, rows, cols, params);
  std::vector<float> result(rows * cols);
  for (int64_t r = 0; r < rows; ++r) {
    float scale = halfBitsToFloat(packed.scales[r]);
    for (int64_t j = 0; j < kq; ++j)
      result[r * cols + kept[j]] = codes[r * kq + j] * scale;
    for (int64_t j = 0; j < n; ++j)
      result[r * cols + packed.outlierCols[j]] =
          halfBitsToFloat(packed.outlierWeights[r * n + j]);
  }
  return result;
}

double mixq::quant::bitsPerWeight(const OutlierColumnsQuantized &packed,
                                  int64_t rows, int64_t cols) {
  size_t bytes = packed.outlierCols.size() * sizeof(int32_t) +
                 packed.outlierWeights.size() * sizeof(uint16_t) +
                 packed.codes.size() * sizeof(uint32_t) +
                 packed.scales.size() * sizeof(uint16_t) +
                 packed.rowSums.size() * sizeof(int32_t);
  return 8.0 * static_cast<double>(bytes) / static_cast<double>(rows * cols);
}

ActivationQuantized mixq::quant::quantizeActivationsPerToken(const float *x,
                                                             int64_t tokens,
                                                             int64_t cols,
                                                             unsigned bits) {
  assert(validateActivationBits(bits).empty() && "invalid activation bits");
  ActivationQuantized result;
  result.codes.resize(tokens * cols);
  result.scales.resize(tokens);
  result.zeros.resize(tokens);
  float maxq = static_cast<float>((1u << bits) - 1u);
  for (int64_t t = 0; t < tokens; ++t) {
    const float *row = x + t * cols;
    float lo = 0.0f, hi = 0.0f;
    for (int64_t k = 0; k < cols; ++k) {
      lo = std::min(lo, row[k]);
      hi = std::max(hi, row[k]);
    }
    float scale = hi == lo ? 1.0f : (hi - lo) / maxq;
    scale = std::clamp(roundToFormat(scale, ScalarFormat::F16),
                       std::ldexp(1.0f, -24), 65504.0f);
    float zero = std::clamp(std::round(-lo / scale), 0.0f, maxq);
    result.scales[t] = scale;
    result.zeros[t] = static_cast<int32_t>(zero);
    for (int64_t k = 0; k < cols; ++k)
      result.codes[t * cols + k] = static_cast<uint8_t>(
          std::clamp(std::round(row[k] / scale) + zero, 0.0f, maxq));
  }
  return result;
}

std::vector<float> mixq::quant::outlierColumnsMatmul(
    const float *x, int64_t tokens, const OutlierColumnsQuantized &packed,
    int64_t rows, int64_t cols, const OutlierColumnsParams &params,
    unsigned actBits) {
  int64_t n = params.outlierColumns;
  std::vector<int32_t> kept = keptColumns(packed.outlierCols, cols);
  int64_t kq = static_cast<int64_t>(kept.size());
  // The activation quantizer sees only the quantized columns, as the fused
  // norm + quantize kernel would.
  std::vector<float> xq(tokens * kq);
  for (int64_t t = 0; t < tokens; ++t)
    for (int64_t j = 0; j < kq; ++j)
      xq[t * kq + j] = x[t * cols + kept[j]];
  ActivationQuantized act =
      quantizeActivationsPerToken(xq.data(), tokens, kq, actBits);
  std::vector<int8_t> qw = outlierColumnsCodes(packed, rows, cols, params);
  std::vector<float> y(tokens * rows);
  for (int64_t t = 0; t < tokens; ++t)
    for (int64_t r = 0; r < rows; ++r) {
      int64_t dot = 0;
      for (int64_t j = 0; j < kq; ++j)
        dot += int64_t{act.codes[t * kq + j]} * qw[r * kq + j];
      float sw = halfBitsToFloat(packed.scales[r]);
      float acc =
          act.scales[t] * sw *
          static_cast<float>(dot - int64_t{act.zeros[t]} * packed.rowSums[r]);
      for (int64_t j = 0; j < n; ++j)
        acc += x[t * cols + packed.outlierCols[j]] *
               halfBitsToFloat(packed.outlierWeights[r * n + j]);
      y[t * rows + r] = acc;
    }
  return y;
}
