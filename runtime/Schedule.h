//===- Schedule.h - decode-width schedules (progressive decoding) -*- C++ -*-//
//
// Progressive mixed-precision decoding (PMPD, Chen et al. 2024) runs the
// decode steps of one generation at decreasing widths of a multi-width
// package (mixq-compile --widths). A schedule decides each step's width:
//
//   4                  uniform: every decode step at width 4 (with the
//                      package's prefill width, this is the phase-aware
//                      schedule: prefill at p, decode at d);
//   4:64,3:192,2       task-adaptive: width 4 for the first 64 decode steps,
//                      3 for the next 192, then 2 (the last piece has no
//                      count and runs to the end);
//   adaptive[:down=M,up=U,window=N]
//                      prompt-adaptive: starts at the widest width; steps
//                      one width down after N consecutive steps whose
//                      top-1 probability margin (p1 - p2) is at least M,
//                      and one width up after any step whose margin is
//                      below U (defaults 0.5, 0.2, 8).
//
// mixq-schedule writes the task-adaptive schedule of an offline search as
// JSON ({"schedule": "4:64,3:192,2", ...}); readScheduleFile reads it.
//
// Plain C++17 (the runtime links no MLIR/LLVM).
//===----------------------------------------------------------------------===//
#ifndef MIXQ_RUNTIME_SCHEDULE_H
#define MIXQ_RUNTIME_SCHEDULE_H

#include "runtime/Executor.h"
#include "runtime/Plan.h"
#include "support/Expected.h"

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

namespace mixq::runtime {

/// `width` for `steps` decode steps; -1 steps: every step after.
struct ScheduleSegment {
  int width = 0;
  int64_t steps = -1;
};

/// The prompt-adaptive policy's thresholds (see the file comment).
struct MarginPolicyOptions {
  double downMargin = 0.5;
  double upMargin = 0.2;
  int64_t window = 8;
};

/// A parsed schedule.
struct ScheduleSpec {
  enum Kind { Uniform, Steps, Adaptive } kind = Uniform;
  /// Uniform: one open segment; Steps: the pieces, the last one open.
  std::vector<ScheduleSegment> segments;
  MarginPolicyOptions margin;

  /// The schedule in the grammar it was parsed from, normalized.
  std::string str() const;
  /// The widths the schedule names (Adaptive: none).
  std::vector<int> namedWidths() const;
};

/// Parses a schedule; the error quotes the text and points at the fault.
Expected<ScheduleSpec> parseSchedule(const std::string &text);

/// Reads the "schedule" of a JSON file written by mixq-schedule; the error
/// names the file.
Expected<ScheduleSpec> readScheduleFile(const std::string &path);

/// Checks that every width `spec` names is one of the package's; the error
/// lists the package's widths (or says it has only one decode plan).
Status checkScheduleWidths(const ScheduleSpec &spec,
                           const std::vector<DecodeWidthInfo> &widths);

/// Decides the width of each decode step.
class WidthPolicy {
public:
  virtual ~WidthPolicy() = default;
  /// The width of decode step `step` (0: the first decode after the
  /// prefill); called once per step, in order.
  virtual int widthFor(int64_t step) = 0;
  /// The logits of the call just made (the prefill, then each decode).
  virtual void observe(const float *logits, int64_t vocab) {
    (void)logits;
    (void)vocab;
  }
  /// Starts over for a new generation (step 0 next).
  virtual void restart() {}
};

/// The policy of `spec` over the package's `widths` (checked first).
Expected<std::unique_ptr<WidthPolicy>>
makeWidthPolicy(const ScheduleSpec &spec,
                const std::vector<DecodeWidthInfo> &widths);

/// p1 - p2, the difference of the two largest softmax probabilities of
/// `logits` (1 when vocab is 1).
double topProbabilityMargin(const float *logits, int64_t vocab);

/// KL(softmax(reference) || softmax(test)) in nats.
double klDivergence(const float *reference, const float *test, int64_t vocab);

/// An executor driven by a width policy: prefill(), then decode() at the
/// width the policy gives each step; reset() starts the schedule over.
/// Records the width of every decode step. Being an Executor itself, it
/// runs wherever one does (mixq-bench's tests, for instance).
class ScheduledDecoder : public Executor {
public:
  /// `executor` must outlive the decoder. `policy` may be null (the
  /// executor's current width every step).
  ScheduledDecoder(Executor &executor, std::unique_ptr<WidthPolicy> policy);

  Expected<const float *> prefill(const std::vector<int32_t> &tokens) override;
  Expected<const float *> decode(int32_t token) override;
  void reset() override;
  int64_t position() const override { return executor_.position(); }
  int64_t contextLength() const override { return executor_.contextLength(); }
  int64_t vocabSize() const override { return executor_.vocabSize(); }
  const std::vector<DecodeWidthInfo> &decodeWidths() const override {
    return executor_.decodeWidths();
  }
  /// The policy decides the widths: only its own width may be set.
  Status setDecodeWidth(int width) override;
  int decodeWidth() const override { return executor_.decodeWidth(); }

  /// The width of each decode step since the last reset() (0s for a
  /// single-width package).
  const std::vector<int> &stepWidths() const { return stepWidths_; }
  /// The mean, over every decode step so far (resets included), of the
  /// bits per weight the step's plan reads (0 without widths or steps).
  double averageBitsPerWeight() const;
  /// The mean weight bytes read per decode step (0 without widths).
  double averageBytesPerStep() const;

private:
  Executor &executor_;
  std::unique_ptr<WidthPolicy> policy_;
  std::vector<int> stepWidths_;
  double bitsSum_ = 0, bytesSum_ = 0;
  int64_t steps_ = 0; ///< every decode step, resets included
};

} // namespace mixq::runtime

#endif // MIXQ_RUNTIME_SCHEDULE_H
