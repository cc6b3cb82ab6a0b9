//===- BenchReport.h - mixq-bench's results, as text or JSON ----*- C++ -*-===//
//
// Everything one mixq-bench run measured, and its two renderings: the
// markdown tables (llama-bench's layout) and one JSON object with the same
// numbers (--json). Pure, so that the formats are tested without a GPU.
//===----------------------------------------------------------------------===//
#ifndef MIXQ_TOOLS_MIXQ_BENCH_BENCHREPORT_H
#define MIXQ_TOOLS_MIXQ_BENCH_BENCHREPORT_H

#include "tools/mixq-bench/BenchCore.h"
#include "tools/mixq-bench/BenchRun.h"

#include <nlohmann/json.hpp>

#include <optional>
#include <string>
#include <vector>

namespace mixq::bench {

/// One matmul shape against cuBLAS; times are per matmul, in ms.
struct GemmRow {
  std::string plan; ///< "decode" or "prefill": where `oursMs` comes from
  int64_t m = 1, n = 0, k = 0;
  size_t calls = 0; ///< matmuls of this shape per call of the plan
  double oursMs = 0, cublasMs = 0;
};

/// A plan's kernel time with our matmuls, and with cuBLAS's fp16 ones in
/// their place (the other kernels are ours in both); per call, in ms.
struct PlanEstimate {
  std::string test; ///< "tg" (one decode step) or "ppN"
  int64_t tokens = 1;
  double oursMs = 0, fp16Ms = 0;
};

/// The read ceiling at one byte size: the time of a kernel that only reads
/// those bytes with 16-byte loads across all SMs (UtilityKernels.h's
/// mixq_read_bytes), the yardstick a GEMV of the same bytes is measured
/// against (a small matrix can never approach the copy bandwidth).
struct ReadCeiling {
  uint64_t bytes = 0;
  /// One launch after an L2 flush, as the per-kernel profile times ours.
  double aloneMs = 0;
  /// Per launch, `graphLaunches` back to back in one CUDA graph over
  /// distinct buffers, as a decode step runs.
  double graphMs = 0;
  int graphLaunches = 0;
};

/// What only a CUDA run measures.
struct CUDAReport {
  std::string deviceName, chip;
  /// The decode graph's kernels are joined by programmatic edges.
  bool programmaticLaunch = false;
  uint64_t deviceBytes = 0;
  uint64_t copyBytes = 0;
  MeanSd copyGBs;
  int64_t profilePosition = 0; ///< the first decode position profiled
  int profileRuns = 0;
  std::vector<KernelRow> decodeKernels; ///< per-step means
  /// At each decode kernel's bytes per call, in decodeKernels' order of
  /// first appearance of the size.
  std::vector<ReadCeiling> readCeilings;
  std::string cublasSkipped;            ///< why there is no baseline
  std::vector<GemmRow> gemms;
  std::vector<PlanEstimate> estimates;
};

struct BenchReport {
  std::string package;
  PackageSummary summary;
  std::string device; ///< "cpu" or "cuda"
  bool dummyWeights = false;
  int repetitions = 0;
  std::vector<TestResult> tests;
  std::vector<std::string> notes;
  std::optional<CUDAReport> cuda;
};

/// The results table, then (CUDA) the device, copy bandwidth, per-kernel
/// and cuBLAS tables.
std::string renderText(const BenchReport &report);

/// The same numbers as one object.
nlohmann::json renderJson(const BenchReport &report);

} // namespace mixq::bench

#endif // MIXQ_TOOLS_MIXQ_BENCH_BENCHREPORT_H
