//===- BenchRun.h - mixq-bench's pp and tg tests ----------------*- C++ -*-===//
//
// llama-bench's two tests on any executor: ppN, the prefill of N tokens
// from an empty context, and tgN, N decode steps after a one-token prompt
// (the prompt is not timed). Both feed fixed pseudo-random token ids (no
// sampling: its cost is not the model's), run once untimed to warm up,
// then `repetitions` times, and report tokens per second per run.
//===----------------------------------------------------------------------===//
#ifndef MIXQ_TOOLS_MIXQ_BENCH_BENCHRUN_H
#define MIXQ_TOOLS_MIXQ_BENCH_BENCHRUN_H

#include "runtime/Executor.h"
#include "support/Expected.h"
#include "tools/mixq-bench/BenchCore.h"

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

namespace mixq::bench {

/// The executor a test drives (runtime/Executor.h: the CPU or the CUDA one).
using BenchModel = runtime::Executor;
template <typename Impl> using ExecutorModel = runtime::ExecutorAdapter<Impl>;

/// The test sizes that fit the context, with a note for each clamp.
struct TestSizes {
  int64_t prompt = 0;   ///< ppN; 0: not run
  int64_t generate = 0; ///< tgN; 0: not run
  std::vector<std::string> notes;
};
TestSizes clampTests(int64_t prompt, int64_t generate, int64_t contextLength);

/// `count` ids in [0, vocabSize), the same for the same seed.
std::vector<int32_t> benchTokens(size_t count, int64_t vocabSize,
                                 uint64_t seed);

struct TestResult {
  std::string name; ///< "pp512", "tg128"
  int64_t tokens = 0;
  std::vector<double> seconds; ///< per repetition
  std::vector<double> rates;   ///< tokens per second, per repetition
  MeanSd rate;
};

/// Seconds on a monotonic clock (a parameter so that tests control time).
using Clock = std::function<double()>;
Clock steadyClock();

Expected<TestResult> runPromptTest(BenchModel &model, int64_t tokens,
                                   int repetitions, const Clock &clock);
Expected<TestResult> runGenerateTest(BenchModel &model, int64_t steps,
                                     int repetitions, const Clock &clock);

} // namespace mixq::bench

#endif // MIXQ_TOOLS_MIXQ_BENCH_BENCHRUN_H
