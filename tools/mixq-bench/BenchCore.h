//===- BenchCore.h - mixq-bench's device-independent pieces -----*- C++ -*-===//
//
// What mixq-bench computes without running anything, kept apart so that it
// is unit-tested on machines without a GPU: mean and standard deviation,
// the package's one-line description (model, scheme, bits/weight, size),
// the bytes each plan step reads, the matmul shapes of a plan (for the
// cuBLAS baseline), the per-kernel aggregation and the markdown tables.
//===----------------------------------------------------------------------===//
#ifndef MIXQ_TOOLS_MIXQ_BENCH_BENCHCORE_H
#define MIXQ_TOOLS_MIXQ_BENCH_BENCHCORE_H

#include "runtime/Package.h"
#include "runtime/Plan.h"
#include "support/Expected.h"

#include <nlohmann/json.hpp>

#include <cstdint>
#include <string>
#include <vector>

namespace mixq::bench {

/// Mean and sample standard deviation (n - 1; 0 for fewer than 2 values),
/// as llama-bench reports them.
struct MeanSd {
  double mean = 0;
  double sd = 0;
};
MeanSd meanSd(const std::vector<double> &values);

/// "4034.94 ± 18.51" (two decimals).
std::string formatMeanSd(const MeanSd &value);

/// The package as the results table names it.
struct PackageSummary {
  std::string model;  ///< the checkpoint's file stem ("stories260K")
  std::string scheme; ///< the main scheme kind ("mixed", "affine+lut", "f32")
  double bitsPerWeight = 0; ///< parameter-weighted, over the quantized weights
  uint64_t weightBytes = 0; ///< every weight blob, once
  int64_t parameters = 0;   ///< every weight
  int64_t quantizedParameters = 0;
};

/// Reads the manifest's `model` and `weights`. The bits are over the
/// quantized weights only (embeddings and norms stay unquantized and would
/// hide the scheme), or over all weights when none is quantized.
PackageSummary summarizePackage(const runtime::Package &package);

/// True for an embedding step's kernel (`*_embed`), which reads one row of
/// its table per token.
bool isEmbeddingKernel(const std::string &kernel);

/// The unique bytes each step of `plan` reads in a call of `tokens` tokens
/// at position `startPos`. An approximation, stated in the output: a
/// step's weight components in full (an embedding's table only for the
/// `tokens` rows it gathers); its input buffers (a buffer is an
/// input of a step when an earlier step bound it; the first binding
/// produces it) for `tokens` rows; the token ids; for each KV cache, the
/// `startPos` rows written by earlier calls (the call's own rows come from
/// its inputs). Each binding counts once (re-reads hit in cache) and
/// writes are not counted.
std::vector<uint64_t>
stepBytesRead(const runtime::ParsedPlan &plan,
              const std::vector<runtime::CacheSpec> &caches, int64_t tokens,
              int64_t startPos);

/// One matmul step of a plan: Y[M x N] = X[M x K] W^T for the weight W
/// whose logical shape (manifest weights[].shape) is [N, K].
struct MatmulStep {
  size_t step = 0;
  std::string weight;
  int64_t n = 0, k = 0;
  /// The last-token logits: M is 1 whatever the call's token count.
  bool lastTokenOnly = false;
  /// Matmuls the step's kernel computes (a fused decode kernel: q, k and v,
  /// or gate and up); each has its own entry.
  size_t matmulsInStep = 1;
};

/// The matmuls of `plan`'s steps whose kernel is a matmul, linear or logits
/// kernel (the kernel names of --mixq-form-dispatches): one per 2-D
/// manifest weight the step binds, in binding order (a fused decode kernel
/// has several, and binds its norm's vector too). An error names a step
/// whose weight is not in `weights[]`, or that binds no 2-D weight.
Expected<std::vector<MatmulStep>> matmulSteps(const nlohmann::json &manifest,
                                              const runtime::ParsedPlan &plan);

/// One row of the per-kernel table: every step of one kernel.
struct KernelRow {
  std::string kernel;
  size_t calls = 0;          ///< steps of the plan running it
  double msPerStep = 0;      ///< the sum over those steps
  uint64_t bytesPerStep = 0; ///< the sum over those steps
  double gbPerSecond() const;
};

/// Groups the per-step times and bytes by kernel, in first-use order.
std::vector<KernelRow> kernelRows(const runtime::ParsedPlan &plan,
                                  const std::vector<double> &stepMs,
                                  const std::vector<uint64_t> &stepBytes);

/// A markdown table in llama-bench's layout; `right[i]` right-aligns
/// column i (numbers).
std::string markdownTable(const std::vector<std::string> &header,
                          const std::vector<std::vector<std::string>> &rows,
                          const std::vector<bool> &right);

/// j[key] when j is an object whose `key` is a string, else `fallback`
/// (the manifest is the compiler's and may be anything JSON allows;
/// nlohmann's value() would throw on a wrong type).
std::string textField(const nlohmann::json &j, const char *key,
                      const std::string &fallback = "");

/// printf("%.*f") into a string.
std::string fixed(double value, int decimals);

} // namespace mixq::bench

#endif // MIXQ_TOOLS_MIXQ_BENCH_BENCHCORE_H
