//===- FuzzSchedule.cpp - libFuzzer target: decode-width schedules --------===//
//
// Feeds arbitrary text to parseSchedule() (what mixq-run --schedule and
// mixq-schedule --evaluate read). Besides "no crash, no exception, no
// out-of-bounds access", it checks on every schedule it accepts that the
// normalized text parses back to itself, and that a policy over the widths
// the schedule names (or 4, 3, 2 for an adaptive one) gives only those
// widths for a run of steps with varied logits. A broken promise traps.
//===----------------------------------------------------------------------===//

#include "runtime/Schedule.h"

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

using namespace mixq;
using namespace mixq::runtime;

namespace {

void check(bool condition) {
  if (!condition)
    __builtin_trap();
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  std::string text(reinterpret_cast<const char *>(data), size);
  auto spec = parseSchedule(text);
  if (!spec) {
    check(!spec.message().empty());
    return 0;
  }
  auto again = parseSchedule(spec->str());
  check(again.ok() && again->str() == spec->str());

  std::vector<DecodeWidthInfo> widths;
  std::vector<int> named = spec->namedWidths();
  if (named.empty())
    named = {4, 3, 2};
  for (int width : named)
    if (std::none_of(
            widths.begin(), widths.end(),
            [&](const DecodeWidthInfo &w) { return w.width == width; }))
      widths.push_back({width, double(width), width});
  auto policy = makeWidthPolicy(*spec, widths);
  check(policy.ok());
  float logits[3] = {0, 0, 0};
  for (int64_t step = 0; step < 64; ++step) {
    int width = (*policy)->widthFor(step);
    check(std::any_of(
        widths.begin(), widths.end(),
        [&](const DecodeWidthInfo &w) { return w.width == width; }));
    logits[step % 3] += float(step % 5);
    (*policy)->observe(logits, 3);
  }
  return 0;
}
