//===- mixq-inspect.cpp - Summarize a .mixq package -----------------------===//
//
// mixq-inspect PKG [--json] [--weights] [--kernels] [--no-verify]
//
// Opens a package with every check of the runtime (docs/package.md) and
// prints its file, checksums, model, tokenizer, targets, plan and weight
// totals (runtime::describePackage), or the manifest itself with --json.
// Runtime-only builds have no LLVM, so the command line is parsed by hand.
//===----------------------------------------------------------------------===//

#include "runtime/Package.h"

#include <cstdio>
#include <string>

using namespace mixq;
using namespace mixq::runtime;

namespace {

const char *const kUsage =
    "usage: mixq-inspect PACKAGE [options]\n"
    "\n"
    "Checks a .mixq package (header, manifest and blob checksums, blob\n"
    "ranges) and summarizes it: model configuration, tokenizer, targets and\n"
    "kernels, plan, and weights with parameter-weighted bits/weight.\n"
    "\n"
    "options:\n"
    "  --json        print the manifest (pretty-printed JSON) instead\n"
    "  --weights     add a per-weight table (name, shape, scheme, bits/w)\n"
    "  --kernels     add the CUDA matmuls' GEMV choices (rows per warp,\n"
    "                split-K, tile, weight pipeline)\n"
    "  --no-verify   skip the blob checksums (ranges are still checked)\n"
    "  -h, --help    print this help and exit\n"
    "\n"
    "Exit status: 0 on success, 1 if the package cannot be read or is\n"
    "invalid, 2 on a usage error.\n";

constexpr int kExitError = 1;
constexpr int kExitUsage = 2;

int usageError(const std::string &message) {
  std::fprintf(stderr,
               "mixq-inspect: error: %s\n"
               "Run 'mixq-inspect --help' for usage.\n",
               message.c_str());
  return kExitUsage;
}

} // namespace

int main(int argc, char **argv) {
  std::string path;
  bool json = false, weights = false, kernels = false, verify = true,
       positionalOnly = false;
  for (int i = 1; i < argc; ++i) {
    std::string arg = argv[i];
    if (!positionalOnly && (arg == "-h" || arg == "--help")) {
      std::fputs(kUsage, stdout);
      return 0;
    }
    if (!positionalOnly && arg == "--json") {
      json = true;
    } else if (!positionalOnly && arg == "--weights") {
      weights = true;
    } else if (!positionalOnly && arg == "--kernels") {
      kernels = true;
    } else if (!positionalOnly && arg == "--no-verify") {
      verify = false;
    } else if (!positionalOnly && arg == "--") {
      positionalOnly = true;
    } else if (!positionalOnly && arg.size() > 1 && arg[0] == '-') {
      return usageError("unknown option '" + arg + "'");
    } else if (path.empty()) {
      path = arg;
    } else {
      return usageError("more than one package given ('" + path + "' and '" +
                        arg + "')");
    }
  }
  if (path.empty())
    return usageError("no package given");

  // A weightless package has no weight bytes to verify: open it without
  // checksums first, so that the error can say how to inspect it.
  PackageOpenOptions options;
  options.verifyBlobs = false;
  options.allowAbsentBlobs = true;
  auto package = Package::open(path, options);
  if (package && verify && package->weightless()) {
    std::fprintf(stderr,
                 "mixq-inspect: error: %s: a weightless package "
                 "(mixq-compile --weights=none): its %zu weight blobs are "
                 "not in the file, so their checksums cannot be verified; "
                 "--no-verify shows the package\n",
                 path.c_str(), package->absentBlobCount());
    return kExitError;
  }
  if (package && verify) {
    options.verifyBlobs = true;
    package = Package::open(path, options);
  }
  if (!package) {
    std::fprintf(stderr, "mixq-inspect: error: %s\n",
                 package.message().c_str());
    return kExitError;
  }
  std::string text;
  if (json) {
    // The reader bounds the manifest's nesting, so dump() cannot recurse
    // deeply; replace invalid UTF-8 rather than throw.
    text = package->manifest().dump(2, ' ', false,
                                    nlohmann::json::error_handler_t::replace);
    text += "\n";
  } else {
    DescribeOptions describe;
    describe.weights = weights;
    describe.kernels = kernels;
    text = describePackage(*package, describe);
  }
  if (std::fwrite(text.data(), 1, text.size(), stdout) != text.size() ||
      std::fflush(stdout) != 0) {
    std::fprintf(stderr, "mixq-inspect: error: cannot write the output\n");
    return kExitError;
  }
  return 0;
}
