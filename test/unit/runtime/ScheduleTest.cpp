//===- ScheduleTest.cpp - decode-width schedules and policies -------------===//
#include "runtime/Schedule.h"

#include <gtest/gtest.h>

#include <cmath>
#include <cstdio>
#include <fstream>
#include <unistd.h>

using namespace mixq;
using namespace mixq::runtime;

namespace {

std::vector<DecodeWidthInfo> widths(std::vector<int> list) {
  std::vector<DecodeWidthInfo> out;
  for (int w : list)
    out.push_back({w, double(w) + 0.125, int64_t(w) * 1000});
  return out;
}

ScheduleSpec parse(const std::string &text) {
  auto spec = parseSchedule(text);
  EXPECT_TRUE(spec.ok()) << spec.message();
  return spec.ok() ? spec.take() : ScheduleSpec{};
}

std::string parseError(const std::string &text) {
  auto spec = parseSchedule(text);
  EXPECT_FALSE(spec.ok()) << text << " parsed";
  return spec.ok() ? std::string() : spec.message();
}

/// The widths a policy gives steps 0 .. n-1, with no logits observed.
std::vector<int> stepWidths(WidthPolicy &policy, int n) {
  std::vector<int> out;
  for (int i = 0; i < n; ++i)
    out.push_back(policy.widthFor(i));
  return out;
}

/// Logits whose softmax has top-1 probability margin about `margin`, over a
/// vocabulary of 4: p = (a, b, b, b) with a - b = margin.
std::vector<float> logitsWithMargin(double margin) {
  double b = (1.0 - margin) / 4.0, a = b + margin;
  return {float(std::log(a)), float(std::log(b)), float(std::log(b)),
          float(std::log(b))};
}

TEST(ScheduleTest, ParsesUniformStepsAndAdaptive) {
  ScheduleSpec uniform = parse("3");
  EXPECT_EQ(uniform.kind, ScheduleSpec::Uniform);
  ASSERT_EQ(uniform.segments.size(), 1u);
  EXPECT_EQ(uniform.segments[0].width, 3);
  EXPECT_EQ(uniform.segments[0].steps, -1);

  ScheduleSpec steps = parse("4:64,3:192,2");
  EXPECT_EQ(steps.kind, ScheduleSpec::Steps);
  ASSERT_EQ(steps.segments.size(), 3u);
  EXPECT_EQ(steps.segments[0].width, 4);
  EXPECT_EQ(steps.segments[0].steps, 64);
  EXPECT_EQ(steps.segments[1].width, 3);
  EXPECT_EQ(steps.segments[1].steps, 192);
  EXPECT_EQ(steps.segments[2].width, 2);
  EXPECT_EQ(steps.segments[2].steps, -1);
  EXPECT_EQ(steps.str(), "4:64,3:192,2");
  EXPECT_EQ(steps.namedWidths(), (std::vector<int>{4, 3, 2}));

  ScheduleSpec adaptive = parse("adaptive");
  EXPECT_EQ(adaptive.kind, ScheduleSpec::Adaptive);
  EXPECT_EQ(adaptive.margin.downMargin, 0.5);
  EXPECT_EQ(adaptive.margin.upMargin, 0.2);
  EXPECT_EQ(adaptive.margin.window, 8);
  ScheduleSpec tuned = parse("adaptive:down=0.75,up=0.125,window=3");
  EXPECT_EQ(tuned.margin.downMargin, 0.75);
  EXPECT_EQ(tuned.margin.upMargin, 0.125);
  EXPECT_EQ(tuned.margin.window, 3);
  EXPECT_EQ(tuned.str(), "adaptive:down=0.75,up=0.125,window=3");
  EXPECT_TRUE(tuned.namedWidths().empty());
}

TEST(ScheduleTest, MalformedSchedulesPointAtTheFault) {
  EXPECT_NE(parseError("").find("schedule is empty"), std::string::npos);
  std::string message = parseError("4:64,x,2");
  EXPECT_NE(message.find("expected a width"), std::string::npos) << message;
  // The caret sits under the 'x' (column 5 of the quoted text).
  EXPECT_NE(message.find("\n  4:64,x,2\n       ^"), std::string::npos)
      << message;
  EXPECT_NE(parseError("4:0,2").find("step count of at least 1"),
            std::string::npos);
  EXPECT_NE(parseError("4,3:10,2").find("only the last width may run"),
            std::string::npos);
  EXPECT_NE(parseError("4:64,2:10").find("the last width needs no step count"),
            std::string::npos);
  EXPECT_NE(parseError("4;2").find("expected ',' or ':'"), std::string::npos);
  EXPECT_NE(parseError("0").find("width 0 is not in 1..32"), std::string::npos);
  EXPECT_NE(parseError("4:64,3:").find("step count"), std::string::npos);
  EXPECT_NE(parseError("adaptive:speed=2").find("unknown key 'speed'"),
            std::string::npos);
  EXPECT_NE(parseError("adaptive:down=2").find("probability margin"),
            std::string::npos);
  EXPECT_NE(parseError("adaptive:window=0").find("window is a step count"),
            std::string::npos);
  EXPECT_NE(parseError("adaptive:down=x").find("expected a number"),
            std::string::npos);
  EXPECT_NE(parseError("adaptive:down=0.1,up=0.3").find("up must not exceed"),
            std::string::npos);
  EXPECT_NE(parseError("adaptivex").find("expected ':'"), std::string::npos);
}

TEST(ScheduleTest, WidthsTheScheduleNamesMustBeThePackages) {
  ScheduleSpec spec = parse("4:8,5");
  Status missing = checkScheduleWidths(spec, widths({4, 3, 2}));
  ASSERT_FALSE(missing);
  EXPECT_NE(missing.message().find("names width 5, which the package lacks; "
                                   "its widths are 4, 3 and 2"),
            std::string::npos)
      << missing.message();
  Status single = checkScheduleWidths(spec, {});
  ASSERT_FALSE(single);
  EXPECT_NE(single.message().find("needs a multi-width package"),
            std::string::npos);
  EXPECT_FALSE(makeWidthPolicy(parse("adaptive"), {}).ok());
  EXPECT_TRUE(checkScheduleWidths(parse("4:8,3:8,2"), widths({4, 3, 2})));
}

TEST(ScheduleTest, TaskAdaptivePolicyFollowsTheStepCounts) {
  auto policy = makeWidthPolicy(parse("4:2,3:3,2"), widths({4, 3, 2}));
  ASSERT_TRUE(policy.ok()) << policy.message();
  EXPECT_EQ(stepWidths(**policy, 8),
            (std::vector<int>{4, 4, 3, 3, 3, 2, 2, 2}));
  auto uniform = makeWidthPolicy(parse("3"), widths({4, 3, 2}));
  ASSERT_TRUE(uniform.ok());
  EXPECT_EQ(stepWidths(**uniform, 3), (std::vector<int>{3, 3, 3}));
}

TEST(ScheduleTest, MarginOfHandComputedDistributions) {
  // p = (0.7, 0.1, 0.1, 0.1): margin 0.6.
  std::vector<float> logits = {std::log(0.7f), std::log(0.1f), std::log(0.1f),
                               std::log(0.1f)};
  EXPECT_NEAR(topProbabilityMargin(logits.data(), 4), 0.6, 1e-6);
  // Shifting every logit changes nothing.
  for (float &l : logits)
    l += 100.0f;
  EXPECT_NEAR(topProbabilityMargin(logits.data(), 4), 0.6, 1e-6);
  std::vector<float> tie = {1.0f, 1.0f, 0.0f};
  EXPECT_NEAR(topProbabilityMargin(tie.data(), 3), 0.0, 1e-12);
  float one = 3.0f;
  EXPECT_EQ(topProbabilityMargin(&one, 1), 1.0);
}

TEST(ScheduleTest, KLOfHandComputedDistributions) {
  // KL((0.5, 0.5) || (0.25, 0.75)) = 0.5 ln 2 + 0.5 ln(2/3).
  std::vector<float> p = {0.0f, 0.0f};
  std::vector<float> q = {std::log(0.25f), std::log(0.75f)};
  EXPECT_NEAR(klDivergence(p.data(), q.data(), 2),
              0.5 * std::log(2.0) + 0.5 * std::log(2.0 / 3.0), 1e-6);
  EXPECT_EQ(klDivergence(p.data(), p.data(), 2), 0.0);
}

// The prompt-adaptive policy on a recorded run of margins: it steps down
// after `window` confident steps in a row, and up on one unsure step.
TEST(ScheduleTest, AdaptivePolicyOnRecordedLogits) {
  auto policy = makeWidthPolicy(parse("adaptive:down=0.5,up=0.2,window=2"),
                                widths({2, 4, 3})); // any order
  ASSERT_TRUE(policy.ok()) << policy.message();
  WidthPolicy &p = **policy;
  const double margins[] = {0.9, 0.9, 0.9, 0.3, 0.9, 0.9, 0.1, 0.6, 0.6};
  // Width before each observation: starts widest; 0.3 is neither confident
  // nor unsure (resets the streak); 0.1 steps up at once.
  const int expected[] = {4, 4, 3, 3, 3, 3, 2, 3, 3, 2};
  int step = 0;
  EXPECT_EQ(p.widthFor(step), expected[0]);
  for (double margin : margins) {
    std::vector<float> logits = logitsWithMargin(margin);
    ASSERT_NEAR(topProbabilityMargin(logits.data(), 4), margin, 1e-6);
    p.observe(logits.data(), 4);
    ++step;
    EXPECT_EQ(p.widthFor(step), expected[step]) << "after margin " << margin;
  }
  // At the narrowest width, more confident steps keep it there.
  for (int i = 0; i < 4; ++i) {
    std::vector<float> logits = logitsWithMargin(0.9);
    p.observe(logits.data(), 4);
    EXPECT_EQ(p.widthFor(++step), 2);
  }
}

TEST(ScheduleTest, ReadsMixqScheduleFiles) {
  std::string path = ::testing::TempDir() + "/schedule-" +
                     std::to_string(::getpid()) + ".json";
  {
    std::ofstream out(path);
    out << R"({"schedule": "4:16,2", "mean_kl": 0.01})";
  }
  auto spec = readScheduleFile(path);
  ASSERT_TRUE(spec.ok()) << spec.message();
  EXPECT_EQ(spec->str(), "4:16,2");
  {
    std::ofstream out(path);
    out << R"({"schedule": "4:16,"})";
  }
  auto bad = readScheduleFile(path);
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.message().find(path + ": schedule '4:16,'"), std::string::npos)
      << bad.message();
  {
    std::ofstream out(path);
    out << "[1, 2";
  }
  auto notJson = readScheduleFile(path);
  ASSERT_FALSE(notJson.ok());
  EXPECT_NE(notJson.message().find("not a schedule file"), std::string::npos);
  ::unlink(path.c_str());
  auto missing = readScheduleFile(path);
  ASSERT_FALSE(missing.ok());
  EXPECT_NE(missing.message().find("cannot open the schedule file"),
            std::string::npos);
}

} // namespace
