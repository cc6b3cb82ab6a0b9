//===- BenchRun.cpp - mixq-bench's pp and tg tests ------------------------===//
#include "tools/mixq-bench/BenchRun.h"

#include <algorithm>
#include <chrono>

namespace mixq::bench {

TestSizes clampTests(int64_t prompt, int64_t generate, int64_t contextLength) {
  TestSizes out{prompt, generate, {}};
  std::string context = std::to_string(contextLength);
  if (out.prompt > contextLength) {
    out.prompt = contextLength;
    out.notes.push_back("pp" + std::to_string(prompt) + " is clamped to pp" +
                        context + ": the context holds " + context +
                        " tokens (compile with a larger --max-seq-len)");
  }
  // tg needs its one-token prompt in the context too.
  int64_t room = std::max<int64_t>(contextLength - 1, 0);
  if (out.generate > room) {
    out.generate = room;
    out.notes.push_back("tg" + std::to_string(generate) + " is clamped to tg" +
                        std::to_string(room) + ": the context holds " +
                        context + " tokens, one of them the prompt");
  }
  return out;
}

std::vector<int32_t> benchTokens(size_t count, int64_t vocabSize,
                                 uint64_t seed) {
  std::vector<int32_t> ids;
  uint64_t state = seed * 0x9E3779B97F4A7C15ull + 1;
  for (size_t i = 0; i < count; ++i) {
    state = state * 6364136223846793005ull + 1442695040888963407ull;
    ids.push_back(
        int32_t((state >> 33) % uint64_t(std::max<int64_t>(vocabSize, 1))));
  }
  return ids;
}

Clock steadyClock() {
  return [] {
    return std::chrono::duration<double>(
               std::chrono::steady_clock::now().time_since_epoch())
        .count();
  };
}

namespace {

/// Runs `once` 1 + repetitions times (the first untimed) and collects the
/// rates of `tokens` per second.
Expected<TestResult> repeat(const std::string &name, int64_t tokens,
                            int repetitions,
                            const std::function<Expected<double>()> &once) {
  TestResult result;
  result.name = name;
  result.tokens = tokens;
  for (int i = -1; i < repetitions; ++i) {
    auto seconds = once();
    if (!seconds)
      return makeError(name, ": ", seconds.message());
    if (i < 0)
      continue;
    result.seconds.push_back(*seconds);
    result.rates.push_back(double(tokens) / std::max(*seconds, 1e-12));
  }
  result.rate = meanSd(result.rates);
  return result;
}

} // namespace

Expected<TestResult> runPromptTest(BenchModel &model, int64_t tokens,
                                   int repetitions, const Clock &clock) {
  std::vector<int32_t> ids = benchTokens(size_t(tokens), model.vocabSize(), 1);
  return repeat("pp" + std::to_string(tokens), tokens, repetitions,
                [&]() -> Expected<double> {
                  model.reset();
                  double start = clock();
                  if (auto logits = model.prefill(ids); !logits)
                    return logits.status();
                  return clock() - start;
                });
}

Expected<TestResult> runGenerateTest(BenchModel &model, int64_t steps,
                                     int repetitions, const Clock &clock) {
  std::vector<int32_t> ids =
      benchTokens(size_t(steps) + 1, model.vocabSize(), 2);
  return repeat("tg" + std::to_string(steps), steps, repetitions,
                [&]() -> Expected<double> {
                  model.reset();
                  if (auto logits = model.prefill({ids[0]}); !logits)
                    return logits.status();
                  double start = clock();
                  for (int64_t i = 1; i <= steps; ++i)
                    if (auto logits = model.decode(ids[size_t(i)]); !logits)
                      return logits.status();
                  return clock() - start;
                });
}

} // namespace mixq::bench
