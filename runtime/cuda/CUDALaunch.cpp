//===- CUDALaunch.cpp - the CUDA executor's pure bookkeeping --------------===//
#include "runtime/cuda/CUDALaunch.h"

#include <algorithm>
#include <cctype>
#include <cstdio>
#include <cstring>

using json = nlohmann::json;

namespace mixq::runtime::cuda {
namespace {

bool isInteger(const json &j, int64_t min, int64_t max) {
  return j.is_number_integer() && j.get<int64_t>() >= min &&
         j.get<int64_t>() <= max;
}

Status parseBlock(const json &j, KernelLaunchSpec &spec,
                  const std::string &where) {
  const json &block = j.value("block", json());
  bool ok = block.is_array() && block.size() == 3;
  int64_t threads = 1;
  for (size_t i = 0; ok && i < 3; ++i) {
    ok = isInteger(block[i], 1, 1024);
    if (ok) {
      spec.block[i] = block[i].get<int64_t>();
      threads *= spec.block[i];
    }
  }
  if (!ok || threads > 1024)
    return makeError(where, ": \"block\" must be 3 positive integers with a "
                            "product of at most 1024");
  return Status::success();
}

Status parseGrid(const json &j, KernelLaunchSpec &spec,
                 const std::string &where) {
  const json &grid = j.value("grid", json());
  bool ok = grid.is_array() && grid.size() == 3;
  for (size_t i = 0; ok && i < 3; ++i) {
    ok = grid[i].is_object() &&
         isInteger(grid[i].value("count", json()), 1, int64_t(1) << 31) &&
         isInteger(grid[i].value("tokens_per_block", json()), 0,
                   int64_t(1) << 31);
    if (ok)
      spec.grid[i] = {grid[i]["count"].get<int64_t>(),
                      grid[i]["tokens_per_block"].get<int64_t>()};
  }
  if (!ok)
    return makeError(where, ": \"grid\" must be 3 objects with a positive "
                            "\"count\" and a \"tokens_per_block\" >= 0");
  return Status::success();
}

Expected<KernelLaunchSpec> parseKernel(const json &j, const std::string &at) {
  KernelLaunchSpec spec;
  if (!j.is_object() || !j.value("name", json()).is_string() ||
      !j.value("entry", json()).is_string())
    return makeError(at, ": a kernel needs a \"name\" and an \"entry\"");
  spec.name = j["name"].get<std::string>();
  spec.entry = j["entry"].get<std::string>();
  std::string where = at + " ('" + spec.name + "')";
  if (Status s = parseBlock(j, spec, where); !s)
    return s;
  if (Status s = parseGrid(j, spec, where); !s)
    return s;
  const json &shared = j.value("shared_bytes", json(0));
  if (!isInteger(shared, 0, int64_t(1) << 31))
    return makeError(where, ": \"shared_bytes\" must be an integer >= 0");
  spec.sharedBytes = shared.get<int64_t>();
  const json &workspace = j.value("workspace_bytes", json(0));
  if (!isInteger(workspace, 0, int64_t(1) << 40))
    return makeError(where, ": \"workspace_bytes\" must be an integer >= 0");
  spec.workspaceBytes = workspace.get<int64_t>();
  return spec;
}

Status parsePTX(const Package &package, const json &ptx, CUDATarget &out) {
  std::string where = package.path() + ": targets.cuda.ptx";
  if (!ptx.is_object() || ptx.empty())
    return makeError(where, " must map chips to PTX blobs");
  for (const auto &[chip, blob] : ptx.items()) {
    if (!blob.is_string())
      return makeError(where, ".", chip, " must name a blob");
    if (!package.hasBlob(blob.get<std::string>()))
      return makeError(where, ".", chip, ": blob '", blob.get<std::string>(),
                       "' is not in the package");
    out.ptx[chip] = blob.get<std::string>();
  }
  return Status::success();
}

Status parseProgrammaticLaunch(const Package &package, const json &chips,
                               CUDATarget &out) {
  if (chips.is_null())
    return Status::success();
  std::string where = package.path() + ": targets.cuda.programmatic_launch";
  if (!chips.is_array())
    return makeError(where, " must be an array of chips");
  for (const json &chip : chips) {
    if (!chip.is_string())
      return makeError(where, " must be an array of chips");
    if (!out.ptx.count(chip.get<std::string>()))
      return makeError(where, " names ", chip.get<std::string>(),
                       ", which has no PTX in targets.cuda.ptx");
    out.programmaticLaunch.insert(chip.get<std::string>());
  }
  return Status::success();
}

/// sm_86 -> 86 and no suffix; sm_90a -> 90 and "a"; -1 if not a chip name.
int parseChip(const std::string &chip, std::string &suffix) {
  if (chip.size() < 5 || chip.compare(0, 3, "sm_") != 0)
    return -1;
  size_t end = 3;
  while (end < chip.size() && end < 6 && std::isdigit((unsigned char)chip[end]))
    ++end;
  if (end == 3)
    return -1;
  suffix = chip.substr(end);
  if (suffix != "" && suffix != "a" && suffix != "f")
    return -1;
  return std::stoi(chip.substr(3, end - 3));
}

std::string chipList(const std::map<std::string, std::string> &ptx) {
  std::string out;
  for (const auto &entry : ptx)
    out += (out.empty() ? "" : ", ") + entry.first;
  return out;
}

/// Step index of every use of each buffer: [first, last].
std::vector<std::pair<int64_t, int64_t>> bufferLifetimes(const ParsedPlan &p) {
  std::vector<std::pair<int64_t, int64_t>> live(p.bufferShapes.size(),
                                                {-1, -1});
  for (size_t s = 0; s < p.steps.size(); ++s)
    for (const PlanBinding &b : p.steps[s].args)
      if (b.kind == PlanBinding::Buffer) {
        auto &[first, last] = live[b.index];
        if (first < 0)
          first = int64_t(s);
        last = int64_t(s);
      }
  // The logits are read back after the last step.
  if (p.logitsBuffer >= 0) {
    auto &[first, last] = live[p.logitsBuffer];
    if (first < 0)
      first = 0;
    last = int64_t(p.steps.size());
  }
  return live;
}

uint64_t alignUp(uint64_t n) {
  uint64_t a = DeviceLayout::kAlignment;
  return (n + a - 1) / a * a;
}

} // namespace

Expected<CUDATarget> parseCUDATarget(const Package &package) {
  const json &cuda =
      package.manifest().value("targets", json::object()).value("cuda", json());
  if (!cuda.is_object())
    return makeError(package.path(), ": the package has no CUDA kernels "
                                     "(compile it with --target=cuda)");
  std::string abi = cuda.value("abi", json()).is_string()
                        ? cuda["abi"].get<std::string>()
                        : "?";
  if (abi != kCUDAKernelABI)
    return makeError(package.path(), ": the CUDA kernels use ABI '", abi,
                     "', but this runtime implements ", kCUDAKernelABI,
                     " (use a mixq-run from the same mixq as mixq-compile)");
  CUDATarget target;
  if (Status s = parsePTX(package, cuda.value("ptx", json()), target); !s)
    return s;
  if (Status s = parseProgrammaticLaunch(
          package, cuda.value("programmatic_launch", json()), target);
      !s)
    return s;
  const json &kernels = cuda.value("kernels", json());
  if (!kernels.is_array())
    return makeError(package.path(), ": targets.cuda.kernels must be an array");
  for (size_t i = 0; i < kernels.size(); ++i) {
    auto spec =
        parseKernel(kernels[i], package.path() + ": targets.cuda.kernels[" +
                                    std::to_string(i) + "]");
    if (!spec)
      return spec.status();
    std::vector<KernelLaunchSpec> &entries = target.kernels[spec->name];
    if (!entries.empty() &&
        entries.front().workspaceBytes != spec->workspaceBytes)
      return makeError(package.path(), ": targets.cuda.kernels[", i,
                       "]: the "
                       "entries of kernel '",
                       spec->name,
                       "' disagree on "
                       "\"workspace_bytes\"");
    for (const KernelLaunchSpec &other : entries)
      if (other.entry == spec->entry)
        return makeError(package.path(), ": targets.cuda.kernels has entry '",
                         spec->entry, "' of kernel '", spec->name, "' twice");
    entries.push_back(*spec);
  }
  return target;
}

int64_t CUDATarget::workspaceBytes() const {
  int64_t bytes = 0;
  for (const auto &[name, entries] : kernels)
    for (const KernelLaunchSpec &entry : entries)
      bytes = std::max(bytes, entry.workspaceBytes);
  return bytes;
}

Expected<std::array<unsigned, 3>> gridFor(const KernelLaunchSpec &spec,
                                          int64_t tokens) {
  static constexpr int64_t kLimits[3] = {(int64_t(1) << 31) - 1, 65535, 65535};
  std::array<unsigned, 3> grid{};
  for (size_t i = 0; i < 3; ++i) {
    const GridDim &d = spec.grid[i];
    int64_t blocks = d.count;
    if (d.tokensPerBlock > 0)
      blocks *= (tokens + d.tokensPerBlock - 1) / d.tokensPerBlock;
    if (blocks < 1 || blocks > kLimits[i])
      return makeError("kernel '", spec.name, "': grid dimension ", i, " is ",
                       blocks, " blocks for ", tokens,
                       " tokens (the device allows 1 to ", kLimits[i], ")");
    grid[i] = unsigned(blocks);
  }
  return grid;
}

Expected<std::string>
selectPTXChip(const std::map<std::string, std::string> &ptx, int major,
              int minor, const std::string &deviceName) {
  int device = major * 10 + minor;
  std::string deviceChip = "sm_" + std::to_string(device);
  if (device < kMinComputeCapability)
    return makeError("the GPU (", deviceName, ") is ", deviceChip,
                     " (compute capability ", major, ".", minor,
                     "); mixq's CUDA kernels need sm_80 or newer");
  std::string best;
  int bestNumber = -1;
  bool bestExact = false;
  for (const auto &entry : ptx) {
    std::string suffix;
    int number = parseChip(entry.first, suffix);
    // Arch-specific PTX (sm_90a) runs only on that very chip; plain PTX
    // JITs to any newer one.
    bool usable =
        suffix.empty() ? number >= 0 && number <= device : number == device;
    if (!usable)
      continue;
    bool exact = !suffix.empty();
    if (number > bestNumber || (number == bestNumber && exact && !bestExact)) {
      best = entry.first;
      bestNumber = number;
      bestExact = exact;
    }
  }
  if (best.empty())
    return makeError("the package has no PTX this GPU (", deviceName, ", ",
                     deviceChip, ") can run: it has ", chipList(ptx),
                     " (recompile with --gpu-arch=", deviceChip, ")");
  return best;
}

void StepParams::set(int64_t startPos, int64_t tokens) {
  for (size_t slot : startPosSlots)
    values[slot] = uint64_t(startPos);
  values.back() = uint64_t(tokens);
}

std::vector<void *> StepParams::pointers() {
  std::vector<void *> out(values.size());
  for (size_t i = 0; i < values.size(); ++i)
    out[i] = &values[i];
  return out;
}

Expected<StepParams> bindStepParams(const PlanStep &step,
                                    const DeviceBindings &device,
                                    bool withWorkspace) {
  StepParams params;
  for (const PlanBinding &b : step.args) {
    switch (b.kind) {
    case PlanBinding::StartPos:
      params.startPosSlots.push_back(params.values.size());
      params.values.push_back(0);
      break;
    case PlanBinding::Tokens:
      params.values.push_back(device.tokens);
      break;
    case PlanBinding::Weight: {
      auto it = device.weights.find(b.weightName);
      if (it == device.weights.end())
        return makeError("kernel '", step.kernel, "': weight '", b.weightName,
                         "' is not on the device");
      params.values.push_back(it->second);
      break;
    }
    case PlanBinding::Cache:
      params.values.push_back(device.caches.at(b.index));
      break;
    case PlanBinding::Buffer:
      params.values.push_back(device.buffers.at(b.index));
      break;
    }
  }
  if (withWorkspace)
    params.values.push_back(device.workspace);
  params.values.push_back(0); // S
  return params;
}

uint64_t packBuffers(const ParsedPlan &plan, int64_t maxTokens,
                     std::vector<uint64_t> &offsets) {
  size_t n = plan.bufferShapes.size();
  auto live = bufferLifetimes(plan);
  std::vector<uint64_t> sizes(n);
  std::vector<size_t> order;
  for (size_t b = 0; b < n; ++b) {
    sizes[b] =
        alignUp(uint64_t(numElements(plan.bufferShapes[b].resolve(maxTokens)) *
                         plan.bufferElementBytes[b]));
    if (live[b].first >= 0)
      order.push_back(b);
  }
  // Largest first, each at the lowest offset clear of every placed buffer
  // whose lifetime overlaps its own.
  std::stable_sort(order.begin(), order.end(),
                   [&](size_t a, size_t b) { return sizes[a] > sizes[b]; });
  offsets.assign(n, 0);
  std::vector<size_t> placed;
  uint64_t end = 0;
  for (size_t b : order) {
    std::vector<std::pair<uint64_t, uint64_t>> taken;
    for (size_t p : placed)
      if (live[p].first <= live[b].second && live[b].first <= live[p].second)
        taken.push_back({offsets[p], offsets[p] + sizes[p]});
    std::sort(taken.begin(), taken.end());
    uint64_t offset = 0;
    for (const auto &[lo, hi] : taken) {
      if (offset + sizes[b] <= lo)
        break;
      offset = std::max(offset, hi);
    }
    offsets[b] = offset;
    end = std::max(end, offset + sizes[b]);
    placed.push_back(b);
  }
  return end;
}

DeviceLayout planDeviceLayout(const PackagePlans &plans,
                              uint64_t workspaceBytes) {
  DeviceLayout layout;
  uint64_t at = 0;
  std::vector<const ParsedPlan *> all = decodePlans(plans);
  all.insert(all.begin(), &plans.prefill);
  for (const ParsedPlan *plan : all)
    for (const PlanStep &step : plan->steps)
      for (const PlanBinding &b : step.args)
        if (b.kind == PlanBinding::Weight &&
            layout.weightOffsets.emplace(b.weightName, at).second)
          at = alignUp(at + b.weight.size);
  layout.weightBytes = at;
  for (const CacheSpec &cache : plans.caches) {
    layout.cacheOffsets.push_back(at);
    at = alignUp(at + uint64_t(cache.bytes()));
  }
  layout.cacheBytes = at - layout.weightBytes;

  layout.bufferBytes = packBuffers(plans.prefill, plans.contextLength,
                                   layout.prefillBufferOffsets);
  for (uint64_t &offset : layout.prefillBufferOffsets)
    offset += at;
  for (const ParsedPlan *plan : decodePlans(plans)) {
    int64_t tokens =
        plan->staticTokens > 0 ? plan->staticTokens : plans.contextLength;
    std::vector<uint64_t> &offsets = layout.decodeBufferOffsets.emplace_back();
    layout.bufferBytes =
        std::max(layout.bufferBytes, packBuffers(*plan, tokens, offsets));
    for (uint64_t &offset : offsets)
      offset += at;
  }
  at += layout.bufferBytes;

  layout.tokensOffset = at;
  at += alignUp(uint64_t(std::max<int64_t>(plans.contextLength, 1)) * 4);
  layout.workspaceOffset = at;
  at += alignUp(workspaceBytes);
  layout.totalBytes = at;
  return layout;
}

void fillUploadChunk(const std::vector<UploadPiece> &pieces, uint64_t begin,
                     uint64_t size, uint8_t *out) {
  std::memset(out, 0, size);
  uint64_t end = begin + size;
  // The first piece that ends after `begin`.
  auto it = std::partition_point(
      pieces.begin(), pieces.end(),
      [&](const UploadPiece &p) { return p.offset + p.size <= begin; });
  for (; it != pieces.end() && it->offset < end; ++it) {
    uint64_t lo = std::max(begin, it->offset);
    uint64_t hi = std::min(end, it->offset + it->size);
    if (lo < hi)
      std::memcpy(out + (lo - begin), it->data + (lo - it->offset), hi - lo);
  }
}

GraphParamTracker::GraphParamTracker(std::vector<StepParams> nodes,
                                     int64_t capturedStartPos)
    : nodes_(std::move(nodes)), startPos_(capturedStartPos) {
  for (size_t i = 0; i < nodes_.size(); ++i)
    if (!nodes_[i].startPosSlots.empty())
      withStartPos_.push_back(i);
}

std::vector<size_t> GraphParamTracker::retarget(int64_t startPos) {
  if (startPos == startPos_)
    return {};
  startPos_ = startPos;
  for (size_t i : withStartPos_)
    for (size_t slot : nodes_[i].startPosSlots)
      nodes_[i].values[slot] = uint64_t(startPos);
  return withStartPos_;
}

std::string formatGiB(uint64_t bytes) {
  char text[32];
  std::snprintf(text, sizeof(text), "%.2f GiB", double(bytes) / (1ull << 30));
  return text;
}

} // namespace mixq::runtime::cuda
