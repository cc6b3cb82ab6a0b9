//===- CUDAMeasure.cpp - mixq-bench's CUDA-only measurements --------------===//
#include "tools/mixq-bench/CUDAMeasure.h"

#include "runtime/Plan.h"
#include "tools/mixq-bench/GPUBench.h"

#include <algorithm>
#include <map>
#include <tuple>

namespace mixq::bench {

using namespace runtime;

int64_t profilePosition(int64_t generateTokens, int runs,
                        int64_t contextLength) {
  int64_t last = std::max<int64_t>(contextLength - runs, 1);
  return std::clamp<int64_t>(generateTokens / 2, 1, last);
}

namespace {

int64_t rowsOf(const MatmulStep &step, int64_t tokens) {
  return step.lastTokenOnly ? 1 : tokens;
}

/// Per-step means over `runs` profiles; `profile(i)` returns run i.
Expected<std::vector<double>>
meanProfile(int runs,
            const std::function<Expected<std::vector<double>>(int)> &profile) {
  std::vector<double> sum;
  for (int i = 0; i < runs; ++i) {
    auto times = profile(i);
    if (!times)
      return times.status();
    sum.resize(times->size(), 0.0);
    for (size_t s = 0; s < times->size(); ++s)
      sum[s] += (*times)[s];
  }
  for (double &v : sum)
    v /= std::max(runs, 1);
  return sum;
}

} // namespace

std::vector<GemmRow> gemmRows(const std::string &plan,
                              const std::vector<MatmulStep> &steps,
                              const std::vector<double> &stepMs,
                              int64_t tokens) {
  std::map<std::tuple<int64_t, int64_t, int64_t>, size_t> index;
  std::vector<GemmRow> rows;
  // Weights (N x K) per step: a fused step's time is split over its
  // matmuls by their sizes (they are read at one rate).
  std::map<size_t, double> stepWeights;
  for (const MatmulStep &step : steps)
    stepWeights[step.step] += double(step.n) * double(step.k);
  for (const MatmulStep &step : steps) {
    int64_t m = rowsOf(step, tokens);
    auto [it, inserted] =
        index.emplace(std::tuple{m, step.n, step.k}, rows.size());
    if (inserted)
      rows.push_back({plan, m, step.n, step.k});
    GemmRow &row = rows[it->second];
    ++row.calls;
    double share = double(step.n) * double(step.k) / stepWeights[step.step];
    row.oursMs += step.step < stepMs.size() ? stepMs[step.step] * share : 0.0;
  }
  for (GemmRow &row : rows)
    row.oursMs /= double(row.calls);
  return rows;
}

PlanEstimate estimatePlan(const std::string &test, int64_t tokens,
                          const std::vector<MatmulStep> &steps,
                          const std::vector<double> &stepMs,
                          const std::vector<GemmRow> &rows) {
  PlanEstimate out{test, tokens};
  std::vector<double> fp16 = stepMs;
  // A step's matmuls in cuBLAS's time, all of a fused step's summed.
  for (const MatmulStep &step : steps)
    if (step.step < fp16.size())
      fp16[step.step] = 0;
  for (const MatmulStep &step : steps) {
    int64_t m = rowsOf(step, tokens);
    for (const GemmRow &row : rows)
      if (row.m == m && row.n == step.n && row.k == step.k &&
          step.step < fp16.size()) {
        fp16[step.step] += row.cublasMs;
        break; // the prefill rows may have the same shape
      }
  }
  for (size_t i = 0; i < stepMs.size(); ++i) {
    out.oursMs += stepMs[i];
    out.fp16Ms += fp16[i];
  }
  return out;
}

namespace {

struct Context {
  CUDAExecutor &executor;
  const cuda::CUDADriverAPI &cu;
  const Package &package;
  const CUDAMeasureOptions &options;
  PackagePlans plans;
  CUDAReport report;
  std::vector<double> decodeMs, prefillMs;
};

Status measureCopy(Context &c) {
  size_t freeBytes = 0, totalBytes = 0;
  cuda::CUresult result = c.cu.cuMemGetInfo(&freeBytes, &totalBytes);
  if (result != cuda::CUDA_SUCCESS)
    return makeError("cuMemGetInfo: ", cuda::errorText(c.cu, result));
  c.report.copyBytes = copyBufferBytes(freeBytes);
  auto copy = measureCopyBandwidth(c.cu, c.executor.stream(),
                                   c.report.copyBytes, c.options.repetitions);
  if (!copy)
    return makeError("copy bandwidth: ", copy.message());
  c.report.copyGBs = *copy;
  return Status::success();
}

/// One eager decode step per run at consecutive positions after a prompt
/// that puts the first at profilePosition().
Status profileDecode(Context &c) {
  int64_t context = c.executor.contextLength();
  int runs = int(std::min<int64_t>(c.options.repetitions, context - 1));
  int64_t position = profilePosition(c.options.generateTokens, runs, context);
  std::vector<int32_t> ids =
      benchTokens(size_t(position + runs), c.executor.vocabSize(), 3);
  c.executor.reset();
  auto prompt = c.executor.prefill(
      std::vector<int32_t>(ids.begin(), ids.begin() + position));
  if (!prompt)
    return makeError("decode profile: ", prompt.message());
  auto times = meanProfile(runs, [&](int i) {
    return c.executor.profileDecode(ids[size_t(position + i)]);
  });
  if (!times)
    return makeError("decode profile: ", times.message());
  c.decodeMs = times.take();
  std::vector<uint64_t> bytes(c.decodeMs.size(), 0);
  for (int i = 0; i < runs; ++i) {
    std::vector<uint64_t> b =
        stepBytesRead(c.plans.decode, c.plans.caches, 1, position + i);
    for (size_t s = 0; s < b.size() && s < bytes.size(); ++s)
      bytes[s] += b[s] / uint64_t(runs);
  }
  c.report.profilePosition = position;
  c.report.profileRuns = runs;
  c.report.decodeKernels = kernelRows(c.plans.decode, c.decodeMs, bytes);
  return Status::success();
}

/// The read ceiling at every decode kernel's bytes per call.
Status measureCeilings(Context &c) {
  std::vector<uint64_t> sizes;
  for (const KernelRow &k : c.report.decodeKernels) {
    uint64_t perCall = k.calls ? k.bytesPerStep / k.calls : 0;
    if (perCall &&
        std::find(sizes.begin(), sizes.end(), perCall) == sizes.end())
      sizes.push_back(perCall);
  }
  auto ceilings =
      measureReadCeilings(c.cu, c.executor.stream(), sizes,
                          c.options.repetitions, c.report.copyBytes);
  if (!ceilings)
    return ceilings.status();
  c.report.readCeilings = ceilings.take();
  return Status::success();
}

Status profilePrefill(Context &c) {
  int64_t tokens = c.options.promptTokens;
  std::vector<int32_t> ids =
      benchTokens(size_t(tokens), c.executor.vocabSize(), 1);
  auto times = meanProfile(c.options.repetitions, [&](int) {
    c.executor.reset();
    return c.executor.profilePrefill(ids);
  });
  if (!times)
    return makeError("prefill profile: ", times.message());
  c.prefillMs = times.take();
  return Status::success();
}

/// The cuBLAS rows and estimates; a reason in cublasSkipped instead when
/// the library is missing or fails.
void baseline(Context &c) {
  auto blas = c.options.loadBLAS();
  if (!blas) {
    c.report.cublasSkipped = blas.message();
    return;
  }
  const nlohmann::json &manifest = c.package.manifest();
  auto decode = matmulSteps(manifest, c.plans.decode);
  auto prefill = matmulSteps(manifest, c.plans.prefill);
  if (!decode || !prefill) {
    c.report.cublasSkipped = (decode ? prefill.message() : decode.message()) +
                             ": the baseline is skipped";
    return;
  }
  int64_t p = c.options.promptTokens;
  std::vector<GemmRow> rows = gemmRows("decode", *decode, c.decodeMs, 1);
  if (p > 0)
    for (GemmRow &row : gemmRows("prefill", *prefill, c.prefillMs, p))
      rows.push_back(row);
  std::vector<GemmShape> shapes;
  for (const GemmRow &row : rows)
    shapes.push_back({row.m, row.n, row.k});
  auto times = timeCuBLASGemms(c.cu, **blas, c.executor.stream(), shapes,
                               c.options.repetitions, c.report.copyBytes);
  if (!times) {
    c.report.cublasSkipped = times.message() + ": the baseline is skipped";
    return;
  }
  for (size_t i = 0; i < rows.size(); ++i)
    rows[i].cublasMs = (*times)[i];
  c.report.estimates.push_back(
      estimatePlan("tg", 1, *decode, c.decodeMs, rows));
  if (p > 0)
    c.report.estimates.push_back(
        estimatePlan("pp" + std::to_string(p), p, *prefill, c.prefillMs, rows));
  c.report.gemms = std::move(rows);
}

} // namespace

Expected<CUDAReport> measureCUDA(CUDAExecutor &executor,
                                 const cuda::CUDADriverAPI &driver,
                                 const Package &package,
                                 const CUDAMeasureOptions &options) {
  auto plans =
      parsePackagePlans(package, [](const std::string &, const std::string &) {
        return Status::success(); // the executor has checked the kernels
      });
  if (!plans)
    return plans.status();
  PackagePlans parsed = plans.take();
  // A multi-width package: the per-kernel table is of the width tg ran at.
  for (const DecodeWidthPlan &width : parsed.decodeWidths)
    if (width.info.width == executor.decodeWidth())
      parsed.decode = width.plan;
  Context c{executor, driver, package, options, std::move(parsed), {}, {}, {}};
  c.report.deviceName = executor.deviceName();
  c.report.chip = executor.chip();
  c.report.programmaticLaunch = executor.programmaticLaunch();
  c.report.deviceBytes = executor.deviceBytes();
  for (auto step : {measureCopy, profileDecode, measureCeilings})
    if (Status st = step(c); !st)
      return st;
  if (options.promptTokens > 0)
    if (Status st = profilePrefill(c); !st)
      return st;
  baseline(c);
  executor.reset();
  return c.report;
}

} // namespace mixq::bench
