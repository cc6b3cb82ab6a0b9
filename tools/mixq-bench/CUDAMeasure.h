//===- CUDAMeasure.h - mixq-bench's CUDA-only measurements ------*- C++ -*-===//
//
// After the pp and tg tests, on the same executor: the copy bandwidth, the
// per-kernel decode profile (with bytes read and % of the copy), the
// prefill profile, and the cuBLAS fp16 baseline on the same matmul shapes
// with the end-to-end estimate. A missing or failing cuBLAS skips only the
// baseline, with its reason in the report.
//===----------------------------------------------------------------------===//
#ifndef MIXQ_TOOLS_MIXQ_BENCH_CUDAMEASURE_H
#define MIXQ_TOOLS_MIXQ_BENCH_CUDAMEASURE_H

#include "runtime/Package.h"
#include "runtime/cuda/CUDAExecutor.h"
#include "support/Expected.h"
#include "tools/mixq-bench/BenchReport.h"
#include "tools/mixq-bench/CuBLAS.h"

#include <functional>

namespace mixq::bench {

struct CUDAMeasureOptions {
  int repetitions = 5;
  int64_t promptTokens = 512;   ///< ppN after clamping (0: none)
  int64_t generateTokens = 128; ///< tgN after clamping
  /// The cuBLAS loader (tests pass a fake).
  std::function<Expected<const CuBLASAPI *>()> loadBLAS = loadCuBLAS;
};

/// The decode position the profile starts at: the middle of tgN, so that
/// the attention reads a representative cache, leaving room for `runs`.
int64_t profilePosition(int64_t generateTokens, int runs,
                        int64_t contextLength);

/// The matmul rows of one plan: one per (M, N, K), with our mean time per
/// matmul from `stepMs` (per-step milliseconds of that plan).
std::vector<GemmRow> gemmRows(const std::string &plan,
                              const std::vector<MatmulStep> &steps,
                              const std::vector<double> &stepMs,
                              int64_t tokens);

/// The plan's kernel sum, and the same with each matmul step's time
/// replaced by cuBLAS's for its shape (from `rows`, which carry cuBLAS
/// times).
PlanEstimate estimatePlan(const std::string &test, int64_t tokens,
                          const std::vector<MatmulStep> &steps,
                          const std::vector<double> &stepMs,
                          const std::vector<GemmRow> &rows);

Expected<CUDAReport> measureCUDA(runtime::CUDAExecutor &executor,
                                 const runtime::cuda::CUDADriverAPI &driver,
                                 const runtime::Package &package,
                                 const CUDAMeasureOptions &options);

} // namespace mixq::bench

#endif // MIXQ_TOOLS_MIXQ_BENCH_CUDAMEASURE_H
