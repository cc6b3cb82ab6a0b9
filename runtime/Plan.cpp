//===- Plan.cpp - the host plan of a package, parsed and validated --------===//
#include "runtime/Plan.h"

#include <map>

using json = nlohmann::json;

namespace mixq::runtime {

int64_t dtypeBytes(const std::string &dtype) {
  static const std::map<std::string, int64_t> sizes = {
      {"f32", 4}, {"f16", 2}, {"bf16", 2}, {"i32", 4}, {"u32", 4}, {"i8", 1},
      {"u8", 1},  {"i16", 2}, {"u16", 2},  {"i64", 8}, {"u64", 8}};
  auto it = sizes.find(dtype);
  return it == sizes.end() ? 0 : it->second;
}

std::vector<int64_t> SymbolicShape::resolve(int64_t tokens) const {
  std::vector<int64_t> out = dims;
  for (int64_t &d : out)
    if (d < 0)
      d = tokens;
  return out;
}

bool SymbolicShape::isStatic() const {
  for (int64_t d : dims)
    if (d < 0)
      return false;
  return true;
}

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

namespace {

struct PlanParser {
  const Package &package;
  const KernelCheck &checkKernel;
  const std::vector<CacheSpec> &caches;

  Status parseIndex(const json &j, const char *key, size_t limit,
                    const std::string &where, int64_t &index) {
    if (!j[key].is_number_integer() || j[key].get<int64_t>() < 0 ||
        j[key].get<int64_t>() >= int64_t(limit))
      return makeError(where, ": ", key, " index out of range");
    index = j[key].get<int64_t>();
    return Status::success();
  }

  Expected<PlanBinding> parseWeight(const json &j, const std::string &where) {
    PlanBinding b;
    b.kind = PlanBinding::Weight;
    b.weightName = j["weight"].get<std::string>();
    auto blob = package.blob(b.weightName);
    if (!blob)
      return blob.status();
    auto shape = parseShape(j.value("shape", json()), where);
    if (!shape)
      return shape.status();
    int64_t bytes = dtypeBytes(j.value("dtype", ""));
    if (!shape->isStatic())
      return makeError(where, ": weight '", b.weightName,
                       "' has a dynamic shape");
    if (bytes == 0 || uint64_t(numElements(shape->dims) * bytes) != blob->size)
      return makeError(where, ": weight '", b.weightName, "' is ", blob->size,
                       " bytes, which does not match its dtype and shape");
    if (j.contains("read")) {
      if (!j["read"].is_boolean())
        return makeError(where, ": weight '", b.weightName,
                         "': \"read\" must be true or false");
      b.read = j["read"].get<bool>();
    }
    b.weight = *blob;
    b.shape = *shape;
    return b;
  }

  Expected<PlanBinding> parseBinding(const json &j, const ParsedPlan &plan,
                                     const std::string &where) {
    PlanBinding b;
    if (!j.is_object())
      return makeError(where, ": a binding must be an object");
    if (j.contains("buffer")) {
      b.kind = PlanBinding::Buffer;
      if (Status s =
              parseIndex(j, "buffer", plan.bufferShapes.size(), where, b.index);
          !s)
        return s;
      b.shape = plan.bufferShapes[b.index];
    } else if (j.contains("cache")) {
      b.kind = PlanBinding::Cache;
      if (Status s = parseIndex(j, "cache", caches.size(), where, b.index); !s)
        return s;
      b.shape = caches[b.index].shape;
    } else if (j.contains("tokens")) {
      b.kind = PlanBinding::Tokens;
      b.shape.dims = {plan.staticTokens};
    } else if (j.contains("start_pos")) {
      b.kind = PlanBinding::StartPos;
    } else if (j.contains("weight") && j["weight"].is_string()) {
      return parseWeight(j, where);
    } else {
      return makeError(where, ": unknown binding ", j.dump());
    }
    return b;
  }

  Status parseInputs(const json &j, ParsedPlan &plan,
                     const std::string &where) {
    const json &tokens =
        j.value("inputs", json::object()).value("tokens", json());
    if (!tokens.is_object())
      return makeError(where, " has no \"inputs\".\"tokens\"");
    auto tokenShape = parseShape(tokens.value("shape", json()), where);
    if (!tokenShape)
      return tokenShape.status();
    if (tokenShape->dims.size() != 1)
      return makeError(where, ": tokens must be 1-D");
    plan.staticTokens = tokenShape->dims[0];
    return Status::success();
  }

  Status parseBuffers(const json &j, ParsedPlan &plan,
                      const std::string &where) {
    for (const json &buffer : j["buffers"]) {
      auto shape = parseShape(buffer.value("shape", json()), where);
      if (!shape)
        return shape.status();
      int64_t bytes = dtypeBytes(buffer.value("dtype", ""));
      if (bytes == 0)
        return makeError(where, ": buffer with unknown dtype ",
                         buffer.value("dtype", json()).dump());
      plan.bufferShapes.push_back(*shape);
      plan.bufferElementBytes.push_back(bytes);
    }
    return Status::success();
  }

  Status parseSteps(const json &j, ParsedPlan &plan, const std::string &where) {
    for (const json &step : j["steps"]) {
      PlanStep s;
      if (!step.is_object() || !step.value("kernel", json()).is_string() ||
          !step.value("args", json()).is_array())
        return makeError(where, ": a step needs \"kernel\" and \"args\"");
      s.kernel = step["kernel"].get<std::string>();
      if (Status status = checkKernel(s.kernel, where); !status)
        return status;
      for (const json &arg : step["args"]) {
        auto binding = parseBinding(arg, plan, where + " step " + s.kernel);
        if (!binding)
          return binding.status();
        s.args.push_back(binding.take());
      }
      plan.steps.push_back(std::move(s));
    }
    return Status::success();
  }

  Status parseLogits(const json &j, ParsedPlan &plan,
                     const std::string &where) {
    const json &logits = j.value("logits", json());
    if (!logits.is_object() ||
        !logits.value("buffer", json()).is_number_integer())
      return makeError(where, ": \"logits\" must name a buffer");
    plan.logitsBuffer = logits["buffer"].get<int64_t>();
    if (plan.logitsBuffer < 0 ||
        plan.logitsBuffer >= int64_t(plan.bufferShapes.size()) ||
        plan.bufferElementBytes[plan.logitsBuffer] != 4)
      return makeError(where, ": \"logits\" must be an f32 buffer");
    return Status::success();
  }

  Expected<ParsedPlan> parse(const std::string &name, const json &j) {
    ParsedPlan plan;
    plan.name = name;
    std::string where = package.path() + ": plan '" + name + "'";
    if (!j.is_object() || !j.contains("steps") || !j["steps"].is_array() ||
        !j.contains("buffers") || !j["buffers"].is_array())
      return makeError(where, " needs \"steps\" and \"buffers\" arrays");
    if (Status s = parseInputs(j, plan, where); !s)
      return s;
    if (Status s = parseBuffers(j, plan, where); !s)
      return s;
    if (Status s = parseSteps(j, plan, where); !s)
      return s;
    if (Status s = parseLogits(j, plan, where); !s)
      return s;
    return plan;
  }
};

/// The KV caches, from the prefill entry (decode must agree).
Status parseCaches(const Package &package, const json &plans,
                   PackagePlans &out) {
  for (const json &cache : plans["prefill"].value("caches", json::array())) {
    auto shape =
        parseShape(cache.value("shape", json()), package.path() + ": cache");
    if (!shape)
      return shape.status();
    int64_t elementBytes = dtypeBytes(cache.value("dtype", ""));
    if (shape->dims.size() != 2 || shape->dims[0] < 1 || shape->dims[1] < 1 ||
        elementBytes == 0)
      return makeError(package.path(), ": a KV cache must be a static 2-D "
                                       "buffer with a known dtype");
    out.caches.push_back({*shape, elementBytes});
    out.contextLength = shape->dims[0];
  }
  if (plans["decode"].value("caches", json::array()) !=
      plans["prefill"].value("caches", json::array()))
    return makeError(package.path(),
                     ": prefill and decode disagree on the KV caches");
  return Status::success();
}

/// One entry of the manifest's widths.decode.
Expected<DecodeWidthPlan> parseDecodeWidth(const Package &package,
                                           const json &plans,
                                           PlanParser &parser, const json &j) {
  std::string where = package.path() + ": widths.decode";
  if (!j.is_object() || !j.value("width", json()).is_number_integer() ||
      !j.value("plan", json()).is_string() ||
      !j.value("bits_per_weight", json()).is_number() ||
      !j.value("bytes_per_step", json()).is_number_integer())
    return makeError(where, " entries need an integer \"width\", a \"plan\" "
                            "name, \"bits_per_weight\" and \"bytes_per_step\"");
  DecodeWidthPlan out;
  int64_t width = j["width"].get<int64_t>();
  if (width < 1 || width > 32)
    return makeError(where, ": width ", width, " is not in 1..32");
  out.info.width = int(width);
  out.info.bitsPerWeight = j["bits_per_weight"].get<double>();
  out.info.bytesPerStep = j["bytes_per_step"].get<int64_t>();
  if (!(out.info.bitsPerWeight >= 0 && out.info.bitsPerWeight <= 64) ||
      out.info.bytesPerStep < 0)
    return makeError(where, ": width ", width,
                     " has a negative or impossible bits_per_weight or "
                     "bytes_per_step");
  std::string name = j["plan"].get<std::string>();
  if (!plans.contains(name))
    return makeError(where, ": width ", width, "'s plan '", name,
                     "' is not in the plan");
  if (plans[name].value("caches", json::array()) !=
      plans["prefill"].value("caches", json::array()))
    return makeError(package.path(), ": plan '", name,
                     "' disagrees with prefill on the KV caches");
  auto plan = parser.parse(name, plans[name]);
  if (!plan)
    return plan.status();
  out.plan = plan.take();
  if (out.plan.staticTokens != 1)
    return makeError(where, ": plan '", name, "' is not a one-token decode");
  return out;
}

/// The manifest's optional "widths": a multi-width package's decode plans.
Status parseDecodeWidths(const Package &package, const json &plans,
                         PlanParser &parser, PackagePlans &out) {
  const json &manifest = package.manifest();
  if (!manifest.contains("widths"))
    return Status::success();
  const json &widths = manifest["widths"];
  if (!widths.is_object() || !widths.value("decode", json()).is_array() ||
      widths["decode"].empty())
    return makeError(package.path(),
                     ": \"widths\" needs a non-empty \"decode\" array");
  if (widths.contains("prefill")) {
    if (!widths["prefill"].is_number_integer())
      return makeError(package.path(), ": widths.prefill is not an integer");
    int64_t prefill = widths["prefill"].get<int64_t>();
    if (prefill < 1 || prefill > 32)
      return makeError(package.path(), ": widths.prefill ", prefill,
                       " is not in 1..32");
    out.prefillWidth = int(prefill);
  }
  for (const json &entry : widths["decode"]) {
    auto width = parseDecodeWidth(package, plans, parser, entry);
    if (!width)
      return width.status();
    for (const DecodeWidthPlan &seen : out.decodeWidths)
      if (seen.info.width == width->info.width)
        return makeError(package.path(), ": decode width ", seen.info.width,
                         " is listed twice");
    out.decodeWidths.push_back(width.take());
  }
  if (out.decodeWidths.front().plan.name != "decode")
    return makeError(package.path(), ": the first decode width must be the "
                                     "\"decode\" plan (the default)");
  return Status::success();
}

} // namespace

Expected<PackagePlans> parsePackagePlans(const Package &package,
                                         const KernelCheck &checkKernel) {
  const json &manifest = package.manifest();
  const json &model = manifest.value("model", json());
  if (!model.is_object() ||
      !model.value("vocab_size", json()).is_number_integer())
    return makeError(package.path(), ": the manifest has no model config");
  PackagePlans out;
  out.vocabSize = model["vocab_size"].get<int64_t>();

  const json &plans = manifest.value("plan", json());
  if (!plans.is_object() || !plans.contains("prefill") ||
      !plans.contains("decode"))
    return makeError(package.path(),
                     ": the plan needs \"prefill\" and \"decode\" entries");
  if (Status s = parseCaches(package, plans, out); !s)
    return s;
  if (out.caches.empty())
    out.contextLength = model.value("max_seq_len", int64_t(0));

  PlanParser parser{package, checkKernel, out.caches};
  auto prefill = parser.parse("prefill", plans["prefill"]);
  if (!prefill)
    return prefill.status();
  auto decode = parser.parse("decode", plans["decode"]);
  if (!decode)
    return decode.status();
  out.prefill = prefill.take();
  out.decode = decode.take();
  if (Status s = parseDecodeWidths(package, plans, parser, out); !s)
    return s;
  return out;
}

std::vector<const ParsedPlan *> decodePlans(const PackagePlans &plans) {
  if (plans.decodeWidths.empty())
    return {&plans.decode};
  std::vector<const ParsedPlan *> out;
  for (const DecodeWidthPlan &width : plans.decodeWidths)
    out.push_back(&width.plan);
  return out;
}

std::string formatWidthList(const std::vector<DecodeWidthInfo> &widths) {
  std::string text;
  for (size_t i = 0; i < widths.size(); ++i) {
    if (i > 0)
      text += i + 1 == widths.size() ? " and " : ", ";
    text += std::to_string(widths[i].width);
  }
  return text;
}

Expected<size_t> findDecodeWidth(const std::vector<DecodeWidthInfo> &widths,
                                 int width) {
  if (widths.empty())
    return makeError("decode width ", width,
                     " asked of a package with one decode plan: width "
                     "schedules need a multi-width package (mixq-compile "
                     "--scheme=bitplane:... --widths=W,...)");
  for (size_t i = 0; i < widths.size(); ++i)
    if (widths[i].width == width)
      return i;
  return makeError("the package has no decode width ", width,
                   "; its widths are ", formatWidthList(widths));
}

Status checkCallTokens(const ParsedPlan &plan,
                       const std::vector<int32_t> &tokens, int64_t position,
                       int64_t contextLength, int64_t vocabSize) {
  auto count = int64_t(tokens.size());
  if (count == 0)
    return makeError("no tokens to run");
  if (plan.staticTokens > 0 && count != plan.staticTokens)
    return makeError("the ", plan.name, " plan takes ", plan.staticTokens,
                     " token(s), not ", count);
  if (position + count > contextLength)
    return makeError("context overflow: ", position, " tokens in the cache + ",
                     count, " new ones exceed the context length of ",
                     contextLength, " (compile with a larger --max-seq-len)");
  for (size_t i = 0; i < tokens.size(); ++i)
    if (tokens[i] < 0 || tokens[i] >= vocabSize)
      return makeError("token id ", tokens[i], " at position ", position + i,
                       " is outside the vocabulary (0..", vocabSize - 1, ")");
  return Status::success();
}

} // namespace mixq::runtime
