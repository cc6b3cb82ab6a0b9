//===- WeightQuantizer.cpp - Pack a module's qtensor weights --------------===//

#include "frontend/IR/WeightQuantizer.h"

#include "dialect/MixQ/MixQOps.h"
#include "quant/Parallel.h"

#include "llvm/ADT/StringSet.h"
#include "llvm/Support/FormatVariadic.h"
#include "llvm/Support/ScopedPrinter.h"

#include <nlohmann/json.hpp>

#include <chrono>
#include <cmath>
#include <mutex>

using namespace mlir;
using namespace ::mixq;
using mlir::mixq::ComponentSpec;
using mlir::mixq::QTensorType;
using mlir::mixq::QuantizeOptions;
using mlir::mixq::QuantSchemeAttrInterface;

namespace {

/// Reads the whole of `view` as f32 into `buffer` (grown when too small and
/// reused between weights, so that each weight does not fault in a fresh
/// allocation), converting row ranges in parallel.
llvm::Expected<ArrayRef<float>> readWeight(const TensorView &view,
                                           std::vector<float> &buffer) {
  int64_t count = view.numElements(), rows = view.numRows();
  if (int64_t(buffer.size()) < count) {
    buffer.clear();
    buffer.shrink_to_fit();
    buffer.resize(count);
  }
  int64_t rowLength = view.rowLength();
  std::mutex mutex;
  Status status = Status::success();
  quant::parallelFor(rows, [&](int64_t begin, int64_t end) {
    Status s = readRowsAsF32(view, begin, end - begin,
                             buffer.data() + begin * rowLength);
    std::lock_guard<std::mutex> lock(mutex);
    if (!s && status)
      status = std::move(s);
  });
  if (!status)
    return llvm::createStringError(llvm::inconvertibleErrorCode(),
                                   status.message());
  return ArrayRef<float>(buffer.data(), count);
}

llvm::Error weightError(const std::string &name, const llvm::Twine &message) {
  return llvm::createStringError(llvm::inconvertibleErrorCode(),
                                 "weight '" + name + "': " + message);
}

/// Quantizes one weight and stores its components.
llvm::Expected<WeightReport>
quantizeOne(mlir::mixq::WeightOp op, WeightStore &store, bool keepPacked,
            const quant::CalibrationStats *calibration,
            std::vector<float> &buffer) {
  auto start = std::chrono::steady_clock::now();
  std::string name = op.getName().str();
  auto type = cast<QTensorType>(op.getType());
  QuantSchemeAttrInterface scheme = type.getScheme();
  ArrayRef<int64_t> shape = type.getShape();
  const TensorView *view = store.lookup(name);
  if (!view)
    return weightError(name, "not in the WeightStore");
  if (view->shape != std::vector<int64_t>(shape.begin(), shape.end()))
    return weightError(name, "stored shape " + formatShape(view->shape) +
                                 " differs from the IR's qtensor shape");
  auto weights = readWeight(*view, buffer);
  if (!weights)
    return weightError(name, llvm::toString(weights.takeError()));
  store.releasePages(*view);
  QuantizeOptions options;
  if (const quant::Sensitivity *stats =
          calibration ? calibration->find(name) : nullptr) {
    if (int64_t(stats->meanSquare.size()) != shape[1])
      return weightError(name, "the calibration statistics have " +
                                   llvm::Twine(stats->meanSquare.size()) +
                                   " input channels, the weight has " +
                                   llvm::Twine(shape[1]));
    options.inputSensitivity = stats->meanSquare;
  }
  auto packed = scheme.quantize(*weights, shape, options);
  if (!packed)
    return weightError(name, llvm::toString(packed.takeError()));
  auto error = scheme.reconstructionError(*packed, shape, *weights);
  if (!error)
    return weightError(name, llvm::toString(error.takeError()));

  WeightReport report;
  report.name = name;
  report.rows = shape[0];
  report.cols = shape[1];
  report.scheme = llvm::to_string(scheme);
  if (Attribute requested = op->getAttr(mlir::mixq::kRequestedSchemeAttrName))
    report.requestedScheme = llvm::to_string(requested);
  report.relativeError = *error;
  SmallVector<ComponentSpec> components = scheme.getComponents(shape);
  uint64_t bytes = 0, outliers = 0;
  for (auto [spec, buffer] : llvm::zip_equal(components, *packed)) {
    bytes += buffer.size();
    // Schemes name the buffers of weights kept at high precision
    // "*outlier_values" (sparse CSR values) or "outlier_weights" (QUIK's
    // fp16 columns) by convention; CSR row pointers and column indices are
    // not outliers.
    StringRef component(spec.name);
    if (component.ends_with("outlier_values") ||
        component.ends_with("outlier_weights"))
      outliers += spec.getNumElements();
    if (!keepPacked)
      continue;
    int64_t size = buffer.size();
    if (Status s = store.addOwnedTensor(name + ":" + spec.name, DType::U8,
                                        {size}, std::move(buffer));
        !s)
      return weightError(name, s.message());
  }
  double weightsCount = double(shape[0]) * double(shape[1]);
  report.bitsPerWeight = 8.0 * double(bytes) / weightsCount;
  report.outlierFraction = double(outliers) / weightsCount;
  report.seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start)
          .count();
  return report;
}

} // namespace

namespace mixq {
llvm::Expected<std::vector<WeightReport>>
quantizeModuleWeights(ModuleOp module, WeightStore &store, bool keepPacked,
                      const QuantizeProgress &progress,
                      const quant::CalibrationStats *calibration) {
  // prefill and decode reference the same symbols: pack each once.
  SmallVector<mlir::mixq::WeightOp> weights;
  llvm::StringSet<> seen;
  module.walk([&](mlir::mixq::WeightOp op) {
    if (seen.insert(op.getName()).second)
      weights.push_back(op);
  });
  std::vector<WeightReport> reports;
  std::vector<float> buffer;
  for (size_t i = 0; i < weights.size(); ++i) {
    if (progress)
      progress(i, weights.size(), weights[i].getName().str());
    auto report =
        quantizeOne(weights[i], store, keepPacked, calibration, buffer);
    if (!report)
      return report.takeError();
    reports.push_back(std::move(*report));
  }
  if (progress)
    progress(weights.size(), weights.size(), "");
  return reports;
}
} // namespace mixq

namespace {

struct Totals {
  double weights = 0, bits = 0, errorSum = 0, outliers = 0, seconds = 0;
};

std::string padRight(const std::string &text, size_t width) {
  return text.size() >= width ? text
                              : text + std::string(width - text.size(), ' ');
}

Totals totalsOf(const std::vector<WeightReport> &reports) {
  Totals t;
  for (const WeightReport &r : reports) {
    double n = double(r.rows) * double(r.cols);
    t.weights += n;
    t.bits += r.bitsPerWeight * n;
    t.errorSum += r.relativeError;
    t.outliers += r.outlierFraction * n;
    t.seconds += r.seconds;
  }
  return t;
}

} // namespace

namespace mixq {
std::string formatReportTable(const std::vector<WeightReport> &reports) {
  std::string out;
  llvm::raw_string_ostream os(out);
  size_t nameWidth = 6, schemeWidth = 6;
  for (const WeightReport &r : reports) {
    nameWidth = std::max(nameWidth, r.name.size());
    schemeWidth = std::max(schemeWidth, r.scheme.size());
  }
  size_t fallbacks = llvm::count_if(reports, [](const WeightReport &r) {
    return !r.requestedScheme.empty();
  });
  os << llvm::formatv("{0} {1,12} {2} {3,10} {4,10} {5,9} {6,8}\n",
                      padRight("weight", nameWidth), "shape",
                      padRight("scheme", schemeWidth + 1), "bits/w", "rel.err",
                      "outliers", "time");
  for (const WeightReport &r : reports)
    os << llvm::formatv(
        "{0} {1,12} {2} {3,10:F4} {4,10:F5} {5,8:F3}% {6,7:F2}s\n",
        padRight(r.name, nameWidth),
        std::to_string(r.rows) + "x" + std::to_string(r.cols),
        padRight(r.scheme + (r.requestedScheme.empty() ? " " : "*"),
                 schemeWidth + 1),
        r.bitsPerWeight, r.relativeError, 100.0 * r.outlierFraction, r.seconds);
  Totals t = totalsOf(reports);
  if (!reports.empty())
    os << llvm::formatv(
        "total: {0} weights, {1:F1} M parameters, {2:F4} bits/weight, mean "
        "relative error {3:F5}, outliers {4:F3}%, {5:F1} s\n",
        reports.size(), t.weights / 1e6, t.bits / t.weights,
        t.errorSum / double(reports.size()), 100.0 * t.outliers / t.weights,
        t.seconds);
  if (fallbacks > 0) {
    os << "* a fallback: the scheme asked for cannot describe the shape\n";
    for (const WeightReport &r : reports)
      if (!r.requestedScheme.empty())
        os << "  " << r.name << ": " << r.requestedScheme << " -> " << r.scheme
           << "\n";
  }
  return out;
}

std::string formatReportJson(const std::vector<WeightReport> &reports) {
  nlohmann::ordered_json weights = nlohmann::ordered_json::array();
  for (const WeightReport &r : reports) {
    nlohmann::ordered_json weight = {
        {"name", r.name}, {"shape", {r.rows, r.cols}}, {"scheme", r.scheme}};
    if (!r.requestedScheme.empty())
      weight["requested_scheme"] = r.requestedScheme;
    weight["bits_per_weight"] = r.bitsPerWeight;
    weight["relative_error"] = r.relativeError;
    weight["outlier_fraction"] = r.outlierFraction;
    weight["seconds"] = r.seconds;
    weights.push_back(std::move(weight));
  }
  Totals t = totalsOf(reports);
  nlohmann::ordered_json total = {
      {"weights", reports.size()},
      {"parameters", t.weights},
      {"bits_per_weight", reports.empty() ? 0.0 : t.bits / t.weights},
      {"mean_relative_error",
       reports.empty() ? 0.0 : t.errorSum / double(reports.size())},
      {"outlier_fraction", reports.empty() ? 0.0 : t.outliers / t.weights},
      {"seconds", t.seconds}};
  return nlohmann::ordered_json{{"weights", weights}, {"total", total}}.dump(
             2) +
         "\n";
}
} // namespace mixq
