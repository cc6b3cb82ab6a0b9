//===- WeightQuantizer.h - Pack a module's qtensor weights ------*- C++ -*-===//
//
// After --mixq-quantize, each `mixq.weight @name : !mixq.qtensor<NxK, #s>`
// names a float tensor of the WeightStore that still has to be packed. This
// runs each scheme's host quantizer on it (through QuantSchemeAttrInterface,
// so every scheme works), stores the component buffers in the WeightStore as
// `name:component` byte tensors, and measures what the report prints.
//===----------------------------------------------------------------------===//
#ifndef MIXQ_FRONTEND_IR_WEIGHTQUANTIZER_H
#define MIXQ_FRONTEND_IR_WEIGHTQUANTIZER_H

#include "frontend/WeightStore.h"
#include "quant/CalibrationStats.h"

#include "mlir/IR/BuiltinOps.h"
#include "llvm/Support/Error.h"

#include <functional>
#include <string>
#include <vector>

namespace mixq {

struct WeightReport {
  std::string name;
  int64_t rows = 0, cols = 0;
  std::string scheme;         ///< the printed scheme attribute
  /// The scheme asked for where `scheme` is its fallback for this shape
  /// (mixq.requested_scheme), else empty.
  std::string requestedScheme;
  double bitsPerWeight = 0;   ///< 8 x stored bytes / (rows x cols)
  double relativeError = 0;   ///< ||W - dequant(Q(W))||_F / ||W||_F
  double outlierFraction = 0; ///< outlier values / weights (0 if none)
  double seconds = 0;         ///< read + quantize + error time
};

/// Called before each weight: (index, total, name).
using QuantizeProgress =
    std::function<void(size_t index, size_t total, const std::string &name)>;

/// Packs every distinct mixq.weight of `module`; errors name the weight.
/// With `keepPacked`, the component buffers are added to `store` (for the
/// package writer); without, they are measured and dropped, so that a
/// report on a 7B model needs memory for one weight at a time. With
/// `calibration`, each weight that has statistics (by its name) is quantized
/// with its inputs' E[x^2] as the per-column sensitivity; a channel count
/// that does not match the weight's K is an error naming the weight.
llvm::Expected<std::vector<WeightReport>>
quantizeModuleWeights(mlir::ModuleOp module, WeightStore &store,
                      bool keepPacked, const QuantizeProgress &progress = {},
                      const quant::CalibrationStats *calibration = nullptr);

/// The per-weight table plus totals (parameter-weighted bits/weight and
/// mean relative error), as text or as JSON.
std::string formatReportTable(const std::vector<WeightReport> &reports);
std::string formatReportJson(const std::vector<WeightReport> &reports);

} // namespace mixq

#endif // MIXQ_FRONTEND_IR_WEIGHTQUANTIZER_H
