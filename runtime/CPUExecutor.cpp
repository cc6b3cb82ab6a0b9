//===- CPUExecutor.cpp - run a package's host plan on the CPU -------------===//
#include "runtime/CPUExecutor.h"
#include "runtime/Plan.h"

#include <cstring>
#include <dlfcn.h>
#include <map>
#include <string>
#include <sys/mman.h>
#include <unistd.h>

using json = nlohmann::json;

namespace mixq::runtime {
namespace {

using KernelFn = void (*)(void **);

/// Loads the shared object from memory: a memfd keeps it off the disk. The
/// descriptor stays open while the library is loaded: glibc identifies
/// libraries by path, and a reused /proc/self/fd/N would return another
/// package's kernels.
Expected<void *> loadLibrary(const Blob &object, const std::string &package,
                             int &fdOut) {
  int fd = memfd_create("mixq-cpu-kernels", MFD_CLOEXEC);
  if (fd < 0)
    return makeError(package,
                     ": cannot create an in-memory file for the "
                     "CPU kernels: ",
                     std::strerror(errno));
  size_t written = 0;
  while (written < object.size) {
    ssize_t n = ::write(fd, object.data + written, object.size - written);
    if (n <= 0) {
      ::close(fd);
      return makeError(
          package, ": cannot stage the CPU kernels: ", std::strerror(errno));
    }
    written += size_t(n);
  }
  std::string path = "/proc/self/fd/" + std::to_string(fd);
  void *library = dlopen(path.c_str(), RTLD_NOW | RTLD_LOCAL);
  if (!library) {
    ::close(fd);
    const char *why = dlerror();
    return makeError(package, ": cannot load the CPU kernels: ",
                     why ? why : "unknown dlopen error",
                     " (was the package compiled for this CPU? see "
                     "targets.cpu in mixq-inspect)");
  }
  fdOut = fd;
  return library;
}

} // namespace

struct CPUExecutor::Plan {
  ParsedPlan parsed;
  std::vector<KernelFn> fns;                 // one per step
  std::vector<std::vector<uint8_t>> buffers; // sized per call, reused
  std::vector<int32_t> tokens;
};

namespace {

/// An MLIR memref descriptor flattened into 8-byte fields: allocated
/// pointer, aligned pointer, offset, sizes, strides (row-major).
void appendDescriptor(std::vector<int64_t> &fields, const void *data,
                      const std::vector<int64_t> &dims) {
  auto address = int64_t(reinterpret_cast<intptr_t>(data));
  fields.push_back(address);
  fields.push_back(address);
  fields.push_back(0);
  for (int64_t d : dims)
    fields.push_back(d);
  int64_t stride = 1;
  std::vector<int64_t> strides(dims.size());
  for (size_t i = dims.size(); i-- > 0;) {
    strides[i] = stride;
    stride *= dims[i];
  }
  for (int64_t s : strides)
    fields.push_back(s);
}

/// The plan with its kernels resolved (parsing checked that they exist).
std::unique_ptr<CPUExecutor::Plan>
bindPlan(ParsedPlan parsed, const std::map<std::string, KernelFn> &kernels) {
  auto plan = std::make_unique<CPUExecutor::Plan>();
  for (const PlanStep &step : parsed.steps)
    plan->fns.push_back(kernels.at(step.kernel));
  plan->buffers.resize(parsed.bufferShapes.size());
  plan->parsed = std::move(parsed);
  return plan;
}

} // namespace

Expected<std::unique_ptr<CPUExecutor>>
CPUExecutor::create(const Package &package) {
  // The CPU runs the package's own weights in place: there are none here.
  if (package.weightless())
    return makeError(package.path(),
                     ": a weightless package (mixq-compile --weights=none) "
                     "cannot run on the CPU: its weight bytes are not in the "
                     "file");
  const json &manifest = package.manifest();
  const json &cpu =
      manifest.value("targets", json::object()).value("cpu", json());
  if (!cpu.is_object())
    return makeError(package.path(), ": the package has no CPU code "
                                     "(compile it with --target=cpu)");
  const json &model = manifest.value("model", json());
  if (!model.is_object() ||
      !model.value("vocab_size", json()).is_number_integer())
    return makeError(package.path(), ": the manifest has no model config");

  std::unique_ptr<CPUExecutor> executor(new CPUExecutor());
  executor->vocabSize_ = model["vocab_size"].get<int64_t>();
  auto object = package.blob(cpu.value("object", ""));
  if (!object)
    return object.status();
  auto library = loadLibrary(*object, package.path(), executor->libraryFd_);
  if (!library)
    return library.status();
  executor->library_ = *library;

  std::map<std::string, KernelFn> kernels;
  for (const json &kernel : cpu.value("kernels", json::array())) {
    std::string name = kernel.value("name", ""),
                symbol = kernel.value("symbol", "");
    void *fn = dlsym(executor->library_, symbol.c_str());
    if (!fn)
      return makeError(package.path(), ": CPU kernel '", name,
                       "' has no symbol '", symbol, "' in the kernel library");
    kernels[name] = reinterpret_cast<KernelFn>(fn);
  }

  auto plans = parsePackagePlans(
      package,
      [&](const std::string &kernel, const std::string &where) -> Status {
        if (!kernels.count(kernel))
          return makeError(where, ": kernel '", kernel,
                           "' is not in the package's CPU code");
        return Status::success();
      });
  if (!plans)
    return plans.status();
  executor->contextLength_ = plans->contextLength;
  for (const CacheSpec &cache : plans->caches)
    executor->caches_.emplace_back(new uint8_t[cache.bytes()]());
  executor->prefill_ = bindPlan(std::move(plans->prefill), kernels);
  if (plans->decodeWidths.empty())
    executor->decodes_.push_back(bindPlan(std::move(plans->decode), kernels));
  for (DecodeWidthPlan &width : plans->decodeWidths) {
    executor->widths_.push_back(width.info);
    executor->decodes_.push_back(bindPlan(std::move(width.plan), kernels));
  }
  return executor;
}

CPUExecutor::~CPUExecutor() {
  if (library_)
    dlclose(library_);
  if (libraryFd_ >= 0)
    ::close(libraryFd_);
}

Expected<const float *>
CPUExecutor::prefill(const std::vector<int32_t> &tokens) {
  return run(*prefill_, tokens);
}

Expected<const float *> CPUExecutor::decode(int32_t token) {
  return run(*decodes_[widthIndex_], {token});
}

Status CPUExecutor::setDecodeWidth(int width) {
  auto index = findDecodeWidth(widths_, width);
  if (!index)
    return index.status();
  widthIndex_ = *index;
  return Status::success();
}

Expected<const float *> CPUExecutor::run(Plan &plan,
                                         const std::vector<int32_t> &tokens) {
  if (Status s = checkCallTokens(plan.parsed, tokens, position_, contextLength_,
                                 vocabSize_);
      !s)
    return s;
  auto count = int64_t(tokens.size());
  plan.tokens = tokens;
  for (size_t b = 0; b < plan.buffers.size(); ++b) {
    size_t bytes =
        size_t(numElements(plan.parsed.bufferShapes[b].resolve(count)) *
               plan.parsed.bufferElementBytes[b]);
    if (plan.buffers[b].size() < bytes)
      plan.buffers[b].resize(bytes);
  }

  int64_t startPos = position_;
  std::vector<int64_t> fields;
  std::vector<void *> args;
  for (size_t i = 0; i < plan.parsed.steps.size(); ++i) {
    fields.clear();
    for (const PlanBinding &b : plan.parsed.steps[i].args) {
      switch (b.kind) {
      case PlanBinding::StartPos:
        fields.push_back(startPos);
        break;
      case PlanBinding::Tokens:
        appendDescriptor(fields, plan.tokens.data(), {count});
        break;
      case PlanBinding::Weight:
        appendDescriptor(fields, b.weight.data, b.shape.dims);
        break;
      case PlanBinding::Cache:
        appendDescriptor(fields, caches_[b.index].get(), b.shape.dims);
        break;
      case PlanBinding::Buffer:
        appendDescriptor(fields, plan.buffers[b.index].data(),
                         b.shape.resolve(count));
        break;
      }
    }
    args.resize(fields.size());
    for (size_t f = 0; f < fields.size(); ++f)
      args[f] = &fields[f];
    plan.fns[i](args.data());
  }
  position_ += count;
  return reinterpret_cast<const float *>(
      plan.buffers[plan.parsed.logitsBuffer].data());
}

} // namespace mixq::runtime
