//===- mixq-bench.cpp - llama-bench for .mixq packages --------------------===//
//
// mixq-bench PKG [-p 512] [-n 128] [-r 5] [--device auto|cpu|cuda]
//            [--dummy-weights] [--width W | --schedule S] [--json]
//
// Runs pp<p> (a prefill of p tokens) and tg<n> (n decode steps after a
// one-token prompt), each r times after a warm-up, and prints llama-bench's
// table with tokens per second (mean ± sd). On the GPU it adds the copy
// bandwidth, a per-kernel decode table (time, bytes read, GB/s, % of the
// copy) and the cuBLAS fp16 baseline on the same matmul shapes
// (docs/bench.md). Runtime-only: links MixQRuntime, no MLIR or LLVM.
//===----------------------------------------------------------------------===//
#include "runtime/CPUExecutor.h"
#include "runtime/Package.h"
#include "runtime/Schedule.h"
#include "runtime/cuda/CUDAExecutor.h"
#include "tools/mixq-bench/BenchReport.h"
#include "tools/mixq-bench/BenchRun.h"
#include "tools/mixq-bench/CUDAMeasure.h"
#include "tools/mixq-bench/DummyWeights.h"

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <optional>
#include <sstream>
#include <string>

using namespace mixq;
using namespace mixq::bench;
using namespace mixq::runtime;

namespace {

const char *const kUsage = R"(usage: mixq-bench PKG [options]

Measures a compiled .mixq package like llama-bench: pp<P> (prefill of P
tokens) and tg<N> (N decode steps after a one-token prompt), each R times
after a warm-up, in tokens per second (mean ± sd). On the GPU it also
prints the copy bandwidth, a per-kernel decode table and a cuBLAS fp16
baseline on the same matmul shapes.

options:
  -p P                prompt tokens of the pp test (default 512; 0 = skip;
                      clamped to the context length)
  -n N                decode steps of the tg test (default 128; 0 = skip)
  -r R                repetitions (default 5)
  --device D          auto (default: CUDA if usable, else the CPU), cpu, cuda
  --dummy-weights     CUDA: fill the device weights with random data of the
                      right structure instead of uploading the package's
                      (only the speed is meaningful; docs/bench.md)
  --no-programmatic-launch
                      CUDA: join the decode graph's kernels by ordinary
                      edges even where the package's PTX supports
                      programmatic dependent launch (mixq-compile
                      --programmatic-launch), for the comparison
  --width W           a multi-width package (mixq-compile --widths): decode
                      at width W (default: its first width)
  --schedule S        a multi-width package: tg decodes by the width schedule
                      S (as mixq-run --schedule: 3, 4:64,3:192,2, adaptive),
                      restarted every repetition
  --json              print the results as one JSON object
  -h, --help          this text

Exit status: 0 on success, 1 on an error, 2 on a usage error.
)";

constexpr int kExitError = 1;
constexpr int kExitUsage = 2;

[[noreturn]] void usageError(const std::string &message) {
  std::fprintf(stderr,
               "mixq-bench: error: %s\nRun 'mixq-bench --help' for usage.\n",
               message.c_str());
  std::exit(kExitUsage);
}

[[noreturn]] void die(const std::string &message) {
  std::fprintf(stderr, "mixq-bench: error: %s\n", message.c_str());
  std::exit(kExitError);
}

void note(std::vector<std::string> &notes, const std::string &text) {
  std::fprintf(stderr, "mixq-bench: note: %s\n", text.c_str());
  notes.push_back(text);
}

struct Options {
  std::string package;
  int64_t prompt = 512, generate = 128;
  int repetitions = 5;
  std::string device = "auto";
  bool json = false, dummyWeights = false;
  bool programmaticLaunch = true; ///< --no-programmatic-launch clears it
  int width = 0; ///< --width; 0: the package's default
  std::string schedule;
};

int64_t parseCount(const std::string &flag, const std::string &text,
                   int64_t least) {
  std::istringstream in(text);
  int64_t value = 0;
  if (!(in >> value) || !in.eof())
    usageError(flag + " expects a number, not '" + text + "'");
  if (value < least || value > INT32_MAX)
    usageError(flag + " must be at least " + std::to_string(least) + ", not " +
               text);
  return value;
}

Options parseArguments(int argc, char **argv) {
  Options o;
  auto value = [&](int &i, const std::string &flag) -> std::string {
    if (i + 1 >= argc)
      usageError(flag + " needs a value");
    return argv[++i];
  };
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    if (a == "-h" || a == "--help") {
      std::fputs(kUsage, stdout);
      std::exit(0);
    } else if (a == "-p") {
      o.prompt = parseCount(a, value(i, a), 0);
    } else if (a == "-n") {
      o.generate = parseCount(a, value(i, a), 0);
    } else if (a == "-r") {
      o.repetitions = int(parseCount(a, value(i, a), 1));
    } else if (a == "--device") {
      o.device = value(i, a);
    } else if (a == "--json") {
      o.json = true;
    } else if (a == "--dummy-weights") {
      o.dummyWeights = true;
    } else if (a == "--no-programmatic-launch") {
      o.programmaticLaunch = false;
    } else if (a == "--width") {
      o.width = int(parseCount(a, value(i, a), 1));
    } else if (a == "--schedule") {
      o.schedule = value(i, a);
    } else if (a.size() > 1 && a[0] == '-') {
      usageError("unknown option '" + a + "'");
    } else if (o.package.empty()) {
      o.package = a;
    } else {
      usageError("more than one package given ('" + o.package + "' and '" + a +
                 "')");
    }
  }
  if (o.package.empty())
    usageError("no package given");
  if (o.device != "auto" && o.device != "cpu" && o.device != "cuda")
    usageError("--device must be auto, cpu or cuda, not '" + o.device + "'");
  if (o.prompt == 0 && o.generate == 0)
    usageError("-p 0 and -n 0 leave nothing to run");
  if (o.width > 0 && !o.schedule.empty())
    usageError("give --width or --schedule, not both");
  return o;
}

/// The opened executor; `cuda` is set when it is the GPU's.
struct Opened {
  std::unique_ptr<BenchModel> model;
  CUDAExecutor *cuda = nullptr;
  const cuda::CUDADriverAPI *driver = nullptr;
};

/// The CUDA executor, or an empty Opened with `why` set: no driver, no
/// CUDA kernels in the package, or the executor's own error.
Opened openCUDA(const Options &o, const Package &package,
                const std::optional<DummyWeights> &dummy, std::string &why) {
  auto driver = cuda::loadCUDADriver();
  if (!driver) {
    why = driver.message();
    return {};
  }
  if (!package.manifest()
           .value("targets", nlohmann::json::object())
           .contains("cuda")) {
    why = "the package has no CUDA kernels (compile it with --target=cuda "
          "or --target=all)";
    return {};
  }
  CUDAExecutorOptions options;
  options.programmaticLaunch = o.programmaticLaunch;
  if (dummy) {
    options.fillWeight = [&dummy](const std::string &blob, uint8_t *bytes,
                                  size_t size) {
      return dummy->fill(blob, bytes, size);
    };
    options.deviceFill = [&dummy](const std::string &blob) {
      return dummy->deviceFill(blob);
    };
  }
  auto executor = CUDAExecutor::create(package, **driver, options);
  if (!executor) {
    why = executor.message();
    return {};
  }
  auto model = std::make_unique<ExecutorModel<CUDAExecutor>>(executor.take());
  Opened out{nullptr, &model->impl(), *driver};
  out.model = std::move(model);
  return out;
}

/// --device: cuda, auto (CUDA when it can be had, else a note and the CPU)
/// or cpu. `device` is set to the one chosen.
Opened openModel(const Options &o, const Package &package,
                 const std::optional<DummyWeights> &dummy, std::string &device,
                 std::vector<std::string> &notes) {
  if (o.device != "cpu") {
    std::string why;
    Opened opened = openCUDA(o, package, dummy, why);
    if (opened.model) {
      device = "cuda";
      return opened;
    }
    if (o.device == "cuda")
      die("--device cuda: " + why);
    note(notes, "running on the CPU: " + why);
  }
  device = "cpu";
  auto executor = CPUExecutor::create(package);
  if (!executor)
    die(executor.message());
  return {std::make_unique<ExecutorModel<CPUExecutor>>(executor.take())};
}

std::vector<TestResult> runTests(const Options &o, BenchModel &model,
                                 std::vector<std::string> &notes) {
  TestSizes sizes = clampTests(o.prompt, o.generate, model.contextLength());
  for (const std::string &text : sizes.notes)
    note(notes, text);
  std::vector<TestResult> tests;
  Clock clock = steadyClock();
  if (sizes.prompt > 0) {
    auto pp = runPromptTest(model, sizes.prompt, o.repetitions, clock);
    if (!pp)
      die(pp.message());
    tests.push_back(pp.take());
  }
  if (sizes.generate > 0) {
    auto tg = runGenerateTest(model, sizes.generate, o.repetitions, clock);
    if (!tg)
      die(tg.message());
    tests.push_back(tg.take());
  }
  return tests;
}

/// The test sizes as run (after clamping), for the CUDA measurements.
int64_t testTokens(const std::vector<TestResult> &tests, char kind) {
  for (const TestResult &t : tests)
    if (t.name[0] == kind)
      return t.tokens;
  return 0;
}

std::string formatDouble(double value, int digits) {
  char text[64];
  std::snprintf(text, sizeof(text), "%.*f", digits, value);
  return text;
}

/// --schedule's policy over the package's widths.
std::unique_ptr<WidthPolicy> makeSchedulePolicy(const Options &o,
                                                BenchModel &model) {
  auto spec = parseSchedule(o.schedule);
  if (!spec)
    die(spec.message());
  auto policy = makeWidthPolicy(*spec, model.decodeWidths());
  if (!policy)
    die(policy.message());
  return policy.take();
}

/// --width, and a note of the width tg decodes at in a multi-width package.
void selectDecodeWidth(const Options &o, BenchModel &model,
                       std::vector<std::string> &notes) {
  if (o.width > 0)
    if (Status s = model.setDecodeWidth(o.width); !s)
      die(s.message());
  if (!o.schedule.empty())
    return;
  for (const DecodeWidthInfo &width : model.decodeWidths())
    if (width.width == model.decodeWidth())
      note(notes, "tg decodes at width " + std::to_string(width.width) +
                      " of " + formatWidthList(model.decodeWidths()) + " (" +
                      formatDouble(width.bitsPerWeight, 4) +
                      " bits/weight read, " +
                      formatByteSize(uint64_t(width.bytesPerStep)) +
                      " of weights per step)");
}

void print(const Options &o, const BenchReport &report) {
  std::string text =
      o.json ? renderJson(report).dump(2) + "\n" : renderText(report);
  if (std::fwrite(text.data(), 1, text.size(), stdout) != text.size() ||
      std::fflush(stdout) != 0)
    die("cannot write the output");
}

} // namespace

int main(int argc, char **argv) {
  Options o = parseArguments(argc, argv);
  BenchReport report;
  report.package = o.package;
  report.repetitions = o.repetitions;
  report.dummyWeights = o.dummyWeights;
  // The weights are not read with --dummy-weights: skip their checksums,
  // and accept a weightless package (mixq-compile --weights=none).
  PackageOpenOptions open;
  open.verifyBlobs = !o.dummyWeights;
  open.allowAbsentBlobs = o.dummyWeights;
  auto package = Package::open(o.package, open);
  if (!package)
    die(package.message());
  report.summary = summarizePackage(*package);

  std::optional<DummyWeights> dummy;
  if (o.dummyWeights) {
    auto weights = DummyWeights::fromManifest(package->manifest());
    if (!weights)
      die(weights.message());
    dummy = weights.take();
  }
  Opened opened = openModel(o, *package, dummy, report.device, report.notes);
  if (o.dummyWeights)
    note(report.notes,
         opened.cuda ? "--dummy-weights: the device weights are random (with "
                       "valid index structure), so only the speed is "
                       "meaningful"
                     : "--dummy-weights applies to the CUDA executor only: "
                       "the CPU runs the package's own weights");
  if (opened.cuda && !o.json)
    std::fprintf(
        stderr, "mixq-bench: cuda: %s, %s PTX%s, %s of device memory\n",
        opened.cuda->deviceName().c_str(), opened.cuda->chip().c_str(),
        opened.cuda->programmaticLaunch() ? " (programmatic launch)" : "",
        formatByteSize(opened.cuda->deviceBytes()).c_str());

  selectDecodeWidth(o, *opened.model, report.notes);
  if (o.schedule.empty()) {
    report.tests = runTests(o, *opened.model, report.notes);
  } else {
    ScheduledDecoder scheduled(*opened.model,
                               makeSchedulePolicy(o, *opened.model));
    report.tests = runTests(o, scheduled, report.notes);
    // The GPU's per-kernel table below is of one plan: the first width's,
    // not whichever width the schedule ended on.
    if (Status s = opened.model->setDecodeWidth(
            opened.model->decodeWidths().front().width);
        !s)
      die(s.message());
    if (opened.cuda)
      note(report.notes, "the per-kernel table is of the first width, " +
                             std::to_string(opened.model->decodeWidth()));
    note(report.notes,
         "tg decodes by the schedule " + o.schedule + ": " +
             formatDouble(scheduled.averageBitsPerWeight(), 4) +
             " bits/weight read on average, " +
             formatByteSize(uint64_t(scheduled.averageBytesPerStep())) +
             " of weights per step");
  }
  if (opened.cuda) {
    CUDAMeasureOptions options;
    options.repetitions = o.repetitions;
    options.promptTokens = testTokens(report.tests, 'p');
    options.generateTokens = testTokens(report.tests, 't');
    auto cuda = measureCUDA(*opened.cuda, *opened.driver, *package, options);
    if (!cuda)
      die(cuda.message());
    if (!cuda->cublasSkipped.empty())
      note(report.notes, cuda->cublasSkipped);
    report.cuda = cuda.take();
  }
  print(o, report);
  return 0;
}
