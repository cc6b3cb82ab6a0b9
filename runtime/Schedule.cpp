//===- Schedule.cpp - decode-width schedules (progressive decoding) -------===//
#include "runtime/Schedule.h"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <iterator>
#include <limits>

namespace mixq::runtime {
namespace {

/// "schedule '4:x': ..." with a caret under column `at` of `text`.
Status scheduleError(const std::string &text, size_t at,
                     const std::string &what) {
  return makeError("schedule '", text, "': ", what, "\n  ", text, "\n  ",
                   std::string(std::min(at, text.size()), ' '), "^");
}

/// Reads a decimal integer at `pos`; advances `pos` past it.
bool readInteger(const std::string &text, size_t &pos, int64_t &value) {
  size_t start = pos;
  while (pos < text.size() &&
         std::isdigit(static_cast<unsigned char>(text[pos])))
    ++pos;
  if (pos == start || pos - start > 12)
    return false;
  value = std::stoll(text.substr(start, pos - start));
  return true;
}

Expected<ScheduleSpec> parseStepSchedule(const std::string &text) {
  ScheduleSpec spec;
  size_t pos = 0;
  while (true) {
    size_t at = pos;
    int64_t width = 0;
    if (!readInteger(text, pos, width))
      return scheduleError(text, at, "expected a width");
    if (width < 1 || width > 32)
      return scheduleError(
          text, at, "width " + std::to_string(width) + " is not in 1..32");
    ScheduleSegment segment{int(width), -1};
    if (pos < text.size() && text[pos] == ':') {
      at = ++pos;
      int64_t steps = 0;
      if (!readInteger(text, pos, steps) || steps < 1)
        return scheduleError(text, at, "expected a step count of at least 1");
      segment.steps = steps;
    }
    spec.segments.push_back(segment);
    if (pos == text.size())
      break;
    if (text[pos] != ',')
      return scheduleError(text, pos, "expected ',' or ':'");
    if (segment.steps < 0)
      return scheduleError(text, pos,
                           "only the last width may run to the end: give "
                           "width " +
                               std::to_string(width) + " a step count");
    ++pos;
  }
  if (spec.segments.back().steps >= 0)
    return scheduleError(text, text.size(),
                         "the last width needs no step count: it runs to the "
                         "end of the generation");
  spec.kind =
      spec.segments.size() == 1 ? ScheduleSpec::Uniform : ScheduleSpec::Steps;
  return spec;
}

/// "adaptive" or "adaptive:key=value,...".
Expected<ScheduleSpec> parseAdaptiveSchedule(const std::string &text) {
  ScheduleSpec spec;
  spec.kind = ScheduleSpec::Adaptive;
  const std::string head = "adaptive";
  if (text.size() == head.size())
    return spec;
  if (text[head.size()] != ':')
    return scheduleError(text, head.size(), "expected ':' after 'adaptive'");
  size_t pos = head.size() + 1;
  while (pos <= text.size()) {
    size_t end = std::min(text.find(',', pos), text.size());
    std::string item = text.substr(pos, end - pos);
    size_t eq = item.find('=');
    if (eq == std::string::npos)
      return scheduleError(text, pos, "expected key=value");
    std::string key = item.substr(0, eq), value = item.substr(eq + 1);
    size_t valueAt = pos + eq + 1;
    char *stop = nullptr;
    errno = 0;
    double number = std::strtod(value.c_str(), &stop);
    if (value.empty() || *stop || errno || !std::isfinite(number))
      return scheduleError(text, valueAt, "expected a number");
    if (key == "down" || key == "up") {
      if (number < 0 || number > 1)
        return scheduleError(text, valueAt,
                             key + " is a probability margin in 0..1");
      (key == "down" ? spec.margin.downMargin : spec.margin.upMargin) = number;
    } else if (key == "window") {
      if (number < 1 || number != std::floor(number) || number > 1e9)
        return scheduleError(text, valueAt, "window is a step count >= 1");
      spec.margin.window = int64_t(number);
    } else {
      return scheduleError(text, pos,
                           "unknown key '" + key +
                               "' (adaptive takes down, up and window)");
    }
    pos = end + 1;
  }
  if (spec.margin.upMargin > spec.margin.downMargin)
    return scheduleError(text, head.size() + 1,
                         "up must not exceed down, or the policy would step "
                         "down and up on the same margin");
  return spec;
}

/// The shortest decimal that reads back as `value`, so that str() parses
/// back to the same schedule.
std::string formatNumber(double value) {
  char text[32];
  for (int digits = 6; digits <= 17; ++digits) {
    std::snprintf(text, sizeof(text), "%.*g", digits, value);
    if (std::strtod(text, nullptr) == value)
      break;
  }
  return text;
}

/// Fixed widths per step: uniform and task-adaptive schedules.
class StepPolicy : public WidthPolicy {
public:
  explicit StepPolicy(std::vector<ScheduleSegment> segments)
      : segments_(std::move(segments)) {}
  int widthFor(int64_t step) override {
    for (const ScheduleSegment &segment : segments_) {
      if (segment.steps < 0 || step < segment.steps)
        return segment.width;
      step -= segment.steps;
    }
    return segments_.back().width;
  }

private:
  std::vector<ScheduleSegment> segments_;
};

/// The prompt-adaptive policy: a ladder of the package's widths, widest
/// first, walked by the top-1 margin of recent steps.
class MarginPolicy : public WidthPolicy {
public:
  MarginPolicy(std::vector<int> ladder, MarginPolicyOptions options)
      : ladder_(std::move(ladder)), options_(options) {}
  int widthFor(int64_t step) override {
    (void)step;
    return ladder_[rung_];
  }
  void observe(const float *logits, int64_t vocab) override {
    double margin = topProbabilityMargin(logits, vocab);
    if (margin < options_.upMargin) {
      streak_ = 0;
      if (rung_ > 0)
        --rung_;
      return;
    }
    streak_ = margin >= options_.downMargin ? streak_ + 1 : 0;
    if (streak_ >= options_.window && rung_ + 1 < ladder_.size()) {
      ++rung_;
      streak_ = 0;
    }
  }
  void restart() override {
    rung_ = 0;
    streak_ = 0;
  }

private:
  std::vector<int> ladder_;
  MarginPolicyOptions options_;
  size_t rung_ = 0;
  int64_t streak_ = 0;
};

/// The softmax of `logits` in doubles, shifted by the maximum.
std::vector<double> logSoftmax(const float *logits, int64_t vocab) {
  double maximum = -INFINITY;
  for (int64_t i = 0; i < vocab; ++i)
    maximum = std::max(maximum, double(logits[i]));
  double sum = 0;
  for (int64_t i = 0; i < vocab; ++i)
    sum += std::exp(double(logits[i]) - maximum);
  double shift = maximum + std::log(sum);
  std::vector<double> out(static_cast<size_t>(vocab));
  for (int64_t i = 0; i < vocab; ++i)
    out[size_t(i)] = double(logits[i]) - shift;
  return out;
}

} // namespace

Expected<ScheduleSpec> parseSchedule(const std::string &text) {
  if (text.empty())
    return makeError("schedule is empty: give a width (4), steps per width "
                     "(4:64,3:192,2) or adaptive");
  if (text.rfind("adaptive", 0) == 0)
    return parseAdaptiveSchedule(text);
  return parseStepSchedule(text);
}

std::string ScheduleSpec::str() const {
  if (kind == Adaptive)
    return "adaptive:down=" + formatNumber(margin.downMargin) +
           ",up=" + formatNumber(margin.upMargin) +
           ",window=" + std::to_string(margin.window);
  std::string text;
  for (const ScheduleSegment &segment : segments) {
    if (!text.empty())
      text += ",";
    text += std::to_string(segment.width);
    if (segment.steps >= 0)
      text += ":" + std::to_string(segment.steps);
  }
  return text;
}

std::vector<int> ScheduleSpec::namedWidths() const {
  std::vector<int> widths;
  for (const ScheduleSegment &segment : segments)
    widths.push_back(segment.width);
  return widths;
}

Expected<ScheduleSpec> readScheduleFile(const std::string &path) {
  std::ifstream in(path, std::ios::binary);
  if (!in)
    return makeError(path,
                     ": cannot open the schedule file: ", std::strerror(errno));
  std::string text((std::istreambuf_iterator<char>(in)),
                   std::istreambuf_iterator<char>());
  nlohmann::json j = nlohmann::json::parse(text, nullptr,
                                           /*allow_exceptions=*/false);
  if (j.is_discarded() || !j.is_object() ||
      !j.value("schedule", nlohmann::json()).is_string())
    return makeError(path, ": not a schedule file: expected a JSON object "
                           "with a \"schedule\" string (mixq-schedule -o)");
  auto spec = parseSchedule(j["schedule"].get<std::string>());
  if (!spec)
    return makeError(path, ": ", spec.message());
  return spec;
}

Status checkScheduleWidths(const ScheduleSpec &spec,
                           const std::vector<DecodeWidthInfo> &widths) {
  if (widths.empty())
    return makeError("schedule '", spec.str(),
                     "' needs a multi-width package (mixq-compile "
                     "--scheme=bitplane:... --widths=W,...); this one has "
                     "one decode plan");
  for (int width : spec.namedWidths())
    if (auto found = findDecodeWidth(widths, width); !found)
      return makeError("schedule '", spec.str(), "' names width ", width,
                       ", which the package lacks; its widths are ",
                       formatWidthList(widths));
  return Status::success();
}

Expected<std::unique_ptr<WidthPolicy>>
makeWidthPolicy(const ScheduleSpec &spec,
                const std::vector<DecodeWidthInfo> &widths) {
  if (Status s = checkScheduleWidths(spec, widths); !s)
    return s;
  if (spec.kind != ScheduleSpec::Adaptive)
    return std::unique_ptr<WidthPolicy>(new StepPolicy(spec.segments));
  std::vector<int> ladder;
  for (const DecodeWidthInfo &width : widths)
    ladder.push_back(width.width);
  std::sort(ladder.rbegin(), ladder.rend());
  return std::unique_ptr<WidthPolicy>(
      new MarginPolicy(std::move(ladder), spec.margin));
}

double topProbabilityMargin(const float *logits, int64_t vocab) {
  if (vocab < 2)
    return 1.0;
  // p1 - p2 = (e^{l1} - e^{l2}) / sum e^{l}: two passes, no allocation.
  float first = -INFINITY, second = -INFINITY;
  for (int64_t i = 0; i < vocab; ++i) {
    if (logits[i] > first) {
      second = first;
      first = logits[i];
    } else if (logits[i] > second) {
      second = logits[i];
    }
  }
  double sum = 0;
  for (int64_t i = 0; i < vocab; ++i)
    sum += std::exp(double(logits[i]) - double(first));
  return (1.0 - std::exp(double(second) - double(first))) / sum;
}

double klDivergence(const float *reference, const float *test, int64_t vocab) {
  std::vector<double> r = logSoftmax(reference, vocab),
                      t = logSoftmax(test, vocab);
  double sum = 0;
  for (size_t i = 0; i < r.size(); ++i)
    sum += std::exp(r[i]) * (r[i] - t[i]);
  return std::max(sum, 0.0);
}

ScheduledDecoder::ScheduledDecoder(Executor &executor,
                                   std::unique_ptr<WidthPolicy> policy)
    : executor_(executor), policy_(std::move(policy)) {}

Expected<const float *>
ScheduledDecoder::prefill(const std::vector<int32_t> &tokens) {
  auto logits = executor_.prefill(tokens);
  if (logits && policy_)
    policy_->observe(*logits, executor_.vocabSize());
  return logits;
}

Expected<const float *> ScheduledDecoder::decode(int32_t token) {
  if (policy_) {
    int width = policy_->widthFor(int64_t(stepWidths_.size()));
    if (Status s = executor_.setDecodeWidth(width); !s)
      return s;
  }
  auto logits = executor_.decode(token);
  if (!logits)
    return logits;
  int width = executor_.decodeWidth();
  stepWidths_.push_back(width);
  ++steps_;
  for (const DecodeWidthInfo &info : executor_.decodeWidths())
    if (info.width == width) {
      bitsSum_ += info.bitsPerWeight;
      bytesSum_ += double(info.bytesPerStep);
    }
  if (policy_)
    policy_->observe(*logits, executor_.vocabSize());
  return logits;
}

void ScheduledDecoder::reset() {
  executor_.reset();
  stepWidths_.clear();
  if (policy_)
    policy_->restart();
}

Status ScheduledDecoder::setDecodeWidth(int width) {
  if (!policy_)
    return executor_.setDecodeWidth(width);
  if (width == executor_.decodeWidth())
    return Status::success();
  return makeError("decode width ", width,
                   " asked of a scheduled run: its schedule picks the widths");
}

double ScheduledDecoder::averageBitsPerWeight() const {
  return steps_ == 0 ? 0.0 : bitsSum_ / double(steps_);
}

double ScheduledDecoder::averageBytesPerStep() const {
  return steps_ == 0 ? 0.0 : bytesSum_ / double(steps_);
}

} // namespace mixq::runtime
