//===- BenchReport.cpp - mixq-bench's results, as text or JSON ------------===//
#include "tools/mixq-bench/BenchReport.h"

#include "runtime/Package.h"

#include <algorithm>

namespace mixq::bench {

using json = nlohmann::json;

namespace {

std::string resultsTable(const BenchReport &r) {
  std::vector<std::vector<std::string>> rows;
  std::string scheme =
      r.summary.scheme + " " + fixed(r.summary.bitsPerWeight, 2);
  for (const TestResult &t : r.tests)
    rows.push_back({r.summary.model, scheme,
                    runtime::formatByteSize(r.summary.weightBytes), r.device,
                    t.name, formatMeanSd(t.rate)});
  return markdownTable(
      {"model", "scheme bits/w", "size", "device", "test", "t/s (mean ± sd)"},
      rows, {false, false, true, false, true, true});
}

double percentOf(double value, double whole) {
  return whole > 0 ? 100.0 * value / whole : 0.0;
}

/// The read ceiling measured at kernel `k`'s bytes per call, if any.
const ReadCeiling *ceilingOf(const CUDAReport &c, const KernelRow &k) {
  uint64_t perCall = k.calls ? k.bytesPerStep / k.calls : 0;
  for (const ReadCeiling &r : c.readCeilings)
    if (r.bytes == perCall)
      return &r;
  return nullptr;
}

/// Our time per call as a share of the ceiling's (100 = as fast as a pure
/// read of the same bytes, timed alone as the profile times ours).
double percentOfCeiling(const ReadCeiling &r, const KernelRow &k) {
  double ours = k.msPerStep / double(k.calls);
  return ours > 0 ? 100.0 * r.aloneMs / ours : 0.0;
}

std::string kernelTable(const CUDAReport &c) {
  std::vector<std::vector<std::string>> rows;
  KernelRow total{"total"};
  auto cells = [&](const KernelRow &k, bool perCall) {
    double rate = k.gbPerSecond();
    const ReadCeiling *r = perCall ? ceilingOf(c, k) : nullptr;
    return std::vector<std::string>{
        k.kernel,
        std::to_string(k.calls),
        fixed(k.msPerStep * 1e3, 1),
        perCall ? fixed(k.msPerStep * 1e3 / double(k.calls), 2) : "",
        perCall ? runtime::formatByteSize(k.bytesPerStep / k.calls) : "",
        runtime::formatByteSize(k.bytesPerStep),
        fixed(rate, 1),
        fixed(percentOf(rate, c.copyGBs.mean), 1),
        r ? fixed(r->aloneMs * 1e3, 2) : "",
        r ? fixed(r->graphMs * 1e3, 2) : "",
        r ? fixed(percentOfCeiling(*r, k), 1) : ""};
  };
  for (const KernelRow &k : c.decodeKernels) {
    rows.push_back(cells(k, true));
    total.calls += k.calls;
    total.msPerStep += k.msPerStep;
    total.bytesPerStep += k.bytesPerStep;
  }
  rows.push_back(cells(total, false));
  return markdownTable(
      {"kernel", "calls", "us/step", "us/call", "bytes/call", "bytes/step",
       "GB/s", "% of copy", "ceiling us", "graph ceiling us", "% of ceiling"},
      rows,
      {false, true, true, true, true, true, true, true, true, true, true});
}

/// The step's read ceiling: the graph ceiling of every kernel call summed,
/// what the decode step would take if each kernel were a pure read of its
/// bytes launched back to back.
double stepCeilingMs(const CUDAReport &c) {
  double sum = 0;
  for (const KernelRow &k : c.decodeKernels)
    if (const ReadCeiling *r = ceilingOf(c, k))
      sum += r->graphMs * double(k.calls);
  return sum;
}

std::string gemmTable(const CUDAReport &c) {
  std::vector<std::vector<std::string>> rows;
  for (const GemmRow &g : c.gemms)
    rows.push_back({g.plan, std::to_string(g.n) + " x " + std::to_string(g.k),
                    std::to_string(g.m), std::to_string(g.calls),
                    fixed(g.oursMs * 1e3, 1), fixed(g.cublasMs * 1e3, 1),
                    fixed(g.cublasMs > 0 ? g.oursMs / g.cublasMs : 0, 2)});
  return markdownTable(
      {"plan", "N x K", "M", "calls", "ours us", "cuBLAS us", "ours/cuBLAS"},
      rows, {false, false, true, true, true, true, true});
}

std::string estimateTable(const CUDAReport &c) {
  std::vector<std::vector<std::string>> rows;
  for (const PlanEstimate &e : c.estimates)
    rows.push_back({e.test, fixed(e.oursMs, 3), fixed(e.fp16Ms, 3),
                    fixed(double(e.tokens) / (e.oursMs * 1e-3), 2),
                    fixed(double(e.tokens) / (e.fp16Ms * 1e-3), 2),
                    fixed(e.oursMs > 0 ? e.fp16Ms / e.oursMs : 0, 2) + "x"});
  return markdownTable(
      {"test", "ours ms", "fp16 ms", "ours t/s", "fp16 t/s", "speedup"}, rows,
      {false, true, true, true, true, true});
}

std::string cudaText(const CUDAReport &c, int repetitions) {
  std::string out = "\ndevice: " + c.deviceName + " (" + c.chip + " PTX" +
                    (c.programmaticLaunch ? ", programmatic launch" : "") +
                    "), " + runtime::formatByteSize(c.deviceBytes) +
                    " of device memory\n";
  out += "copy bandwidth: " + formatMeanSd(c.copyGBs) +
         " GB/s (cuMemcpyDtoDAsync of " + runtime::formatByteSize(c.copyBytes) +
         ", bytes read + written, mean of " + std::to_string(repetitions) +
         ")\n\n";
  out += "decode kernels: CUDA events around each launch of one decode step "
         "without the graph, positions " +
         std::to_string(c.profilePosition) + ".." +
         std::to_string(c.profilePosition + c.profileRuns - 1) + ", mean of " +
         std::to_string(c.profileRuns) +
         ". Bytes read: weight components (an embedding: the rows it "
         "gathers), input buffers, token ids and the KV-cache rows before the "
         "position, each once (an approximation: re-reads and writes are not "
         "counted). Ceiling: a pure 16-byte read of bytes/call across all "
         "SMs, alone after an L2 flush and per launch back to back in a "
         "graph; % of ceiling = alone ceiling / us/call.\n";
  out += kernelTable(c);
  if (!c.readCeilings.empty())
    out += "decode step read ceiling (every call at its graph ceiling): " +
           fixed(stepCeilingMs(c), 3) + " ms, " +
           fixed(1e3 / std::max(stepCeilingMs(c), 1e-9), 1) + " tok/s\n";
  if (!c.cublasSkipped.empty())
    return out + "\ncuBLAS fp16 baseline: " + c.cublasSkipped + "\n";
  out += "\nmatmuls against cuBLAS fp16 (cublasGemmEx: fp16 in and out, fp32 "
         "compute, L2 flushed before each call; time per matmul; ours/cuBLAS "
         "< 1 is faster):\n";
  out += gemmTable(c);
  out += "\nend-to-end fp16 estimate: every matmul replaced by cuBLAS's, the "
         "other kernels ours (kernel times only, no launch gaps):\n";
  return out + estimateTable(c);
}

json meanSdJson(const MeanSd &v) { return {{"mean", v.mean}, {"sd", v.sd}}; }

json cudaJson(const CUDAReport &c) {
  json kernels = json::array();
  for (const KernelRow &k : c.decodeKernels) {
    json row = {
        {"kernel", k.kernel},
        {"calls", k.calls},
        {"ms_per_step", k.msPerStep},
        {"bytes_per_step", k.bytesPerStep},
        {"gb_per_s", k.gbPerSecond()},
        {"percent_of_copy", percentOf(k.gbPerSecond(), c.copyGBs.mean)}};
    if (const ReadCeiling *r = ceilingOf(c, k)) {
      row["ceiling_alone_ms"] = r->aloneMs;
      row["ceiling_graph_ms"] = r->graphMs;
      row["percent_of_ceiling"] = percentOfCeiling(*r, k);
    }
    kernels.push_back(std::move(row));
  }
  json ceilings = json::array();
  for (const ReadCeiling &r : c.readCeilings)
    ceilings.push_back({{"bytes", r.bytes},
                        {"alone_ms", r.aloneMs},
                        {"graph_ms", r.graphMs},
                        {"graph_launches", r.graphLaunches}});
  json out = {{"device_name", c.deviceName},
              {"chip", c.chip},
              {"programmatic_launch", c.programmaticLaunch},
              {"device_bytes", c.deviceBytes},
              {"copy_bytes", c.copyBytes},
              {"copy_gb_per_s", meanSdJson(c.copyGBs)},
              {"profile_position", c.profilePosition},
              {"profile_runs", c.profileRuns},
              {"decode_kernels", kernels},
              {"read_ceilings", ceilings}};
  if (!c.readCeilings.empty())
    out["decode_step_ceiling_ms"] = stepCeilingMs(c);
  if (!c.cublasSkipped.empty()) {
    out["cublas_skipped"] = c.cublasSkipped;
    return out;
  }
  json gemms = json::array(), estimates = json::array();
  for (const GemmRow &g : c.gemms)
    gemms.push_back({{"plan", g.plan},
                     {"m", g.m},
                     {"n", g.n},
                     {"k", g.k},
                     {"calls", g.calls},
                     {"ours_ms", g.oursMs},
                     {"cublas_ms", g.cublasMs}});
  for (const PlanEstimate &e : c.estimates)
    estimates.push_back({{"test", e.test},
                         {"tokens", e.tokens},
                         {"ours_ms", e.oursMs},
                         {"fp16_ms", e.fp16Ms}});
  out["cublas"] = {{"gemms", gemms}, {"estimates", estimates}};
  return out;
}

} // namespace

std::string renderText(const BenchReport &report) {
  std::string out = resultsTable(report);
  if (report.cuda)
    out += cudaText(*report.cuda, report.repetitions);
  return out;
}

json renderJson(const BenchReport &report) {
  const PackageSummary &s = report.summary;
  json tests = json::array();
  for (const TestResult &t : report.tests)
    tests.push_back({{"test", t.name},
                     {"tokens", t.tokens},
                     {"seconds", t.seconds},
                     {"tokens_per_s", t.rates},
                     {"t_per_s", meanSdJson(t.rate)}});
  json out = {{"package", report.package},
              {"model", s.model},
              {"scheme", s.scheme},
              {"bits_per_weight", s.bitsPerWeight},
              {"weight_bytes", s.weightBytes},
              {"parameters", s.parameters},
              {"quantized_parameters", s.quantizedParameters},
              {"device", report.device},
              {"dummy_weights", report.dummyWeights},
              {"repetitions", report.repetitions},
              {"tests", tests},
              {"notes", report.notes}};
  if (report.cuda)
    out["cuda"] = cudaJson(*report.cuda);
  return out;
}

} // namespace mixq::bench
