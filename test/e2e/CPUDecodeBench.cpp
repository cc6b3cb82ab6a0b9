//===- CPUDecodeBench.cpp - compiled CPU decode vs the reference forward --===//
//
// mixq-cpu-decode-bench CHECKPOINT PACKAGE [-n N] [--repeat R]
//
// Decodes N tokens greedily from BOS with the package's CPU kernels and with
// the plain C++ fp32 reference forward pass (test/reference) over the same
// checkpoint, in the same process, and prints tok/s for both (mean +- sd over
// R repetitions) and their ratio. Not a test: timings depend on the machine.
//===----------------------------------------------------------------------===//
#include "frontend/Checkpoint.h"
#include "runtime/CPUExecutor.h"
#include "runtime/Package.h"
#include "test/reference/LlamaReference.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

using namespace mixq;
using Clock = std::chrono::steady_clock;

namespace {

[[noreturn]] void die(const std::string &message) {
  std::fprintf(stderr, "mixq-cpu-decode-bench: error: %s\n", message.c_str());
  std::exit(1);
}

struct Stats {
  double mean = 0, sd = 0;
};

Stats stats(const std::vector<double> &values) {
  Stats s;
  for (double v : values)
    s.mean += v;
  s.mean /= values.size();
  for (double v : values)
    s.sd += (v - s.mean) * (v - s.mean);
  s.sd = values.size() > 1 ? std::sqrt(s.sd / (values.size() - 1)) : 0;
  return s;
}

double seconds(Clock::time_point since) {
  return std::chrono::duration<double>(Clock::now() - since).count();
}

} // namespace

int main(int argc, char **argv) {
  if (argc < 3)
    die("usage: mixq-cpu-decode-bench CHECKPOINT PACKAGE [-n N] [--repeat R]");
  std::string checkpoint = argv[1], packagePath = argv[2];
  int n = 128, repeat = 5;
  for (int i = 3; i + 1 < argc; i += 2) {
    std::string flag = argv[i];
    if (flag == "-n")
      n = std::atoi(argv[i + 1]);
    else if (flag == "--repeat")
      repeat = std::atoi(argv[i + 1]);
    else
      die("unknown option " + flag);
  }
  if (n < 2 || repeat < 1)
    die("-n must be >= 2 and --repeat >= 1");

  auto model = loadCheckpoint(checkpoint);
  if (!model)
    die(model.message());
  auto reference = LlamaReference::create(**model);
  if (!reference)
    die(reference.message());
  auto package = runtime::Package::open(packagePath);
  if (!package)
    die(package.message());
  auto executor = runtime::CPUExecutor::create(*package);
  if (!executor)
    die(executor.message());
  runtime::CPUExecutor &compiled = **executor;
  n = int(std::min<int64_t>(n, compiled.contextLength() - 1));

  std::vector<double> ours, theirs;
  for (int r = 0; r < repeat; ++r) {
    compiled.reset();
    auto logits = compiled.prefill({1});
    if (!logits)
      die(logits.message());
    auto start = Clock::now();
    for (int i = 0; i < n; ++i) {
      const float *l = *logits;
      int32_t next =
          int32_t(std::max_element(l, l + compiled.vocabSize()) - l);
      logits = compiled.decode(next);
      if (!logits)
        die(logits.message());
    }
    ours.push_back(n / seconds(start));

    std::vector<float> refLogits;
    reference->reset();
    if (Status s = reference->forward(1, 0, refLogits); !s)
      die(s.message());
    start = Clock::now();
    for (int i = 0; i < n; ++i) {
      int32_t next = reference::argmax(refLogits);
      if (Status s = reference->forward(next, i + 1, refLogits); !s)
        die(s.message());
    }
    theirs.push_back(n / seconds(start));
  }
  Stats a = stats(ours), b = stats(theirs);
  std::printf("%s: decode %d tokens x %d runs\n", packagePath.c_str(), n,
              repeat);
  std::printf("  mixq CPU kernels : %10.1f +- %7.1f tok/s\n", a.mean, a.sd);
  std::printf("  fp32 reference   : %10.1f +- %7.1f tok/s\n", b.mean, b.sd);
  std::printf("  ratio            : %10.2f x\n", a.mean / b.mean);
  return 0;
}
