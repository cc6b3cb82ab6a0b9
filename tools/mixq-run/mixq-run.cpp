//===- mixq-run.cpp - generate text with a .mixq package ------------------===//
//
// mixq-run PKG [--prompt TEXT | --tokens "1 2 3"] [-n N] [--temp T]
//          [--top-k K] [--top-p P] [--seed S] [--device auto|cpu|cuda]
//          [--print-ids] [--tokenizer tokenizer.bin] [--ignore-eos]
//          [--reference PKG2] [--schedule S | --schedule-file F] [--verbose]
//
// Streams the generated text (or ids) on stdout as it is made and reports
// prefill and decode speed on stderr. Runs on the GPU (CUDAExecutor) when
// the NVIDIA driver loads and the package has CUDA kernels, else on the CPU.
// With --reference, a second package (e.g. the fp32 compile) runs the same
// tokens in lockstep and the maximum logit difference and mean KL divergence
// are reported. A multi-width package (mixq-compile --widths) decodes at
// the widths of --schedule (runtime/Schedule.h), reporting the average bits
// per weight read per token.
//===----------------------------------------------------------------------===//
#include "runtime/CPUExecutor.h"
#include "runtime/Executor.h"
#include "runtime/Package.h"
#include "runtime/Sampler.h"
#include "runtime/Schedule.h"
#include "runtime/Tokenizer.h"
#include "runtime/cuda/CUDAExecutor.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <iostream>
#include <optional>
#include <sstream>
#include <string>
#include <vector>

using namespace mixq;
using namespace mixq::runtime;

namespace {

const char *kUsage = R"(usage: mixq-run PKG [options]

Generates text with a compiled .mixq package.

input (one of):
  --prompt TEXT       text to encode with the package's tokenizer (with BOS)
  --tokens "1 2 3"    token ids, space separated (default: BOS alone)
generation:
  -n N                tokens to generate (default 128; stops early at EOS)
  --temp T            temperature; 0 = greedy (default 0)
  --top-k K           keep the K most likely tokens (default 0 = off)
  --top-p P           nucleus sampling mass, 0 < P <= 1 (default 1 = off)
  --seed S            sampling seed (default 0)
  --ignore-eos        keep generating after EOS
output:
  --print-ids         print token ids (space separated) instead of text
  --tokenizer FILE    a llama2.c tokenizer.bin to use instead of the package's
  --reference PKG2    run PKG2 (on the CPU) on the same tokens and report the
                      max logit difference and the mean KL(PKG2 || PKG) per
                      position
progressive decoding (packages compiled with --widths):
  --schedule S        decode widths: 3 (uniform), 4:64,3:192,2 (4 for 64
                      decode steps, 3 for 192, then 2) or
                      adaptive[:down=0.5,up=0.2,window=8] (step down after
                      `window` steps with a top-1 probability margin >= down,
                      up after one below up); default: the package's first
                      width
  --schedule-file F   the schedule of a mixq-schedule JSON file
  --verbose           print every decode step's width on stderr
device:
  --device D          auto (default: CUDA if usable, else the CPU), cpu, cuda
                      (MIXQ_CUDA_SYNC=1: synchronize after every kernel, so
                      that a GPU fault names its kernel)
  -h, --help          this text
)";

[[noreturn]] void die(const std::string &message) {
  std::fprintf(stderr, "mixq-run: error: %s\n", message.c_str());
  std::exit(1);
}

struct Options {
  std::string package, prompt, tokens, tokenizer, reference;
  std::string schedule, scheduleFile;
  bool verbose = false;
  bool havePrompt = false, haveTokens = false;
  int64_t count = 128;
  SamplingOptions sampling;
  std::string device = "auto";
  bool printIds = false, ignoreEos = false;
};

template <typename T>
T parseNumber(const std::string &flag, const std::string &text) {
  std::istringstream in(text);
  T value;
  if (!(in >> value) || !in.eof())
    die(flag + " expects a number, not '" + text + "'");
  return value;
}

Options parseArguments(int argc, char **argv) {
  Options o;
  auto next = [&](int &i, const std::string &flag) -> std::string {
    if (i + 1 >= argc)
      die(flag + " needs a value");
    return argv[++i];
  };
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    if (a == "-h" || a == "--help") {
      std::fputs(kUsage, stdout);
      std::exit(0);
    } else if (a == "--prompt") {
      o.prompt = next(i, a);
      o.havePrompt = true;
    } else if (a == "--tokens") {
      o.tokens = next(i, a);
      o.haveTokens = true;
    } else if (a == "-n") {
      o.count = parseNumber<int64_t>(a, next(i, a));
    } else if (a == "--temp") {
      o.sampling.temperature = parseNumber<float>(a, next(i, a));
    } else if (a == "--top-k") {
      o.sampling.topK = parseNumber<int32_t>(a, next(i, a));
    } else if (a == "--top-p") {
      o.sampling.topP = parseNumber<float>(a, next(i, a));
    } else if (a == "--seed") {
      o.sampling.seed = parseNumber<uint64_t>(a, next(i, a));
    } else if (a == "--device") {
      o.device = next(i, a);
    } else if (a == "--print-ids") {
      o.printIds = true;
    } else if (a == "--ignore-eos") {
      o.ignoreEos = true;
    } else if (a == "--tokenizer") {
      o.tokenizer = next(i, a);
    } else if (a == "--reference") {
      o.reference = next(i, a);
    } else if (a == "--schedule") {
      o.schedule = next(i, a);
    } else if (a == "--schedule-file") {
      o.scheduleFile = next(i, a);
    } else if (a == "--verbose") {
      o.verbose = true;
    } else if (!a.empty() && a[0] == '-') {
      die("unknown option '" + a + "' (see --help)");
    } else if (o.package.empty()) {
      o.package = a;
    } else {
      die("unexpected argument '" + a + "' (one package at a time)");
    }
  }
  if (o.package.empty())
    die("no package given (see --help)");
  if (o.havePrompt && o.haveTokens)
    die("give --prompt or --tokens, not both");
  if (o.count < 0)
    die("-n must be >= 0");
  if (!o.schedule.empty() && !o.scheduleFile.empty())
    die("give --schedule or --schedule-file, not both");
  if (o.device != "auto" && o.device != "cpu" && o.device != "cuda")
    die("--device must be auto, cpu or cuda, not '" + o.device + "'");
  if (Status s = validate(o.sampling); !s)
    die(s.message());
  return o;
}

/// The executor mixq-run drives: the CPU or the CUDA one.
using Model = runtime::Executor;

/// The CUDA executor for `package`, or null with `why` set: no driver, no
/// CUDA kernels in the package, or the executor's own error (chip, memory,
/// JIT...).
std::unique_ptr<Model> openCUDA(const Package &package, std::string &why) {
  auto driver = cuda::loadCUDADriver();
  if (!driver) {
    why = driver.message();
    return nullptr;
  }
  if (!package.manifest()
           .value("targets", nlohmann::json::object())
           .contains("cuda")) {
    why = "the package has no CUDA kernels (compile it with --target=cuda "
          "or --target=all)";
    return nullptr;
  }
  CUDAExecutorOptions options;
  const char *sync = std::getenv("MIXQ_CUDA_SYNC");
  options.synchronizeEveryStep = sync && std::string(sync) != "0";
  auto executor = CUDAExecutor::create(package, **driver, options);
  if (!executor) {
    why = executor.message();
    return nullptr;
  }
  std::fprintf(stderr, "mixq-run: cuda: %s, %s PTX, %s of device memory%s\n",
               (*executor)->deviceName().c_str(), (*executor)->chip().c_str(),
               formatByteSize((*executor)->deviceBytes()).c_str(),
               options.synchronizeEveryStep
                   ? " (MIXQ_CUDA_SYNC: synchronizing after every kernel)"
                   : "");
  return std::make_unique<runtime::ExecutorAdapter<CUDAExecutor>>(executor.take());
}

std::unique_ptr<Model> openCPU(const Package &package) {
  auto executor = CPUExecutor::create(package);
  if (!executor)
    die(executor.message());
  return std::make_unique<runtime::ExecutorAdapter<CPUExecutor>>(executor.take());
}

/// --device: cuda, or auto with a CUDA executor when one can be made (else
/// a note and the CPU), or cpu. `device` is set to the one chosen.
std::unique_ptr<Model> openModel(const Options &o, const Package &package,
                                 std::string &device) {
  if (o.device != "cpu") {
    std::string why;
    if (std::unique_ptr<Model> model = openCUDA(package, why)) {
      device = "cuda";
      return model;
    }
    if (o.device == "cuda")
      die("--device cuda: " + why);
    std::fprintf(stderr, "mixq-run: note: running on the CPU: %s\n",
                 why.c_str());
  }
  device = "cpu";
  return openCPU(package);
}

std::vector<int32_t> parseTokenIds(const std::string &text) {
  std::vector<int32_t> ids;
  std::istringstream in(text);
  std::string word;
  while (in >> word) {
    char *end = nullptr;
    errno = 0;
    long long v = std::strtoll(word.c_str(), &end, 10);
    if (*end || errno || v < INT32_MIN || v > INT32_MAX)
      die("--tokens: '" + word + "' is not a token id");
    ids.push_back(int32_t(v));
  }
  if (ids.empty())
    die("--tokens is empty");
  return ids;
}

std::optional<Tokenizer> loadTokenizer(const Options &o, const Package &pkg,
                                       int64_t vocab) {
  if (o.tokenizer.empty()) {
    auto tokenizer = tokenizerFromManifest(pkg.manifest());
    if (!tokenizer)
      die(tokenizer.message());
    return tokenizer.take();
  }
  auto spec = loadLlama2cTokenizer(o.tokenizer, int32_t(vocab));
  if (!spec)
    die(spec.message());
  auto tokenizer = Tokenizer::create(spec.take());
  if (!tokenizer)
    die(tokenizer.message());
  return tokenizer.take();
}

/// `text` with every byte that is not part of a well-formed UTF-8 sequence
/// replaced by U+FFFD, so that a terminal never receives raw binary (a model
/// can emit any byte token).
std::string sanitizeUtf8(const std::string &text) {
  std::string out;
  size_t i = 0;
  while (i < text.size()) {
    auto c = static_cast<unsigned char>(text[i]);
    size_t length = c < 0x80           ? 1
                    : (c >> 5) == 0x6  ? 2
                    : (c >> 4) == 0xE  ? 3
                    : (c >> 3) == 0x1E ? 4
                                       : 0;
    bool valid = length > 0 && i + length <= text.size();
    for (size_t k = 1; valid && k < length; ++k)
      valid = (static_cast<unsigned char>(text[i + k]) >> 6) == 0x2;
    if (valid && (c < 0x20 && c != '\n' && c != '\t'))
      valid = false; // control bytes
    if (valid) {
      out.append(text, i, length);
      i += length;
    } else {
      out += "\xEF\xBF\xBD";
      ++i;
    }
  }
  return out;
}

double seconds(std::chrono::steady_clock::time_point since) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - since)
      .count();
}

/// Max |a - b| and KL(softmax(ref) || softmax(test)) of one logit row.
void compareLogits(const float *test, const float *ref, int64_t n,
                   double &maxDiff, double &kl) {
  for (int64_t i = 0; i < n; ++i)
    maxDiff = std::max(maxDiff, double(std::fabs(test[i] - ref[i])));
  kl = klDivergence(ref, test, n);
}

/// The width policy of --schedule or --schedule-file (null: none given, the
/// package's default width).
std::unique_ptr<WidthPolicy> makePolicy(const Options &o, Model &model) {
  if (o.schedule.empty() && o.scheduleFile.empty())
    return nullptr;
  auto spec = o.scheduleFile.empty() ? parseSchedule(o.schedule)
                                     : readScheduleFile(o.scheduleFile);
  if (!spec)
    die(spec.message());
  // Checks every width the schedule names against the package's, so a bad
  // schedule fails here, not at the step that first picks the width.
  auto policy = makeWidthPolicy(*spec, model.decodeWidths());
  if (!policy)
    die(policy.message());
  return policy.take();
}

/// "4 x64, 3 x192, 2 x44": the run of widths, step counts per run.
std::string describeStepWidths(const std::vector<int> &widths) {
  std::string text;
  for (size_t i = 0; i < widths.size();) {
    size_t j = i;
    while (j < widths.size() && widths[j] == widths[i])
      ++j;
    text += (text.empty() ? "" : ", ") + std::to_string(widths[i]) + " x" +
            std::to_string(j - i);
    i = j;
  }
  return text.empty() ? "none" : text;
}

} // namespace

int main(int argc, char **argv) {
  Options o = parseArguments(argc, argv);
  auto package = Package::open(o.package);
  if (!package)
    die(package.message());

  std::string device;
  std::unique_ptr<Model> modelPtr = openModel(o, *package, device);
  Model &model = *modelPtr;

  std::optional<Package> refPackage;
  std::unique_ptr<CPUExecutor> reference;
  if (!o.reference.empty()) {
    auto p = Package::open(o.reference);
    if (!p)
      die(p.message());
    refPackage.emplace(p.take());
    auto e = CPUExecutor::create(*refPackage);
    if (!e)
      die(e.message());
    reference = e.take();
    if (reference->vocabSize() != model.vocabSize())
      die("--reference: the vocabularies differ (" +
          std::to_string(reference->vocabSize()) + " vs " +
          std::to_string(model.vocabSize()) + ")");
  }

  std::optional<Tokenizer> tokenizer =
      loadTokenizer(o, *package, model.vocabSize());
  std::vector<int32_t> prompt;
  if (o.havePrompt) {
    if (!tokenizer)
      die("--prompt needs a tokenizer: the package has none; give "
          "--tokenizer tokenizer.bin or --tokens");
    auto ids = tokenizer->encode(o.prompt, /*addBos=*/true);
    if (!ids)
      die(ids.message());
    prompt = ids.take();
  } else if (o.haveTokens) {
    prompt = parseTokenIds(o.tokens);
  } else {
    prompt = {tokenizer ? tokenizer->bos() : 1};
  }
  if (int64_t(prompt.size()) > model.contextLength())
    die("the prompt has " + std::to_string(prompt.size()) +
        " tokens but the context holds " +
        std::to_string(model.contextLength()));
  int32_t eos = tokenizer ? tokenizer->eos() : -1;
  if (!tokenizer && !o.printIds)
    std::fprintf(stderr, "mixq-run: note: the package has no tokenizer; "
                         "printing token ids\n");
  bool printIds = o.printIds || !tokenizer;

  std::unique_ptr<WidthPolicy> policy = makePolicy(o, model);
  ScheduledDecoder decoder(model, std::move(policy));

  Sampler sampler(o.sampling);
  double maxDiff = 0, klSum = 0;
  int64_t compared = 0;
  auto compare = [&](const float *logits, const float *refLogits) {
    double kl = 0;
    compareLogits(logits, refLogits, model.vocabSize(), maxDiff, kl);
    klSum += kl;
    ++compared;
  };

  auto start = std::chrono::steady_clock::now();
  auto logits = decoder.prefill(prompt);
  if (!logits)
    die(logits.message());
  double prefillSeconds = seconds(start);
  if (reference) {
    auto r = reference->prefill(prompt);
    if (!r)
      die(r.message());
    compare(*logits, *r);
  }

  TextStreamer streamer;
  int32_t previous = prompt.back();
  int64_t generated = 0;
  double decodeSeconds = 0;
  for (int64_t i = 0; i < o.count; ++i) {
    auto next = sampler.sample(*logits, size_t(model.vocabSize()));
    if (!next)
      die(next.message());
    if (printIds) {
      std::printf("%s%d", generated ? " " : "", *next);
    } else {
      auto piece = tokenizer->decode(previous, *next);
      if (!piece)
        die(piece.message());
      std::fputs(sanitizeUtf8(streamer.push(*piece)).c_str(), stdout);
    }
    std::fflush(stdout);
    ++generated;
    previous = *next;
    if (*next == eos && !o.ignoreEos)
      break;
    if (i + 1 == o.count)
      break;
    if (model.position() >= model.contextLength()) {
      std::fprintf(stderr,
                   "\nmixq-run: note: stopped at the context length "
                   "(%lld tokens)\n",
                   (long long)model.contextLength());
      break;
    }
    auto stepStart = std::chrono::steady_clock::now();
    logits = decoder.decode(*next);
    decodeSeconds += seconds(stepStart);
    if (!logits)
      die(logits.message());
    if (o.verbose && model.decodeWidth() > 0)
      std::fprintf(stderr, "mixq-run: decode step %zu: width %d\n",
                   decoder.stepWidths().size() - 1, model.decodeWidth());
    if (reference) {
      auto r = reference->decode(*next);
      if (!r)
        die(r.message());
      compare(*logits, *r);
    }
  }
  if (!printIds)
    std::fputs(sanitizeUtf8(streamer.flush()).c_str(), stdout);
  std::printf("\n");

  int64_t decoded = generated > 0 ? generated - 1 : 0;
  std::fprintf(stderr,
               "mixq-run: %s: prefill %zu tokens in %.3f s (%.1f tok/s), "
               "decode %lld tokens in %.3f s (%.1f tok/s)\n",
               device.c_str(), prompt.size(), prefillSeconds,
               prompt.size() / std::max(prefillSeconds, 1e-9),
               (long long)decoded, decodeSeconds,
               decoded / std::max(decodeSeconds, 1e-9));
  if (!model.decodeWidths().empty())
    std::fprintf(
        stderr,
        "mixq-run: widths: %s over %zu decode steps; average "
        "%.4f bits/weight read (%s per step)\n",
        describeStepWidths(decoder.stepWidths()).c_str(),
        decoder.stepWidths().size(), decoder.averageBitsPerWeight(),
        formatByteSize(uint64_t(decoder.averageBytesPerStep())).c_str());
  if (reference)
    std::fprintf(stderr,
                 "mixq-run: vs %s over %lld positions: max |logit diff| "
                 "%.6g, mean KL %.6g nats\n",
                 o.reference.c_str(), (long long)compared, maxDiff,
                 klSum / std::max<int64_t>(compared, 1));
  return 0;
}
