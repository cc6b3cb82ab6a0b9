//===- BenchCoreTest.cpp - mixq-bench's pure pieces -----------------------===//
//
// Statistics, the package summary, bytes-read accounting and matmul shapes
// on a small hand-written package, the pp/tg runners on a fake model with
// a fake clock, the cuBLAS comparison arithmetic and both report formats.
//===----------------------------------------------------------------------===//
#include "tools/mixq-bench/BenchCore.h"
#include "BenchTestPackage.h"
#include "runtime/Package.h"
#include "runtime/Plan.h"
#include "tools/mixq-bench/BenchReport.h"
#include "tools/mixq-bench/BenchRun.h"
#include "tools/mixq-bench/CUDAMeasure.h"

#include <gtest/gtest.h>

#include <cmath>

using namespace mixq;
using namespace mixq::bench;
using namespace mixq::runtime;
using namespace mixq::bench::test;
using json = nlohmann::json;

namespace {

bool contains(const std::string &text, const std::string &piece) {
  return text.find(piece) != std::string::npos;
}

#define EXPECT_CONTAINS(text, piece)                                           \
  EXPECT_TRUE(contains(text, piece)) << "in:\n" << (text)

//===----------------------------------------------------------------------===//
// Statistics and the package
//===----------------------------------------------------------------------===//

TEST(BenchCoreTest, MeanAndSampleStandardDeviation) {
  MeanSd v = meanSd({1, 2, 3, 4});
  EXPECT_DOUBLE_EQ(v.mean, 2.5);
  EXPECT_NEAR(v.sd, std::sqrt(5.0 / 3.0), 1e-12) << "n - 1, as llama-bench";
  EXPECT_EQ(meanSd({7}).sd, 0.0);
  EXPECT_EQ(meanSd({7}).mean, 7.0);
  EXPECT_EQ(meanSd({}).mean, 0.0);
  EXPECT_EQ(formatMeanSd({4034.944, 18.506}), "4034.94 \u00b1 18.51");
}

TEST(BenchCoreTest, PackageSummaryCountsTheQuantizedWeights) {
  Package package = writePackage(manifestJson());
  PackageSummary s = summarizePackage(package);
  EXPECT_EQ(s.model, "tiny-model");
  // mixed (32 parameters) before affine (16).
  EXPECT_EQ(s.scheme, "mixed+affine");
  // affine: 32 bytes for 16 weights = 16 bits (no bits_per_weight given);
  // mixed: 3 bits. The f32 embedding does not count.
  EXPECT_NEAR(s.bitsPerWeight, (16.0 * 16 + 3.0 * 32) / 48, 1e-12);
  EXPECT_EQ(s.quantizedParameters, 48);
  EXPECT_EQ(s.parameters, 80);
  EXPECT_EQ(s.weightBytes, 128u + 32 + 32);

  json plain = manifestJson();
  plain["weights"] = {plain["weights"][0]};
  plain["model"].erase("source");
  PackageSummary f32 = summarizePackage(writePackage(plain));
  EXPECT_EQ(f32.scheme, "f32");
  EXPECT_DOUBLE_EQ(f32.bitsPerWeight, 32.0);
  EXPECT_EQ(f32.model.rfind("mixq-bench-test-", 0), 0u) << "the file stem";
}

TEST(BenchCoreTest, MalformedWeightEntriesDoNotThrow) {
  json m = manifestJson();
  m["weights"].push_back(5);
  m["weights"].push_back({{"name", 1}, {"scheme", 2}, {"shape", "x"},
                          {"components", {7, {{"blob", 3}}}}});
  m["model"]["source"] = 12;
  PackageSummary s = summarizePackage(writePackage(m));
  EXPECT_EQ(s.scheme, "mixed+affine");
  EXPECT_EQ(s.parameters, 80);
  EXPECT_EQ(textField(json::array(), "x", "fb"), "fb");
}

TEST(BenchCoreTest, BytesReadCountWeightsInputsTokensAndCacheRows) {
  Package package = writePackage(manifestJson());
  PackagePlans plans = parsePlans(package);
  std::vector<uint64_t> decode =
      stepBytesRead(plans.decode, plans.caches, 1, 5);
  ASSERT_EQ(decode.size(), 5u);
  // The embedding gathers one 16-byte row of its [8 x 4] f32 table.
  EXPECT_EQ(decode[0], 16u + 4) << "one row of the table and one token id";
  EXPECT_EQ(decode[1], 16u + 32) << "b0 and the three components";
  // b1 and b0 (bound twice, counted once), 5 older rows of both caches.
  EXPECT_EQ(decode[2], 16u + 16 + 2 * 5 * 16);
  EXPECT_EQ(decode[3], 16u + 32) << "b3 is an input; b2 its output";
  EXPECT_EQ(decode[4], 32u + 128);
  // Prefill of 3 tokens at position 0: 3 rows per buffer, no cache rows.
  std::vector<uint64_t> prefill =
      stepBytesRead(plans.prefill, plans.caches, 3, 0);
  EXPECT_EQ(prefill[0], 3 * 16u + 12);
  EXPECT_EQ(prefill[2], 48u + 48);
  EXPECT_EQ(prefill[4], 96u + 128);
}

// A component the kernel binds but never loads ("read": false in the plan,
// e.g. a narrow bitplane width's lower planes) adds no bytes.
TEST(BenchCoreTest, BytesReadSkipComponentsTheKernelDoesNotLoad) {
  json m = manifestJson();
  json &args = m["plan"]["decode"]["steps"][1]["args"];
  ASSERT_EQ(args[2]["weight"], "blk0.q_proj:scales");
  args[2]["read"] = false;
  Package package = writePackage(m);
  PackagePlans plans = parsePlans(package);
  std::vector<uint64_t> decode =
      stepBytesRead(plans.decode, plans.caches, 1, 5);
  ASSERT_EQ(decode.size(), 5u);
  EXPECT_EQ(decode[1], 16u + 32 - 8) << "b0, the codes and the zeros";

  args[2]["read"] = "no";
  Package bad = writePackage(m);
  auto parsed =
      parsePackagePlans(bad, [](const std::string &, const std::string &) {
        return Status::success();
      });
  ASSERT_FALSE(parsed.ok());
  EXPECT_NE(parsed.message().find("\"read\" must be true or false"),
            std::string::npos)
      << parsed.message();
}

TEST(BenchCoreTest, MatmulShapesComeFromTheManifestWeights) {
  Package package = writePackage(manifestJson());
  PackagePlans plans = parsePlans(package);
  auto steps = matmulSteps(package.manifest(), plans.decode);
  ASSERT_TRUE(steps.ok()) << steps.message();
  ASSERT_EQ(steps->size(), 3u) << "the embedding is no matmul";
  EXPECT_EQ((*steps)[0].step, 1u);
  EXPECT_EQ((*steps)[0].weight, "blk0.q_proj");
  EXPECT_EQ((*steps)[0].n, 4);
  EXPECT_EQ((*steps)[0].k, 4);
  EXPECT_FALSE((*steps)[0].lastTokenOnly);
  EXPECT_EQ((*steps)[1].weight, "blk0.up_proj");
  EXPECT_EQ((*steps)[1].n, 8);
  EXPECT_EQ((*steps)[2].weight, "tok_embed") << "tied logits";
  EXPECT_TRUE((*steps)[2].lastTokenOnly);

  json m = manifestJson();
  m["weights"].erase(2); // blk0.up_proj
  auto missing = matmulSteps(m, plans.decode);
  ASSERT_FALSE(missing.ok());
  EXPECT_EQ(missing.message(),
            "decode step 3 (kernel decode_k1_matmul): blob "
            "'blk0.up_proj:low_codes' is no component of the manifest's "
            "weights");
  m = manifestJson();
  m["weights"][1]["shape"] = {16};
  auto flat = matmulSteps(m, plans.decode);
  ASSERT_FALSE(flat.ok());
  EXPECT_EQ(flat.message(), "decode step 1 (kernel decode_k1_matmul): weight "
                            "'blk0.q_proj' is not a 2-D matrix");
}

/// A decode plan whose step 1 is a fused kernel: the attention norm's
/// vector, then q_proj and up_proj (4 x 4 and 8 x 4) in one launch.
json fusedManifest() {
  json m = manifestJson();
  json norm = weightJson("blk0.attn_norm", {4}, "none",
                         {componentJson("data", "blk0.attn_norm", "f32", {4})});
  m["weights"].push_back(norm);
  json &step = m["plan"]["decode"]["steps"][1];
  step["kernel"] = "decode_k1_rms_norm_matmul_matmul_swiglu";
  json args =
      json::array({step["args"][0], binding("blk0.attn_norm", "f32", {4})});
  for (size_t i = 1; i < 4; ++i)
    args.push_back(step["args"][i]);
  args.push_back(binding("blk0.up_proj:low_codes", "i32", {8, 1}));
  args.push_back(step["args"][4]);
  step["args"] = args;
  return m;
}

TEST(BenchCoreTest, AFusedStepHasOneMatmulPerMatrix) {
  json m = fusedManifest();
  Package package = writePackage(m);
  PackagePlans plans = parsePlans(package);
  auto steps = matmulSteps(package.manifest(), plans.decode);
  ASSERT_TRUE(steps.ok()) << steps.message();
  ASSERT_EQ(steps->size(), 4u) << "q and up in step 1, the norm no matmul";
  EXPECT_EQ((*steps)[0].step, 1u);
  EXPECT_EQ((*steps)[0].weight, "blk0.q_proj");
  EXPECT_EQ((*steps)[0].matmulsInStep, 2u);
  EXPECT_EQ((*steps)[1].step, 1u);
  EXPECT_EQ((*steps)[1].weight, "blk0.up_proj");
  EXPECT_EQ((*steps)[1].n, 8);
  EXPECT_EQ((*steps)[1].matmulsInStep, 2u);
  EXPECT_EQ((*steps)[2].step, 3u);
  EXPECT_EQ((*steps)[2].matmulsInStep, 1u);

  // Step 1 took 3 ms: q (16 weights) 1 ms of it, up (32 weights) 2 ms.
  std::vector<double> ms = {1, 3, 3, 4, 6};
  std::vector<GemmRow> rows = gemmRows("decode", *steps, ms, 1);
  ASSERT_EQ(rows.size(), 2u);
  EXPECT_DOUBLE_EQ(rows[0].oursMs, 1.0);
  EXPECT_EQ(rows[1].calls, 3u);
  EXPECT_DOUBLE_EQ(rows[1].oursMs, (2.0 + 4 + 6) / 3);
  rows[0].cublasMs = 0.5;
  rows[1].cublasMs = 1.5;
  PlanEstimate tg = estimatePlan("tg", 1, *steps, ms, rows);
  EXPECT_DOUBLE_EQ(tg.oursMs, 17.0);
  EXPECT_DOUBLE_EQ(tg.fp16Ms, 1 + (0.5 + 1.5) + 3 + 1.5 + 1.5)
      << "a fused step costs its matmuls' cuBLAS times summed";

  // A step that binds only a vector has no matrix to compare.
  m["plan"]["decode"]["steps"][1]["args"] =
      json::array({m["plan"]["decode"]["steps"][1]["args"][0],
                   binding("blk0.attn_norm", "f32", {4}), buffer(1)});
  Package vectorOnly = writePackage(m);
  auto error =
      matmulSteps(vectorOnly.manifest(), parsePlans(vectorOnly).decode);
  ASSERT_FALSE(error.ok());
  EXPECT_EQ(error.message(),
            "decode step 1 (kernel decode_k1_rms_norm_matmul_matmul_swiglu): "
            "weight 'blk0.attn_norm' is not a 2-D matrix");
}

TEST(BenchCoreTest, KernelRowsSumTheStepsOfEachKernel) {
  Package package = writePackage(manifestJson());
  PackagePlans plans = parsePlans(package);
  std::vector<KernelRow> rows = kernelRows(
      plans.decode, {0.001, 0.002, 0.003, 0.004, 0.005}, {10, 20, 30, 40, 50});
  ASSERT_EQ(rows.size(), 4u);
  EXPECT_EQ(rows[1].kernel, "decode_k1_matmul");
  EXPECT_EQ(rows[1].calls, 2u);
  EXPECT_DOUBLE_EQ(rows[1].msPerStep, 0.006);
  EXPECT_EQ(rows[1].bytesPerStep, 60u);
  // 60 bytes in 6 us: 0.01 GB/s.
  EXPECT_NEAR(rows[1].gbPerSecond(), 0.01, 1e-12);
  EXPECT_EQ(rows[3].kernel, "decode_k4_logits");
}

TEST(BenchCoreTest, MarkdownTableAlignsNumbersRight) {
  std::string table =
      markdownTable({"name", "t/s (mean ± sd)"},
                    {{"pp16", "1.00 ± 0.10"}, {"tg8", "x"}}, {false, true});
  EXPECT_EQ(table, "| name | t/s (mean ± sd) |\n"
                   "| ---- | --------------: |\n"
                   "| pp16 |     1.00 ± 0.10 |\n"
                   "| tg8  |               x |\n");
}

//===----------------------------------------------------------------------===//
// pp and tg
//===----------------------------------------------------------------------===//

/// Records what the runners do; every prefill token and decode step takes
/// 10 ms of fake time.
struct FakeModel : BenchModel {
  double now = 0;
  std::vector<std::string> calls;
  int64_t pos = 0;
  float logits[8] = {};
  Expected<const float *> prefill(const std::vector<int32_t> &t) override {
    calls.push_back("prefill " + std::to_string(t.size()));
    for (int32_t id : t)
      EXPECT_TRUE(id >= 0 && id < 8) << id;
    now += 0.01 * double(t.size());
    pos += int64_t(t.size());
    return static_cast<const float *>(logits);
  }
  Expected<const float *> decode(int32_t) override {
    calls.push_back("decode");
    now += 0.01;
    ++pos;
    if (pos > contextLength())
      return Status::failure("context overflow");
    return static_cast<const float *>(logits);
  }
  void reset() override {
    calls.push_back("reset");
    pos = 0;
  }
  int64_t position() const override { return pos; }
  int64_t contextLength() const override { return 16; }
  int64_t vocabSize() const override { return 8; }
};

TEST(BenchRunTest, PromptTestWarmsUpThenTimesEachPrefill) {
  FakeModel model;
  auto pp = runPromptTest(model, 4, 3, [&] { return model.now; });
  ASSERT_TRUE(pp.ok()) << pp.message();
  EXPECT_EQ(pp->name, "pp4");
  EXPECT_EQ(model.calls.size(), 8u) << "a warm-up and 3 runs";
  EXPECT_EQ(model.calls[0], "reset");
  EXPECT_EQ(model.calls[1], "prefill 4");
  ASSERT_EQ(pp->rates.size(), 3u);
  for (double rate : pp->rates)
    EXPECT_NEAR(rate, 100.0, 1e-9);
  EXPECT_NEAR(pp->rate.mean, 100.0, 1e-9);
  EXPECT_NEAR(pp->rate.sd, 0.0, 1e-9);
}

TEST(BenchRunTest, GenerateTestTimesOnlyTheDecodeSteps) {
  FakeModel model;
  auto tg = runGenerateTest(model, 15, 2, [&] { return model.now; });
  ASSERT_TRUE(tg.ok()) << tg.message();
  EXPECT_EQ(tg->name, "tg15");
  // reset, a one-token prompt, 15 steps; three times.
  EXPECT_EQ(model.calls.size(), 3u * 17);
  EXPECT_EQ(model.calls[1], "prefill 1");
  EXPECT_NEAR(tg->seconds[0], 0.15, 1e-9) << "the prompt is not timed";
  EXPECT_NEAR(tg->rate.mean, 100.0, 1e-9);
  // One more step than the context holds fails, naming the test.
  auto over = runGenerateTest(model, 16, 1, [&] { return model.now; });
  ASSERT_FALSE(over.ok());
  EXPECT_EQ(over.message(), "tg16: context overflow");
}

TEST(BenchRunTest, TestsAreClampedToTheContextWithANote) {
  TestSizes fits = clampTests(512, 128, 4096);
  EXPECT_EQ(fits.prompt, 512);
  EXPECT_EQ(fits.generate, 128);
  EXPECT_TRUE(fits.notes.empty());
  TestSizes small = clampTests(512, 512, 256);
  EXPECT_EQ(small.prompt, 256);
  EXPECT_EQ(small.generate, 255);
  ASSERT_EQ(small.notes.size(), 2u);
  EXPECT_EQ(small.notes[0], "pp512 is clamped to pp256: the context holds "
                            "256 tokens (compile with a larger --max-seq-len)");
  EXPECT_EQ(small.notes[1], "tg512 is clamped to tg255: the context holds "
                            "256 tokens, one of them the prompt");
  EXPECT_EQ(benchTokens(5, 8, 1), benchTokens(5, 8, 1));
  EXPECT_NE(benchTokens(5, 1000, 1), benchTokens(5, 1000, 2));
}

//===----------------------------------------------------------------------===//
// The cuBLAS comparison and the reports
//===----------------------------------------------------------------------===//

TEST(CUDAMeasureTest, GemmRowsAndTheFp16Estimate) {
  Package package = writePackage(manifestJson());
  PackagePlans plans = parsePlans(package);
  auto decode = matmulSteps(package.manifest(), plans.decode);
  ASSERT_TRUE(decode.ok());
  std::vector<double> ms = {1, 2, 3, 4, 6};
  std::vector<GemmRow> rows = gemmRows("decode", *decode, ms, 1);
  // up_proj and the tied logits are both 8 x 4.
  ASSERT_EQ(rows.size(), 2u);
  EXPECT_EQ(rows[0].n, 4);
  EXPECT_EQ(rows[0].calls, 1u);
  EXPECT_DOUBLE_EQ(rows[0].oursMs, 2.0);
  EXPECT_EQ(rows[1].n, 8);
  EXPECT_EQ(rows[1].calls, 2u);
  EXPECT_DOUBLE_EQ(rows[1].oursMs, 5.0) << "the mean of 4 and 6";
  rows[0].cublasMs = 0.5;
  rows[1].cublasMs = 1.5;
  PlanEstimate tg = estimatePlan("tg", 1, *decode, ms, rows);
  EXPECT_DOUBLE_EQ(tg.oursMs, 16.0);
  EXPECT_DOUBLE_EQ(tg.fp16Ms, 1 + 0.5 + 3 + 1.5 + 1.5);

  // Prefill: the logits are the last token's whatever S is.
  std::vector<GemmRow> pre = gemmRows("prefill", *decode, ms, 64);
  ASSERT_EQ(pre.size(), 3u);
  EXPECT_EQ(pre[0].m, 64);
  EXPECT_EQ(pre[1].m, 64);
  EXPECT_EQ(pre[2].m, 1);
  EXPECT_EQ(profilePosition(128, 5, 4096), 64);
  EXPECT_EQ(profilePosition(128, 5, 32), 27) << "room for 5 runs";
  EXPECT_EQ(profilePosition(1, 5, 4096), 1);
}

BenchReport sampleReport() {
  BenchReport r;
  r.package = "m.mixq";
  r.summary.model = "llama2-7b";
  r.summary.scheme = "mixed";
  r.summary.bitsPerWeight = 2.9;
  r.summary.weightBytes = uint64_t(2) << 30;
  r.device = "cuda";
  r.dummyWeights = true;
  r.repetitions = 5;
  TestResult pp;
  pp.name = "pp512";
  pp.tokens = 512;
  pp.rates = {4000, 4010};
  pp.seconds = {0.128, 0.1277};
  pp.rate = meanSd(pp.rates);
  r.tests = {pp};
  r.notes = {"a note"};
  CUDAReport c;
  c.deviceName = "NVIDIA H200";
  c.chip = "sm_90";
  c.deviceBytes = uint64_t(3) << 30;
  c.copyBytes = 256 << 20;
  c.copyGBs = {4000, 10};
  c.profilePosition = 64;
  c.profileRuns = 5;
  c.decodeKernels = {{"decode_k14_matmul", 128, 4.0, uint64_t(12800) << 20}};
  c.readCeilings = {{uint64_t(100) << 20, 0.025, 0.020, 8}};
  c.gemms = {{"decode", 1, 4096, 4096, 128, 0.010, 0.020}};
  c.estimates = {{"tg", 1, 5.0, 12.5}};
  r.cuda = c;
  return r;
}

TEST(BenchReportTest, TextHasTheResultsAndTheCUDATables) {
  std::string text = renderText(sampleReport());
  EXPECT_CONTAINS(text, "| model     | scheme bits/w |     size | device |  "
                        "test | t/s (mean ± sd) |\n");
  EXPECT_CONTAINS(text, "| llama2-7b | mixed 2.90    | 2.00 GiB | cuda   | "
                        "pp512 |  4005.00 ± 7.07 |\n");
  EXPECT_CONTAINS(text, "device: NVIDIA H200 (sm_90 PTX), 3.00 GiB of device "
                        "memory\ncopy bandwidth: 4000.00 ± 10.00 GB/s");
  EXPECT_CONTAINS(text, "positions 64..68, mean of 5");
  // 12.5 GiB in 4 ms: 3355.4 GB/s, 83.9% of the copy; the 100 MiB read
  // takes 25 us alone, so 31.25 us per call is 80% of the ceiling.
  EXPECT_CONTAINS(text, "| decode_k14_matmul |   128 |  4000.0 |   31.25 | "
                        "100.00 MiB |  12.50 GiB | 3355.4 |      83.9 | "
                        "     25.00 |            20.00 |         80.0 |\n");
  EXPECT_CONTAINS(text, "| total             |   128 |  4000.0 |         | "
                        "           |  12.50 GiB | 3355.4 |      83.9 | "
                        "           |                  |              |\n");
  // 128 calls at the 20 us graph ceiling.
  EXPECT_CONTAINS(text, "decode step read ceiling (every call at its graph "
                        "ceiling): 2.560 ms, 390.6 tok/s\n");
  EXPECT_CONTAINS(text, "| decode | 4096 x 4096 |   1 |   128 |    10.0 |   "
                        "   20.0 |        0.50 |\n");
  EXPECT_CONTAINS(text, "| tg   |   5.000 |  12.500 |   200.00 |    80.00 | "
                        "  2.50x |\n");
  BenchReport programmatic = sampleReport();
  programmatic.cuda->programmaticLaunch = true;
  EXPECT_CONTAINS(renderText(programmatic),
                  "device: NVIDIA H200 (sm_90 PTX, programmatic launch), 3.00 "
                  "GiB of device memory\n");
  BenchReport skipped = sampleReport();
  skipped.cuda->cublasSkipped = "cuBLAS not found (x): the baseline is skipped";
  EXPECT_CONTAINS(renderText(skipped),
                  "cuBLAS fp16 baseline: cuBLAS not found (x): the baseline "
                  "is skipped\n");
}

TEST(BenchReportTest, JsonHasTheSameNumbers) {
  json j = renderJson(sampleReport());
  EXPECT_EQ(j["model"], "llama2-7b");
  EXPECT_EQ(j["device"], "cuda");
  EXPECT_EQ(j["dummy_weights"], true);
  EXPECT_EQ(j["tests"][0]["test"], "pp512");
  EXPECT_DOUBLE_EQ(j["tests"][0]["t_per_s"]["mean"].get<double>(), 4005.0);
  EXPECT_EQ(j["notes"], json::array({"a note"}));
  const json &c = j["cuda"];
  EXPECT_EQ(c["chip"], "sm_90");
  EXPECT_EQ(c["programmatic_launch"], false);
  EXPECT_DOUBLE_EQ(c["copy_gb_per_s"]["mean"].get<double>(), 4000.0);
  EXPECT_EQ(c["decode_kernels"][0]["calls"], 128);
  EXPECT_NEAR(c["decode_kernels"][0]["percent_of_copy"].get<double>(), 83.886,
              1e-3);
  EXPECT_DOUBLE_EQ(c["decode_kernels"][0]["percent_of_ceiling"].get<double>(),
                   80.0);
  EXPECT_EQ(c["read_ceilings"][0]["bytes"], uint64_t(100) << 20);
  EXPECT_EQ(c["read_ceilings"][0]["graph_launches"], 8);
  EXPECT_DOUBLE_EQ(c["decode_step_ceiling_ms"].get<double>(), 2.56);
  EXPECT_EQ(c["cublas"]["gemms"][0]["n"], 4096);
  EXPECT_DOUBLE_EQ(c["cublas"]["estimates"][0]["fp16_ms"].get<double>(), 12.5);
  BenchReport skipped = sampleReport();
  skipped.cuda->cublasSkipped = "why";
  json s = renderJson(skipped);
  EXPECT_EQ(s["cuda"]["cublas_skipped"], "why");
  EXPECT_FALSE(s["cuda"].contains("cublas"));
}

} // namespace
