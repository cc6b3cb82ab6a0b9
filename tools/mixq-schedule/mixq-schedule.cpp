//===- mixq-schedule.cpp - offline search for a decode-width schedule -----===//
//
// mixq-schedule PKG --prompts FILE [-n 256] [--kl-bound B] [--reference REF]
//               [--evaluate "S1;S2"] [--breakpoints 32,64,...] [-o F.json]
//
// The task-adaptive scheduler of progressive mixed-precision decoding: for a
// multi-width package (mixq-compile --widths), finds the schedule with the
// lowest average bits per weight read whose mean KL divergence to a
// reference stays under a bound, over a set of calibration prompts.
//
// For each prompt, the reference (REF, else PKG at its widest width)
// generates n tokens greedily; its logits at those n positions are the
// target. Every candidate schedule then runs PKG teacher-forced over the
// same tokens, so that all candidates are judged on the same text, and
// KL(reference || candidate) is averaged over positions and prompts.
// Candidates are every descending run through the package's widths whose
// switches fall on --breakpoints (cumulative decode steps), the uniform
// widths included. --evaluate scores given schedules (any schedule
// mixq-run takes) instead of searching.
//
// Runs on the CPU: the same plans as the GPU, and widths switch there.
//===----------------------------------------------------------------------===//
#include "runtime/CPUExecutor.h"
#include "runtime/Executor.h"
#include "runtime/Package.h"
#include "runtime/Schedule.h"
#include "runtime/Tokenizer.h"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <functional>
#include <optional>
#include <sstream>
#include <string>
#include <vector>

#include <unistd.h>

using namespace mixq;
using namespace mixq::runtime;
using json = nlohmann::json;

namespace {

const char *kUsage = R"(usage: mixq-schedule PKG --prompts FILE [options]
Searches the decode-width schedule of a multi-width package (mixq-compile
--widths) with the lowest average bits/weight read whose mean KL to the
reference stays within a bound, over calibration prompts.

  --prompts FILE      calibration prompts, one per line: text (encoded with
                      the package's tokenizer, with BOS), or token ids
                      separated by spaces when the package has no tokenizer
  -n N                decode positions per prompt (default 256)
  --kl-bound B        mean KL bound in nats (default 0.05)
  --reference REF     the package whose greedy tokens and logits are the
                      target (default: PKG at its widest width)
  --breakpoints LIST  decode steps where a search candidate may switch
                      width (default: n/8, n/4, n/2, 3n/4)
  --evaluate LIST     score these schedules, separated by ';', instead of
                      searching (e.g. "4;3;4:64,3:192,2;adaptive")
  -o FILE             write the chosen schedule as JSON (mixq-run
                      --schedule-file FILE)
  -h, --help          this text
)";

[[noreturn]] void die(const std::string &message) {
  std::fprintf(stderr, "mixq-schedule: error: %s\n", message.c_str());
  std::exit(1);
}

struct Options {
  std::string package, prompts, reference, output, evaluate, breakpoints;
  int64_t steps = 256;
  double klBound = 0.05;
};

template <typename T> T parseNumber(const std::string &flag, const char *text) {
  std::istringstream in(text);
  T value;
  if (!(in >> value) || !in.eof())
    die(flag + " expects a number, not '" + text + "'");
  return value;
}

Options parseArguments(int argc, char **argv) {
  Options o;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    auto value = [&]() -> const char * {
      if (i + 1 >= argc)
        die(a + " needs a value");
      return argv[++i];
    };
    if (a == "-h" || a == "--help") {
      std::fputs(kUsage, stdout);
      std::exit(0);
    } else if (a == "--prompts") {
      o.prompts = value();
    } else if (a == "-n") {
      o.steps = parseNumber<int64_t>(a, value());
    } else if (a == "--kl-bound") {
      o.klBound = parseNumber<double>(a, value());
    } else if (a == "--reference") {
      o.reference = value();
    } else if (a == "--breakpoints") {
      o.breakpoints = value();
    } else if (a == "--evaluate") {
      o.evaluate = value();
    } else if (a == "-o") {
      o.output = value();
    } else if (!a.empty() && a[0] == '-') {
      die("unknown option '" + a + "' (see --help)");
    } else if (o.package.empty()) {
      o.package = a;
    } else {
      die("unexpected argument '" + a + "'");
    }
  }
  if (o.package.empty())
    die("no package given (see --help)");
  if (o.prompts.empty())
    die("--prompts FILE is required: the calibration prompts");
  if (o.steps < 1)
    die("-n must be at least 1");
  if (!(o.klBound >= 0))
    die("--kl-bound must be >= 0");
  return o;
}

/// A package and its CPU executor, kept together.
struct Loaded {
  std::unique_ptr<Package> package;
  std::unique_ptr<Executor> executor;
};

Loaded load(const std::string &path) {
  auto package = Package::open(path);
  if (!package)
    die(package.message());
  Loaded out{std::make_unique<Package>(package.take()), nullptr};
  auto executor = CPUExecutor::create(*out.package);
  if (!executor)
    die(executor.message());
  out.executor =
      std::make_unique<ExecutorAdapter<CPUExecutor>>(executor.take());
  return out;
}

std::vector<std::vector<int32_t>>
readPrompts(const Options &o, const Package &package, int64_t vocab) {
  std::ifstream in(o.prompts);
  if (!in)
    die(o.prompts + ": cannot open the prompts file");
  auto loaded = tokenizerFromManifest(package.manifest());
  if (!loaded)
    die(loaded.message());
  std::optional<Tokenizer> tokenizer = loaded.take();
  std::vector<std::vector<int32_t>> prompts;
  std::string line;
  for (int lineNo = 1; std::getline(in, line); ++lineNo) {
    if (line.find_first_not_of(" \t\r") == std::string::npos)
      continue;
    std::vector<int32_t> ids;
    if (tokenizer) {
      auto encoded = tokenizer->encode(line, /*addBos=*/true);
      if (!encoded)
        die(o.prompts + ":" + std::to_string(lineNo) + ": " +
            encoded.message());
      ids = encoded.take();
    } else {
      std::istringstream words(line);
      long long id;
      while (words >> id) {
        if (id < 0 || id >= vocab)
          die(o.prompts + ":" + std::to_string(lineNo) + ": token id " +
              std::to_string(id) + " is outside the vocabulary");
        ids.push_back(int32_t(id));
      }
      if (!words.eof())
        die(o.prompts + ":" + std::to_string(lineNo) +
            ": the package has no tokenizer, so prompts are token ids "
            "separated by spaces");
    }
    prompts.push_back(std::move(ids));
  }
  if (prompts.empty())
    die(o.prompts + ": no prompts");
  return prompts;
}

/// One prompt's target: the tokens the reference generated and its logits
/// at each of the n positions (row i predicts generated token i).
struct Target {
  std::vector<int32_t> prompt, generated;
  std::vector<float> logits; ///< n x vocab
};

int32_t argmax(const float *logits, int64_t vocab) {
  return int32_t(std::max_element(logits, logits + vocab) - logits);
}

Target makeTarget(Executor &reference, const std::vector<int32_t> &prompt,
                  int64_t steps) {
  Target t;
  t.prompt = prompt;
  int64_t vocab = reference.vocabSize();
  if (steps > reference.contextLength() - int64_t(prompt.size()))
    die("a prompt of " + std::to_string(prompt.size()) + " tokens and " +
        std::to_string(steps) + " positions exceed the context length " +
        std::to_string(reference.contextLength()) + " (lower -n)");
  reference.reset();
  auto logits = reference.prefill(prompt);
  for (int64_t i = 0;; ++i) {
    if (!logits)
      die(logits.message());
    t.logits.insert(t.logits.end(), *logits, *logits + vocab);
    t.generated.push_back(argmax(*logits, vocab));
    if (i + 1 == steps)
      break;
    logits = reference.decode(t.generated.back());
  }
  return t;
}

/// A schedule's score over all targets.
struct Score {
  std::string schedule;
  double meanKL = 0;
  double averageBits = 0;
  double averageWidth = 0;
};

Score evaluate(Executor &model, const ScheduleSpec &spec,
               const std::vector<Target> &targets) {
  Score score{spec.str()};
  int64_t vocab = model.vocabSize(), positions = 0, decodeSteps = 0;
  double widthSum = 0, bitsSum = 0;
  for (const Target &t : targets) {
    auto policy = makeWidthPolicy(spec, model.decodeWidths());
    if (!policy)
      die(policy.message());
    model.reset();
    ScheduledDecoder decoder(model, policy.take());
    auto logits = decoder.prefill(t.prompt);
    for (size_t i = 0;; ++i) {
      if (!logits)
        die(logits.message());
      score.meanKL += klDivergence(&t.logits[i * vocab], *logits, vocab);
      ++positions;
      if (i + 1 == t.generated.size())
        break;
      logits = decoder.decode(t.generated[i]);
    }
    for (int width : decoder.stepWidths())
      widthSum += width;
    bitsSum +=
        decoder.averageBitsPerWeight() * double(decoder.stepWidths().size());
    decodeSteps += int64_t(decoder.stepWidths().size());
  }
  score.meanKL /= double(std::max<int64_t>(positions, 1));
  score.averageWidth = widthSum / double(std::max<int64_t>(decodeSteps, 1));
  score.averageBits = bitsSum / double(std::max<int64_t>(decodeSteps, 1));
  return score;
}

std::vector<int64_t> parseBreakpoints(const Options &o) {
  std::vector<int64_t> points;
  if (o.breakpoints.empty()) {
    for (int64_t eighths : {1, 2, 4, 6})
      points.push_back(o.steps * eighths / 8);
  } else {
    std::stringstream in(o.breakpoints);
    std::string item;
    while (std::getline(in, item, ','))
      points.push_back(parseNumber<int64_t>("--breakpoints", item.c_str()));
  }
  points.push_back(0);
  points.push_back(o.steps);
  std::sort(points.begin(), points.end());
  points.erase(std::unique(points.begin(), points.end()), points.end());
  for (int64_t p : points)
    if (p < 0 || p > o.steps)
      die("--breakpoints must lie in 0.." + std::to_string(o.steps));
  return points;
}

/// Every schedule that walks down the package's widths (widest first),
/// switching at breakpoints: `ends[i]` is the step where width i stops.
std::vector<ScheduleSpec> searchCandidates(const std::vector<int> &widths,
                                           const std::vector<int64_t> &points) {
  std::vector<ScheduleSpec> out;
  std::vector<int64_t> ends(widths.size() - 1);
  std::function<void(size_t, size_t)> place = [&](size_t level, size_t from) {
    if (level == ends.size()) {
      ScheduleSpec spec;
      int64_t start = 0;
      for (size_t i = 0; i < widths.size(); ++i) {
        bool last = i + 1 == widths.size();
        int64_t end = last ? -1 : ends[i];
        if (!last && end == start)
          continue;
        // A piece that reaches the last position runs to the end.
        if (!last && end == points.back()) {
          spec.segments.push_back({widths[i], -1});
          break;
        }
        spec.segments.push_back({widths[i], last ? -1 : end - start});
        if (!last)
          start = end;
      }
      spec.kind = spec.segments.size() == 1 ? ScheduleSpec::Uniform
                                            : ScheduleSpec::Steps;
      out.push_back(spec);
      return;
    }
    for (size_t p = from; p < points.size(); ++p) {
      ends[level] = points[p];
      place(level + 1, p);
    }
  };
  place(0, 0);
  // Different breakpoints can give one schedule (a width skipped).
  std::sort(out.begin(), out.end(),
            [](const auto &a, const auto &b) { return a.str() < b.str(); });
  out.erase(std::unique(out.begin(), out.end(),
                        [](const auto &a, const auto &b) {
                          return a.str() == b.str();
                        }),
            out.end());
  return out;
}

std::vector<ScheduleSpec> listedSchedules(const std::string &list) {
  std::vector<ScheduleSpec> out;
  std::stringstream in(list);
  std::string item;
  while (std::getline(in, item, ';')) {
    if (item.empty())
      continue;
    auto spec = parseSchedule(item);
    if (!spec)
      die(spec.message());
    out.push_back(spec.take());
  }
  if (out.empty())
    die("--evaluate lists no schedule");
  return out;
}

void writeResult(const Options &o, const Score &best,
                 const std::vector<Score> &scores, size_t prompts) {
  json candidates = json::array();
  for (const Score &s : scores)
    candidates.push_back({{"schedule", s.schedule},
                          {"mean_kl", s.meanKL},
                          {"average_width", s.averageWidth},
                          {"average_bits_per_weight", s.averageBits}});
  json out = {{"schedule", best.schedule},
              {"mean_kl", best.meanKL},
              {"average_width", best.averageWidth},
              {"average_bits_per_weight", best.averageBits},
              {"kl_bound", o.klBound},
              {"positions_per_prompt", o.steps},
              {"prompts", prompts},
              {"package", o.package},
              {"reference", o.reference.empty() ? o.package : o.reference},
              {"candidates", candidates}};
  std::ofstream file(o.output);
  file << out.dump(2) << "\n";
  if (!file)
    die(o.output + ": cannot write the schedule");
}

} // namespace

int main(int argc, char **argv) {
  Options o = parseArguments(argc, argv);
  Loaded model = load(o.package);
  Executor &executor = *model.executor;
  const std::vector<DecodeWidthInfo> &widths = executor.decodeWidths();
  if (widths.empty())
    die(o.package + ": a schedule needs a multi-width package (mixq-compile "
                    "--scheme=bitplane:... --widths=W,...); this one has one "
                    "decode plan");
  std::vector<int> ladder;
  for (const DecodeWidthInfo &w : widths)
    ladder.push_back(w.width);
  std::sort(ladder.rbegin(), ladder.rend());

  std::vector<std::vector<int32_t>> prompts =
      readPrompts(o, *model.package, executor.vocabSize());
  std::optional<Loaded> reference;
  if (!o.reference.empty()) {
    reference = load(o.reference);
    if (reference->executor->vocabSize() != executor.vocabSize())
      die(o.reference + ": its vocabulary differs from " + o.package + "'s");
  } else if (Status s = executor.setDecodeWidth(ladder.front()); !s) {
    die(s.message());
  }
  Executor &target = reference ? *reference->executor : executor;
  // The package runs the same positions as the reference.
  for (const auto &prompt : prompts)
    if (o.steps > executor.contextLength() - int64_t(prompt.size()))
      die(o.package + ": a prompt of " + std::to_string(prompt.size()) +
          " tokens and " + std::to_string(o.steps) +
          " positions exceed its context length " +
          std::to_string(executor.contextLength()) + " (lower -n)");
  std::vector<Target> targets;
  for (const auto &prompt : prompts)
    targets.push_back(makeTarget(target, prompt, o.steps));

  std::vector<ScheduleSpec> candidates =
      o.evaluate.empty() ? searchCandidates(ladder, parseBreakpoints(o))
                         : listedSchedules(o.evaluate);
  // Progress: redrawn in place on a terminal, a line per candidate in logs.
  bool terminal = ::isatty(STDERR_FILENO);
  std::vector<Score> scores;
  for (size_t i = 0; i < candidates.size(); ++i) {
    std::fprintf(stderr, "%smixq-schedule: candidate %zu/%zu: %s%s",
                 terminal ? "\r" : "", i + 1, candidates.size(),
                 candidates[i].str().c_str(), terminal ? "\x1b[K" : "\n");
    scores.push_back(evaluate(executor, candidates[i], targets));
  }
  if (terminal)
    std::fprintf(stderr, "\n");
  std::sort(scores.begin(), scores.end(), [](const Score &a, const Score &b) {
    return a.averageBits != b.averageBits ? a.averageBits < b.averageBits
                                          : a.meanKL < b.meanKL;
  });

  std::printf("%-34s %9s %14s %12s\n", "schedule", "avg width", "bits/w read",
              "mean KL");
  const Score *best = nullptr;
  for (const Score &s : scores) {
    bool within = s.meanKL <= o.klBound;
    if (within && !best)
      best = &s;
    std::printf("%-34s %9.3f %14.4f %12.6f%s\n", s.schedule.c_str(),
                s.averageWidth, s.averageBits, s.meanKL,
                within ? "" : "  (over the bound)");
  }
  std::printf("over %zu prompt(s) x %lld positions, reference %s\n",
              prompts.size(), (long long)o.steps,
              o.reference.empty() ? "the widest width" : o.reference.c_str());
  if (!best) {
    std::printf("no schedule keeps the mean KL within %g nats\n", o.klBound);
    return o.output.empty() ? 0 : 2;
  }
  std::printf("chosen: %s (%.4f bits/weight read, mean KL %.6f <= %g)\n",
              best->schedule.c_str(), best->averageBits, best->meanKL,
              o.klBound);
  if (!o.output.empty())
    writeResult(o, *best, scores, prompts.size());
  return 0;
}
