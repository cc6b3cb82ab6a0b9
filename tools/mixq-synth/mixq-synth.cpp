//===- mixq-synth.cpp - Write a synthetic Llama checkpoint ----------------===//
//
// mixq-synth -o FILE --preset P [--format gguf|safetensors|llama2c]
//            [--seed S] [--dtype f32|f16|bf16] [--layers N] [--list-presets]
//            [--help]
//
// Writes a deterministic synthetic checkpoint (frontend/Synth.h). Runtime-
// only builds use it on the GPU machine, where no LLVM is installed, so the
// command line is parsed by hand rather than with llvm::cl.
//===----------------------------------------------------------------------===//

#include "frontend/Synth.h"

#include <cctype>
#include <cerrno>
#include <chrono>
#include <cinttypes>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <string>
#include <unistd.h>

using namespace mixq;

namespace {

const char *const kUsage =
    "usage: mixq-synth -o PATH --preset NAME [options]\n"
    "\n"
    "Writes a deterministic synthetic Llama checkpoint whose weights are\n"
    "heavy-tailed, with outlier channels, like a trained model's.\n"
    "\n"
    "options:\n"
    "  -o, --output PATH    file to write (a folder for safetensors)\n"
    "  --preset NAME        model shape (see --list-presets)\n"
    "  --format FORMAT      gguf (default), safetensors (Hugging Face folder)\n"
    "                       or llama2c (f32 only)\n"
    "  --seed N             random seed (default 0); same seed, same bytes\n"
    "  --dtype TYPE         f32, f16 or bf16 (default: the preset's)\n"
    "  --layers N           keep only the first N transformer blocks (a\n"
    "                       7B-shaped model of one block compiles in seconds)\n"
    "  --list-presets       print the presets and exit\n"
    "  -h, --help           print this help and exit\n";

constexpr int kExitError = 1;
constexpr int kExitUsage = 2;

int usageError(const std::string &message) {
  std::fprintf(stderr,
               "mixq-synth: error: %s\n"
               "Run 'mixq-synth --help' for usage.\n",
               message.c_str());
  return kExitUsage;
}

struct Options {
  std::string output;
  std::string preset;
  std::string format = "gguf";
  std::string dtype;
  std::string layers;
  uint64_t seed = 0;
  bool listPresets = false;
  bool help = false;
};

/// Strict unsigned 64-bit parse: decimal or 0x-prefixed hex, nothing else
/// (no sign, no spaces, no octal).
bool parseSeed(const std::string &text, uint64_t &out) {
  int base = 10;
  size_t start = 0;
  if (text.size() > 2 && text[0] == '0' && (text[1] == 'x' || text[1] == 'X')) {
    base = 16;
    start = 2;
  }
  if (start >= text.size() ||
      !std::isxdigit(static_cast<unsigned char>(text[start])))
    return false;
  errno = 0;
  char *end = nullptr;
  unsigned long long value = std::strtoull(text.c_str() + start, &end, base);
  if (errno == ERANGE || end != text.c_str() + text.size())
    return false;
  out = value;
  return true;
}

/// Parses argv into `options`; returns an exit code when parsing ends the
/// program (a usage error), -1 to go on.
int parseArgs(int argc, char **argv, Options &options) {
  for (int i = 1; i < argc; ++i) {
    std::string arg = argv[i];
    std::string name = arg, value;
    bool hasValue = false;
    if (arg.compare(0, 2, "--") == 0) {
      size_t eq = arg.find('=');
      if (eq != std::string::npos) {
        name = arg.substr(0, eq);
        value = arg.substr(eq + 1);
        hasValue = true;
      }
    } else if (arg.size() > 2 && arg[0] == '-' && arg[1] == 'o') {
      // -oPATH, as compilers accept it.
      name = "-o";
      value = arg.substr(2);
      hasValue = true;
    }

    std::string *target = nullptr;
    if (name == "-o" || name == "--output")
      target = &options.output;
    else if (name == "--preset")
      target = &options.preset;
    else if (name == "--format")
      target = &options.format;
    else if (name == "--dtype")
      target = &options.dtype;
    else if (name == "--layers")
      target = &options.layers;
    std::string seedText;
    if (name == "--seed")
      target = &seedText;

    if (target) {
      if (!hasValue) {
        if (i + 1 >= argc)
          return usageError("option '" + name + "' needs a value");
        value = argv[++i];
      }
      if (value.empty())
        return usageError("option '" + name + "' needs a non-empty value");
      *target = value;
      if (target == &seedText && !parseSeed(seedText, options.seed))
        return usageError("invalid --seed '" + seedText +
                          "' (expected an unsigned 64-bit integer)");
      continue;
    }
    bool *flag = nullptr;
    if (name == "--list-presets")
      flag = &options.listPresets;
    else if (name == "-h" || name == "--help")
      flag = &options.help;
    if (flag) {
      if (hasValue)
        return usageError("option '" + name + "' takes no value");
      *flag = true;
      continue;
    }
    if (arg.size() > 1 && arg[0] == '-')
      return usageError("unknown option '" + arg + "'");
    return usageError("unexpected argument '" + arg + "'");
  }
  return -1;
}

std::string formatCount(int64_t params) {
  char buf[32];
  if (params >= 1000000000)
    std::snprintf(buf, sizeof(buf), "%.2f B", double(params) / 1e9);
  else
    std::snprintf(buf, sizeof(buf), "%.2f M", double(params) / 1e6);
  return buf;
}

std::string formatBytes(uint64_t bytes) {
  char buf[32];
  if (bytes >= 1000000000ull)
    std::snprintf(buf, sizeof(buf), "%.2f GB", double(bytes) / 1e9);
  else
    std::snprintf(buf, sizeof(buf), "%.2f MB", double(bytes) / 1e6);
  return buf;
}

std::string formatDuration(double seconds) {
  char buf[32];
  long s = std::lround(seconds);
  if (s >= 3600)
    std::snprintf(buf, sizeof(buf), "%ld:%02ld:%02ld", s / 3600, s / 60 % 60,
                  s % 60);
  else
    std::snprintf(buf, sizeof(buf), "%ld:%02ld", s / 60, s % 60);
  return buf;
}

int listPresets() {
  std::printf("%-10s %9s %5s %7s %6s  %s\n", "preset", "params", "dtype",
              "layers", "dim", "description");
  for (const SynthPreset &p : synthPresets())
    std::printf("%-10s %9s %5s %7" PRId64 " %6" PRId64 "  %s\n", p.name.c_str(),
                formatCount(p.config.numParameters()).c_str(),
                dtypeName(p.config.weightDType), p.config.numLayers,
                p.config.dim, p.description.c_str());
  return 0;
}

/// The progress display: a redrawn bar on a terminal, a line per quarter
/// otherwise (logs and CI should not fill with carriage returns).
class ProgressDisplay {
public:
  ProgressDisplay() : tty(::isatty(STDERR_FILENO) == 1), start(now()) {}

  void update(uint64_t done, uint64_t total) {
    double elapsed = secondsSince(start);
    double fraction = total ? double(done) / double(total) : 1.0;
    double rate = elapsed > 0 ? double(done) / elapsed : 0.0;
    double eta = rate > 0 ? double(total - done) / rate : 0.0;
    if (tty) {
      if (done < total && elapsed - lastDraw < 0.1)
        return;
      lastDraw = elapsed;
      constexpr int kWidth = 30;
      int filled = int(fraction * kWidth);
      std::string bar(size_t(filled), '#');
      bar.append(size_t(kWidth - filled), '-');
      std::fprintf(stderr, "\r[%s] %5.1f%%  %s / %s  %6.0f MB/s  ETA %s ",
                   bar.c_str(), 100.0 * fraction, formatBytes(done).c_str(),
                   formatBytes(total).c_str(), rate / 1e6,
                   formatDuration(eta).c_str());
      drawn = true;
    } else {
      // A line each time another quarter is passed (a big tensor may pass
      // several at once).
      int quarter = int(fraction * 4.0);
      if (quarter <= lastQuarter)
        return;
      lastQuarter = quarter;
      std::fprintf(stderr, "mixq-synth: %3.0f%%  %s / %s  %.0f MB/s  ETA %s\n",
                   100.0 * fraction, formatBytes(done).c_str(),
                   formatBytes(total).c_str(), rate / 1e6,
                   formatDuration(eta).c_str());
    }
    std::fflush(stderr);
  }

  /// Ends the bar's line so that later output starts on a fresh one.
  void finish() {
    if (drawn)
      std::fputc('\n', stderr);
    drawn = false;
  }

  double elapsed() const { return secondsSince(start); }

private:
  using Clock = std::chrono::steady_clock;
  static Clock::time_point now() { return Clock::now(); }
  static double secondsSince(Clock::time_point t) {
    return std::chrono::duration<double>(now() - t).count();
  }

  bool tty;
  Clock::time_point start;
  double lastDraw = -1.0;
  int lastQuarter = 0;
  bool drawn = false;
};

/// Bytes on disk at `path` (a file, or a folder's files).
uint64_t diskBytes(const std::string &path) {
  namespace fs = std::filesystem;
  std::error_code ec;
  if (fs::is_regular_file(path, ec))
    return fs::file_size(path, ec);
  uint64_t total = 0;
  for (fs::recursive_directory_iterator it(path, ec), end; !ec && it != end;
       it.increment(ec)) {
    std::error_code sizeError;
    if (it->is_regular_file(sizeError)) {
      uintmax_t size = it->file_size(sizeError);
      if (!sizeError)
        total += size;
    }
  }
  return total;
}

} // namespace

int main(int argc, char **argv) {
  Options options;
  if (int code = parseArgs(argc, argv, options); code >= 0)
    return code;
  if (options.help) {
    std::fputs(kUsage, stdout);
    return 0;
  }
  if (options.listPresets)
    return listPresets();
  if (options.output.empty())
    return usageError("no output path (-o PATH)");
  if (options.preset.empty())
    return usageError("no preset (--preset NAME; see --list-presets)");

  Expected<ModelConfig> config = presetConfig(options.preset);
  if (!config)
    return usageError(config.message());
  if (options.format != "gguf" && options.format != "safetensors" &&
      options.format != "llama2c")
    return usageError("unknown format '" + options.format +
                      "' (formats: gguf, safetensors, llama2c)");
  std::optional<DType> dtype;
  if (!options.dtype.empty()) {
    if (options.dtype == "f32")
      dtype = DType::F32;
    else if (options.dtype == "f16")
      dtype = DType::F16;
    else if (options.dtype == "bf16")
      dtype = DType::BF16;
    else
      return usageError("unknown --dtype '" + options.dtype +
                        "' (types: f32, f16, bf16)");
  }
  if (!options.layers.empty()) {
    char *end = nullptr;
    long layers = std::strtol(options.layers.c_str(), &end, 10);
    if (*end != '\0' || layers < 1 || layers > config->numLayers)
      return usageError("invalid --layers '" + options.layers +
                        "' (expected 1.." + std::to_string(config->numLayers) +
                        " for preset " + options.preset + ")");
    config->numLayers = layers;
  }
  DType weightType = dtype ? *dtype : config->weightDType;
  config->weightDType = weightType;
  if (options.format == "llama2c" && weightType != DType::F32)
    return usageError(std::string("the llama2c format holds f32 weights "
                                  "only, not ") +
                      dtypeName(weightType) + " (add --dtype f32)");

  int64_t params = config->numParameters();
  uint64_t bytes = uint64_t(params) * dtypeSize(weightType);
  std::printf("mixq-synth: preset %s, %s params, %s, %s, %s -> %s (seed "
              "%" PRIu64 ")\n",
              options.preset.c_str(), formatCount(params).c_str(),
              dtypeName(weightType), formatBytes(bytes).c_str(),
              options.format.c_str(), options.output.c_str(), options.seed);
  std::fflush(stdout);

  ProgressDisplay display;
  Status status = writeSynthModel(
      options.output, *config, options.format, options.seed,
      [&](uint64_t done, uint64_t total) { display.update(done, total); });
  display.finish();
  if (!status) {
    std::fprintf(stderr, "mixq-synth: error: %s\n", status.message().c_str());
    return kExitError;
  }
  double seconds = display.elapsed();
  uint64_t written = diskBytes(options.output);
  if (written == 0)
    written = bytes;
  std::printf("mixq-synth: wrote %s in %.2f s (%.0f MB/s)\n",
              formatBytes(written).c_str(), seconds,
              seconds > 0 ? double(written) / seconds / 1e6 : 0.0);
  return 0;
}
