//===- CPUExecutor.cpp - run a package's host plan on the CPU -------------===//
#include "runtime/CPUExecutor.h"

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

/// Element sizes of the dtypes a plan may bind.
int64_t dtypeBytes(const std::string &dtype) {
  static const std::map<std::string, int64_t> sizes = {
      {"f32", 4}, {"f16", 2}, {"bf16", 2}, {"i32", 4}, {"u32", 4}, {"i8", 1},
      {"u8", 1},  {"i16", 2}, {"u16", 2},  {"i64", 8}, {"u64", 8}};
  auto it = sizes.find(dtype);
  return it == sizes.end() ? 0 : it->second;
}

/// A shape whose -1 entries stand for the number of tokens S.
struct SymbolicShape {
  std::vector<int64_t> dims;
  std::vector<int64_t> resolve(int64_t tokens) const {
    std::vector<int64_t> out = dims;
    for (int64_t &d : out)
      if (d < 0)
        d = tokens;
    return out;
  }
};

Expected<SymbolicShape> parseShape(const json &j, const std::string &where) {
  if (!j.is_array() || j.empty() || j.size() > 8)
    return makeError(where, ": \"shape\" must be an array of 1 to 8 dims");
  SymbolicShape shape;
  for (const json &d : j) {
    if (!d.is_number_integer() || d.get<int64_t>() < -1 ||
        d.get<int64_t>() > (int64_t(1) << 40))
      return makeError(where, ": bad dimension ", d.dump());
    shape.dims.push_back(d.get<int64_t>());
  }
  return shape;
}

int64_t numElements(const std::vector<int64_t> &dims) {
  int64_t n = 1;
  for (int64_t d : dims)
    n *= d;
  return n;
}

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

/// One argument of a step: where its bytes are and how to describe them.
struct Binding {
  enum Kind { Weight, Buffer, Tokens, StartPos, Cache } kind = Buffer;
  int64_t index = 0;               ///< buffer or cache index
  const uint8_t *weight = nullptr; ///< for Weight
  SymbolicShape shape;
};

struct Step {
  std::string kernel;
  KernelFn fn = nullptr;
  std::vector<Binding> args;
};

struct CPUExecutor::Plan {
  std::string name;
  std::vector<SymbolicShape> bufferShapes;
  std::vector<int64_t> bufferElementBytes;
  std::vector<std::vector<uint8_t>> buffers; // sized per call, reused
  std::vector<Step> steps;
  int64_t logitsBuffer = -1;
  int64_t staticTokens = -1; ///< decode: 1; prefill: -1 (any)
  std::vector<int32_t> tokens;
};

namespace {

struct PlanParser {
  const Package &package;
  const std::map<std::string, KernelFn> &kernels;
  const std::vector<SymbolicShape> &cacheShapes;

  Expected<Binding> parseBinding(const json &j, const CPUExecutor::Plan &plan,
                                 const std::string &where) {
    Binding b;
    if (!j.is_object())
      return makeError(where, ": a binding must be an object");
    if (j.contains("buffer")) {
      b.kind = Binding::Buffer;
      if (!j["buffer"].is_number_integer() || j["buffer"].get<int64_t>() < 0 ||
          j["buffer"].get<int64_t>() >= int64_t(plan.bufferShapes.size()))
        return makeError(where, ": buffer index out of range");
      b.index = j["buffer"].get<int64_t>();
      b.shape = plan.bufferShapes[b.index];
    } else if (j.contains("cache")) {
      b.kind = Binding::Cache;
      if (!j["cache"].is_number_integer() || j["cache"].get<int64_t>() < 0 ||
          j["cache"].get<int64_t>() >= int64_t(cacheShapes.size()))
        return makeError(where, ": cache index out of range");
      b.index = j["cache"].get<int64_t>();
      b.shape = cacheShapes[b.index];
    } else if (j.contains("tokens")) {
      b.kind = Binding::Tokens;
      b.shape.dims = {plan.staticTokens};
    } else if (j.contains("start_pos")) {
      b.kind = Binding::StartPos;
    } else if (j.contains("weight") && j["weight"].is_string()) {
      b.kind = Binding::Weight;
      std::string name = j["weight"].get<std::string>();
      auto blob = package.blob(name);
      if (!blob)
        return blob.status();
      auto shape = parseShape(j.value("shape", json()), where);
      if (!shape)
        return shape.status();
      int64_t bytes = dtypeBytes(j.value("dtype", ""));
      for (int64_t d : shape->dims)
        if (d < 0)
          return makeError(where, ": weight '", name, "' has a dynamic shape");
      if (bytes == 0 ||
          uint64_t(numElements(shape->dims) * bytes) != blob->size)
        return makeError(where, ": weight '", name, "' is ", blob->size,
                         " bytes, which does not match its dtype and shape");
      b.weight = blob->data;
      b.shape = *shape;
    } else {
      return makeError(where, ": unknown binding ", j.dump());
    }
    return b;
  }

  Expected<std::unique_ptr<CPUExecutor::Plan>> parse(const std::string &name,
                                                     const json &j) {
    auto plan = std::make_unique<CPUExecutor::Plan>();
    plan->name = name;
    std::string where = package.path() + ": plan '" + name + "'";
    if (!j.is_object() || !j.contains("steps") || !j["steps"].is_array() ||
        !j.contains("buffers") || !j["buffers"].is_array())
      return makeError(where, " needs \"steps\" and \"buffers\" arrays");
    const json &tokens =
        j.value("inputs", json::object()).value("tokens", json());
    if (!tokens.is_object())
      return makeError(where, " has no \"inputs\".\"tokens\"");
    auto tokenShape = parseShape(tokens.value("shape", json()), where);
    if (!tokenShape)
      return tokenShape.status();
    if (tokenShape->dims.size() != 1)
      return makeError(where, ": tokens must be 1-D");
    plan->staticTokens = tokenShape->dims[0];
    for (const json &buffer : j["buffers"]) {
      auto shape = parseShape(buffer.value("shape", json()), where);
      if (!shape)
        return shape.status();
      int64_t bytes = dtypeBytes(buffer.value("dtype", ""));
      if (bytes == 0)
        return makeError(where, ": buffer with unknown dtype ",
                         buffer.value("dtype", json()).dump());
      plan->bufferShapes.push_back(*shape);
      plan->bufferElementBytes.push_back(bytes);
    }
    plan->buffers.resize(plan->bufferShapes.size());
    for (const json &step : j["steps"]) {
      Step s;
      if (!step.is_object() || !step.value("kernel", json()).is_string() ||
          !step.value("args", json()).is_array())
        return makeError(where, ": a step needs \"kernel\" and \"args\"");
      s.kernel = step["kernel"].get<std::string>();
      auto fn = kernels.find(s.kernel);
      if (fn == kernels.end())
        return makeError(where, ": kernel '", s.kernel,
                         "' is not in the package's CPU code");
      s.fn = fn->second;
      for (const json &arg : step["args"]) {
        auto binding = parseBinding(arg, *plan, where + " step " + s.kernel);
        if (!binding)
          return binding.status();
        s.args.push_back(*binding);
      }
      plan->steps.push_back(std::move(s));
    }
    const json &logits = j.value("logits", json());
    if (!logits.is_object() ||
        !logits.value("buffer", json()).is_number_integer())
      return makeError(where, ": \"logits\" must name a buffer");
    plan->logitsBuffer = logits["buffer"].get<int64_t>();
    if (plan->logitsBuffer < 0 ||
        plan->logitsBuffer >= int64_t(plan->bufferShapes.size()) ||
        plan->bufferElementBytes[plan->logitsBuffer] != 4)
      return makeError(where, ": \"logits\" must be an f32 buffer");
    return plan;
  }
};

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

} // namespace

Expected<std::unique_ptr<CPUExecutor>>
CPUExecutor::create(const Package &package) {
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

  const json &plans = manifest.value("plan", json());
  if (!plans.is_object() || !plans.contains("prefill") ||
      !plans.contains("decode"))
    return makeError(package.path(),
                     ": the plan needs \"prefill\" and \"decode\" entries");
  std::vector<SymbolicShape> cacheShapes;
  for (const json &cache : plans["prefill"].value("caches", json::array())) {
    auto shape =
        parseShape(cache.value("shape", json()), package.path() + ": cache");
    if (!shape)
      return shape.status();
    if (shape->dims.size() != 2 || shape->dims[0] < 1 || shape->dims[1] < 1 ||
        dtypeBytes(cache.value("dtype", "")) == 0)
      return makeError(package.path(), ": a KV cache must be a static 2-D "
                                       "buffer with a known dtype");
    int64_t bytes =
        numElements(shape->dims) * dtypeBytes(cache.value("dtype", ""));
    executor->caches_.emplace_back(new uint8_t[bytes]());
    executor->contextLength_ = shape->dims[0];
    cacheShapes.push_back(*shape);
  }
  if (plans["decode"].value("caches", json::array()) !=
      plans["prefill"].value("caches", json::array()))
    return makeError(package.path(),
                     ": prefill and decode disagree on the KV caches");
  if (cacheShapes.empty())
    executor->contextLength_ = model.value("max_seq_len", int64_t(0));

  PlanParser parser{package, kernels, cacheShapes};
  auto prefill = parser.parse("prefill", plans["prefill"]);
  if (!prefill)
    return prefill.status();
  auto decode = parser.parse("decode", plans["decode"]);
  if (!decode)
    return decode.status();
  executor->prefill_ = prefill.take();
  executor->decode_ = decode.take();
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
  return run(*decode_, {token});
}

Expected<const float *> CPUExecutor::run(Plan &plan,
                                         const std::vector<int32_t> &tokens) {
  auto count = int64_t(tokens.size());
  if (count == 0)
    return makeError("no tokens to run");
  if (plan.staticTokens > 0 && count != plan.staticTokens)
    return makeError("the ", plan.name, " plan takes ", plan.staticTokens,
                     " token(s), not ", count);
  if (position_ + count > contextLength_)
    return makeError("context overflow: ", position_, " tokens in the cache + ",
                     count, " new ones exceed the context length of ",
                     contextLength_, " (compile with a larger --max-seq-len)");
  for (size_t i = 0; i < tokens.size(); ++i)
    if (tokens[i] < 0 || tokens[i] >= vocabSize_)
      return makeError("token id ", tokens[i], " at position ", position_ + i,
                       " is outside the vocabulary (0..", vocabSize_ - 1, ")");
  plan.tokens = tokens;
  for (size_t b = 0; b < plan.buffers.size(); ++b) {
    size_t bytes = size_t(numElements(plan.bufferShapes[b].resolve(count)) *
                          plan.bufferElementBytes[b]);
    if (plan.buffers[b].size() < bytes)
      plan.buffers[b].resize(bytes);
  }

  int64_t startPos = position_;
  std::vector<int64_t> fields;
  std::vector<void *> args;
  for (Step &step : plan.steps) {
    fields.clear();
    for (const Binding &b : step.args) {
      switch (b.kind) {
      case Binding::StartPos:
        fields.push_back(startPos);
        break;
      case Binding::Tokens:
        appendDescriptor(fields, plan.tokens.data(), {count});
        break;
      case Binding::Weight:
        appendDescriptor(fields, b.weight, b.shape.dims);
        break;
      case Binding::Cache:
        appendDescriptor(fields, caches_[b.index].get(), b.shape.dims);
        break;
      case Binding::Buffer:
        appendDescriptor(fields, plan.buffers[b.index].data(),
                         b.shape.resolve(count));
        break;
      }
    }
    args.resize(fields.size());
    for (size_t i = 0; i < fields.size(); ++i)
      args[i] = &fields[i];
    step.fn(args.data());
  }
  position_ += count;
  return reinterpret_cast<const float *>(
      plan.buffers[plan.logitsBuffer].data());
}

} // namespace mixq::runtime
