//===- ProgressiveDecodeTest.cpp - multi-width packages on the CPU --------===//
//
// End to end on stories260K: a package compiled with --widths runs each
// width's decode plan over one KV cache, a schedule is exactly the widths
// switched by hand, and the default width equals a single-width package.
//===----------------------------------------------------------------------===//
#include "runtime/CPUExecutor.h"
#include "runtime/Executor.h"
#include "runtime/Schedule.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <sys/stat.h>
#include <unistd.h>

using namespace mixq;
using namespace mixq::runtime;

namespace {

constexpr const char *kScheme = "--scheme=bitplane:seed=2,parent=4";

/// Compiles stories260K for the CPU with `flags`. Empty when this build has
/// no compiler or the model is missing; a failed compile fails the test.
std::unique_ptr<Package> compileStories(const std::string &flags) {
#ifndef MIXQ_COMPILE_PATH
  (void)flags;
  return nullptr;
#else
  std::string model = std::string(MIXQ_SHARED_MODELS_DIR) + "/stories260K.bin";
  struct stat st;
  if (::stat(MIXQ_COMPILE_PATH, &st) != 0 || ::stat(model.c_str(), &st) != 0)
    return nullptr;
  static int serial = 0;
  std::string out = ::testing::TempDir() + "/mixq-widths-" +
                    std::to_string(::getpid()) + "-" +
                    std::to_string(serial++) + ".mixq";
  std::string command = std::string(MIXQ_COMPILE_PATH) + " " + model + " " +
                        flags + " --target=cpu -o " + out + " 2>&1";
  EXPECT_EQ(std::system(command.c_str()), 0) << command;
  auto package = Package::open(out);
  ::unlink(out.c_str());
  EXPECT_TRUE(package.ok()) << package.message();
  if (!package)
    return nullptr;
  return std::make_unique<Package>(package.take());
#endif
}

std::unique_ptr<Executor> open(const Package &package) {
  auto executor = CPUExecutor::create(package);
  EXPECT_TRUE(executor.ok()) << executor.message();
  if (!executor)
    return nullptr;
  return std::make_unique<ExecutorAdapter<CPUExecutor>>(executor.take());
}

int32_t argmax(const float *logits, int64_t vocab) {
  return int32_t(std::max_element(logits, logits + vocab) - logits);
}

const std::vector<int32_t> kPrompt = {1, 403, 407, 261, 378};

/// Greedy generation; every logit row, flattened.
struct Generation {
  std::vector<int32_t> tokens;
  std::vector<float> logits;
};

/// Runs `steps` greedy decode steps; `before(step)` runs before each.
template <typename Step>
Generation generate(Executor &e, int steps, Step before) {
  Generation run;
  e.reset();
  auto logits = e.prefill(kPrompt);
  for (int i = 0;; ++i) {
    EXPECT_TRUE(logits.ok()) << logits.message();
    if (!logits)
      return run;
    run.logits.insert(run.logits.end(), *logits, *logits + e.vocabSize());
    run.tokens.push_back(argmax(*logits, e.vocabSize()));
    if (i == steps)
      return run;
    before(i);
    logits = e.decode(run.tokens.back());
  }
}

class ProgressiveDecodeTest : public ::testing::Test {
protected:
  static void SetUpTestSuite() {
    multi = compileStories(std::string(kScheme) + " --widths=4,3,2").release();
  }
  static void TearDownTestSuite() {
    delete multi;
    multi = nullptr;
  }
  void SetUp() override {
    if (!multi)
      GTEST_SKIP() << "no compiler in this build, or stories260K.bin missing";
  }
  static Package *multi;
};
Package *ProgressiveDecodeTest::multi = nullptr;

TEST_F(ProgressiveDecodeTest, ManifestListsEveryWidthWithItsCost) {
  std::unique_ptr<Executor> e = open(*multi);
  ASSERT_TRUE(e);
  const std::vector<DecodeWidthInfo> &widths = e->decodeWidths();
  ASSERT_EQ(widths.size(), 3u);
  EXPECT_EQ(widths[0].width, 4);
  EXPECT_EQ(widths[1].width, 3);
  EXPECT_EQ(widths[2].width, 2);
  EXPECT_EQ(e->decodeWidth(), 4);
  // Fewer planes read at each step down: both costs strictly fall.
  for (size_t i = 1; i < widths.size(); ++i) {
    EXPECT_LT(widths[i].bitsPerWeight, widths[i - 1].bitsPerWeight);
    EXPECT_LT(widths[i].bytesPerStep, widths[i - 1].bytesPerStep);
  }
  Status missing = e->setDecodeWidth(5);
  ASSERT_FALSE(missing);
  EXPECT_NE(missing.message().find("no decode width 5; its widths are 4, 3 "
                                   "and 2"),
            std::string::npos)
      << missing.message();
}

// The default (first) width's plan is the single-width package's, exactly.
TEST_F(ProgressiveDecodeTest, WidestPlanEqualsSingleWidthPackage) {
  std::unique_ptr<Package> single = compileStories(kScheme);
  ASSERT_TRUE(single);
  std::unique_ptr<Executor> a = open(*multi), b = open(*single);
  ASSERT_TRUE(a && b);
  EXPECT_TRUE(b->decodeWidths().empty());
  EXPECT_EQ(b->decodeWidth(), 0);
  auto none = [](int) {};
  Generation ra = generate(*a, 24, none), rb = generate(*b, 24, none);
  EXPECT_EQ(ra.tokens, rb.tokens);
  ASSERT_EQ(ra.logits.size(), rb.logits.size());
  EXPECT_EQ(0, std::memcmp(ra.logits.data(), rb.logits.data(),
                           ra.logits.size() * sizeof(float)));
}

// A lower width's plan equals a package compiled with that decode width
// alone (and the same prefill width, so that both caches start equal).
TEST_F(ProgressiveDecodeTest, NarrowPlanEqualsSingleWidthPackage) {
  std::unique_ptr<Package> single =
      compileStories(std::string(kScheme) + " --widths=2 --prefill-width=4");
  ASSERT_TRUE(single);
  std::unique_ptr<Executor> a = open(*multi), b = open(*single);
  ASSERT_TRUE(a && b);
  ASSERT_TRUE(a->setDecodeWidth(2));
  ASSERT_EQ(b->decodeWidths().size(), 1u);
  EXPECT_EQ(b->decodeWidth(), 2);
  auto none = [](int) {};
  Generation ra = generate(*a, 16, none), rb = generate(*b, 16, none);
  EXPECT_EQ(ra.tokens, rb.tokens);
  ASSERT_EQ(ra.logits.size(), rb.logits.size());
  EXPECT_EQ(0, std::memcmp(ra.logits.data(), rb.logits.data(),
                           ra.logits.size() * sizeof(float)));
}

// The schedule's steps are exactly the widths switched by hand over the
// same KV cache: each piece is the uniform-width run of its steps.
TEST_F(ProgressiveDecodeTest, ScheduleEqualsWidthsSwitchedByHand) {
  std::unique_ptr<Executor> scheduled = open(*multi), byHand = open(*multi);
  ASSERT_TRUE(scheduled && byHand);
  auto spec = parseSchedule("4:6,3:5,2");
  ASSERT_TRUE(spec.ok());
  auto policy = makeWidthPolicy(*spec, scheduled->decodeWidths());
  ASSERT_TRUE(policy.ok()) << policy.message();
  ScheduledDecoder decoder(*scheduled, policy.take());

  const int steps = 20;
  Generation viaSchedule;
  auto logits = decoder.prefill(kPrompt);
  for (int i = 0;; ++i) {
    ASSERT_TRUE(logits.ok()) << logits.message();
    viaSchedule.logits.insert(viaSchedule.logits.end(), *logits,
                              *logits + scheduled->vocabSize());
    viaSchedule.tokens.push_back(argmax(*logits, scheduled->vocabSize()));
    if (i == steps)
      break;
    logits = decoder.decode(viaSchedule.tokens.back());
  }
  std::vector<int> expectedWidths;
  for (int i = 0; i < steps; ++i)
    expectedWidths.push_back(i < 6 ? 4 : i < 11 ? 3 : 2);
  EXPECT_EQ(decoder.stepWidths(), expectedWidths);

  Generation manual = generate(*byHand, steps, [&](int step) {
    ASSERT_TRUE(byHand->setDecodeWidth(expectedWidths[size_t(step)]));
  });
  EXPECT_EQ(viaSchedule.tokens, manual.tokens);
  EXPECT_EQ(0, std::memcmp(viaSchedule.logits.data(), manual.logits.data(),
                           manual.logits.size() * sizeof(float)));

  // The first piece is the uniform width-4 run, token for token.
  Generation uniform4 = generate(
      *byHand, 6, [&](int) { ASSERT_TRUE(byHand->setDecodeWidth(4)); });
  EXPECT_EQ(std::vector<int32_t>(viaSchedule.tokens.begin(),
                                 viaSchedule.tokens.begin() + 7),
            uniform4.tokens);

  // Average bits read: 6 steps at width 4, 5 at 3, 9 at 2.
  const std::vector<DecodeWidthInfo> &w = scheduled->decodeWidths();
  double expected = (6 * w[0].bitsPerWeight + 5 * w[1].bitsPerWeight +
                     9 * w[2].bitsPerWeight) /
                    20.0;
  EXPECT_NEAR(decoder.averageBitsPerWeight(), expected, 1e-12);

  // reset() starts the schedule over; the policy alone sets widths.
  decoder.reset();
  EXPECT_TRUE(decoder.stepWidths().empty());
  EXPECT_EQ(decoder.position(), 0);
  ASSERT_TRUE(decoder.prefill(kPrompt).ok());
  ASSERT_TRUE(decoder.decode(viaSchedule.tokens[0]).ok());
  EXPECT_EQ(decoder.stepWidths(), std::vector<int>{4});
  EXPECT_FALSE(decoder.setDecodeWidth(2));
  EXPECT_TRUE(decoder.setDecodeWidth(4));
}

} // namespace
