//===- BenchCore.cpp - mixq-bench's device-independent pieces -------------===//
#include "tools/mixq-bench/BenchCore.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <map>
#include <set>

namespace mixq::bench {

using json = nlohmann::json;
using runtime::PlanBinding;

MeanSd meanSd(const std::vector<double> &values) {
  MeanSd out;
  if (values.empty())
    return out;
  double sum = 0;
  for (double v : values)
    sum += v;
  out.mean = sum / double(values.size());
  if (values.size() < 2)
    return out;
  double squares = 0;
  for (double v : values)
    squares += (v - out.mean) * (v - out.mean);
  out.sd = std::sqrt(squares / double(values.size() - 1));
  return out;
}

std::string textField(const json &j, const char *key,
                      const std::string &fallback) {
  if (!j.is_object())
    return fallback;
  auto it = j.find(key);
  return it != j.end() && it->is_string() ? it->get<std::string>() : fallback;
}

std::string fixed(double value, int decimals) {
  char text[64];
  std::snprintf(text, sizeof(text), "%.*f", decimals, value);
  return text;
}

std::string formatMeanSd(const MeanSd &value) {
  return fixed(value.mean, 2) + " \u00b1 " + fixed(value.sd, 2);
}

namespace {

/// "#mixq.mixed<group = 16>" -> "mixed"; "none" stays "none".
std::string schemeKind(const std::string &scheme) {
  std::string text = scheme;
  if (text.rfind("#mixq.", 0) == 0)
    text = text.substr(6);
  return text.substr(0, text.find_first_of("< "));
}

/// "/x/stories260K.bin" -> "stories260K".
std::string fileStem(const std::string &path) {
  std::string name = path.substr(path.find_last_of('/') + 1);
  size_t dot = name.find('.');
  return dot == 0 || dot == std::string::npos ? name : name.substr(0, dot);
}

int64_t elementCount(const json &shape) {
  if (!shape.is_array() || shape.empty())
    return 0;
  int64_t n = 1;
  for (const json &d : shape) {
    if (!d.is_number_integer() || d.get<int64_t>() < 0)
      return 0;
    n *= d.get<int64_t>();
  }
  return n;
}

/// The bytes of a weight's component blobs; blobs counted in `seen` once.
uint64_t componentBytes(const runtime::Package &package, const json &weight,
                        std::set<std::string> &seen, uint64_t &unique) {
  uint64_t bytes = 0;
  for (const json &c : weight.value("components", json::array())) {
    std::string blob = textField(c, "blob");
    if (!package.hasBlob(blob))
      continue;
    uint64_t size = package.blob(blob)->size;
    bytes += size;
    if (seen.insert(blob).second)
      unique += size;
  }
  return bytes;
}

/// The dominant kind by parameters, then the others by parameters: "a+b".
std::string joinKinds(const std::map<std::string, int64_t> &kinds) {
  std::vector<std::pair<int64_t, std::string>> order;
  for (const auto &[kind, params] : kinds)
    order.push_back({-params, kind});
  std::sort(order.begin(), order.end());
  std::string text;
  for (const auto &entry : order)
    text += (text.empty() ? "" : "+") + entry.second;
  return text;
}

} // namespace

PackageSummary summarizePackage(const runtime::Package &package) {
  PackageSummary out;
  const json &manifest = package.manifest();
  const json &model = manifest.value("model", json::object());
  std::string source = textField(model, "source");
  out.model = source.empty() ? fileStem(package.path()) : fileStem(source);
  std::set<std::string> seen;
  std::map<std::string, int64_t> quantizedKinds, plainTypes;
  double quantizedBits = 0, allBits = 0;
  for (const json &w : manifest.value("weights", json::array())) {
    if (!w.is_object())
      continue;
    int64_t params = elementCount(w.value("shape", json()));
    uint64_t bytes = componentBytes(package, w, seen, out.weightBytes);
    double bits = w.value("bits_per_weight", json()).is_number()
                      ? w["bits_per_weight"].get<double>()
                  : params ? 8.0 * double(bytes) / double(params)
                           : 0.0;
    std::string kind = schemeKind(textField(w, "scheme", "none"));
    out.parameters += params;
    allBits += bits * double(params);
    if (kind == "none") {
      plainTypes[textField(w, "dtype", "?")] += params;
      continue;
    }
    quantizedKinds[kind] += params;
    out.quantizedParameters += params;
    quantizedBits += bits * double(params);
  }
  bool quantized = out.quantizedParameters > 0;
  out.scheme = joinKinds(quantized ? quantizedKinds : plainTypes);
  int64_t over = quantized ? out.quantizedParameters : out.parameters;
  out.bitsPerWeight =
      over ? (quantized ? quantizedBits : allBits) / double(over) : 0.0;
  return out;
}

bool isEmbeddingKernel(const std::string &kernel) {
  const std::string suffix = "_embed";
  return kernel.size() >= suffix.size() &&
         kernel.compare(kernel.size() - suffix.size(), suffix.size(), suffix) ==
             0;
}

std::vector<uint64_t>
stepBytesRead(const runtime::ParsedPlan &plan,
              const std::vector<runtime::CacheSpec> &caches, int64_t tokens,
              int64_t startPos) {
  std::vector<uint64_t> out;
  std::vector<bool> produced(plan.bufferShapes.size(), false);
  for (const runtime::PlanStep &step : plan.steps) {
    uint64_t bytes = 0;
    std::set<std::pair<int, int64_t>> counted; // (kind, index) once per step
    // An embedding gathers one row of its table per token, not the table.
    bool gathersRows = isEmbeddingKernel(step.kernel);
    for (const PlanBinding &b : step.args) {
      switch (b.kind) {
      case PlanBinding::Weight:
        if (!b.read)
          break;
        bytes +=
            gathersRows && !b.shape.dims.empty() && b.shape.dims[0] > 0
                ? uint64_t(tokens) * (b.weight.size / uint64_t(b.shape.dims[0]))
                : b.weight.size;
        break;
      case PlanBinding::Tokens:
        bytes += uint64_t(tokens) * 4;
        break;
      case PlanBinding::StartPos:
        break;
      case PlanBinding::Cache:
        if (counted.insert({PlanBinding::Cache, b.index}).second)
          bytes += uint64_t(startPos) * uint64_t(caches[b.index].shape.dims[1] *
                                                 caches[b.index].elementBytes);
        break;
      case PlanBinding::Buffer:
        if (produced[b.index] &&
            counted.insert({PlanBinding::Buffer, b.index}).second)
          bytes += uint64_t(
              runtime::numElements(plan.bufferShapes[b.index].resolve(tokens)) *
              plan.bufferElementBytes[b.index]);
        break;
      }
    }
    // Marked after the step: a step's own outputs are not its inputs.
    for (const PlanBinding &b : step.args)
      if (b.kind == PlanBinding::Buffer)
        produced[b.index] = true;
    out.push_back(bytes);
  }
  return out;
}

namespace {

bool isMatmulKernel(const std::string &kernel) {
  for (const char *kind : {"_matmul", "_linear", "_logits"})
    if (kernel.find(kind) != std::string::npos)
      return true;
  return false;
}

/// Blob name -> index into weights[].
std::map<std::string, size_t> blobOwners(const json &weights) {
  std::map<std::string, size_t> owners;
  for (size_t i = 0; i < weights.size(); ++i)
    if (weights[i].is_object())
      for (const json &c : weights[i].value("components", json::array()))
        if (c.is_object() && c.value("blob", json()).is_string())
          owners[c["blob"].get<std::string>()] = i;
  return owners;
}

} // namespace

Expected<std::vector<MatmulStep>> matmulSteps(const json &manifest,
                                              const runtime::ParsedPlan &plan) {
  json weights = manifest.value("weights", json::array());
  if (!weights.is_array())
    return makeError("the manifest's \"weights\" is not an array");
  std::map<std::string, size_t> owners = blobOwners(weights);
  std::vector<MatmulStep> out;
  for (size_t i = 0; i < plan.steps.size(); ++i) {
    const runtime::PlanStep &step = plan.steps[i];
    if (!isMatmulKernel(step.kernel))
      continue;
    std::string where = plan.name + " step " + std::to_string(i) + " (kernel " +
                        step.kernel + ")";
    // The weights the step binds, in order, each once (a quantized weight
    // binds several components).
    std::vector<size_t> bound;
    for (const PlanBinding &binding : step.args) {
      if (binding.kind != PlanBinding::Weight)
        continue;
      auto owner = owners.find(binding.weightName);
      if (owner == owners.end())
        return makeError(where, ": blob '", binding.weightName,
                         "' is no component of the manifest's weights");
      if (std::find(bound.begin(), bound.end(), owner->second) == bound.end())
        bound.push_back(owner->second);
    }
    if (bound.empty())
      return makeError(where, " binds no weight");
    // A fused decode kernel binds its norm's vector too: its matmuls are
    // the matrices. Without any, the first weight is the error.
    std::vector<MatmulStep> matmuls;
    for (size_t index : bound) {
      const json &w = weights[index];
      const json &shape = w.value("shape", json());
      if (!shape.is_array() || shape.size() != 2 || elementCount(shape) <= 0)
        continue;
      matmuls.push_back({i, textField(w, "name", "?"), shape[0].get<int64_t>(),
                         shape[1].get<int64_t>(),
                         step.kernel.find("_logits") != std::string::npos});
    }
    if (matmuls.empty())
      return makeError(where, ": weight '",
                       textField(weights[bound.front()], "name", "?"),
                       "' is not a 2-D matrix");
    for (MatmulStep &matmul : matmuls) {
      matmul.matmulsInStep = matmuls.size();
      out.push_back(matmul);
    }
  }
  return out;
}

double KernelRow::gbPerSecond() const {
  return msPerStep > 0 ? double(bytesPerStep) / (msPerStep * 1e-3) / 1e9 : 0.0;
}

std::vector<KernelRow> kernelRows(const runtime::ParsedPlan &plan,
                                  const std::vector<double> &stepMs,
                                  const std::vector<uint64_t> &stepBytes) {
  std::vector<KernelRow> rows;
  std::map<std::string, size_t> index;
  for (size_t i = 0; i < plan.steps.size(); ++i) {
    auto [it, inserted] = index.emplace(plan.steps[i].kernel, rows.size());
    if (inserted)
      rows.push_back({plan.steps[i].kernel});
    KernelRow &row = rows[it->second];
    ++row.calls;
    row.msPerStep += i < stepMs.size() ? stepMs[i] : 0.0;
    row.bytesPerStep += i < stepBytes.size() ? stepBytes[i] : 0;
  }
  return rows;
}

namespace {

/// Display width: UTF-8 continuation bytes take no column.
size_t columns(const std::string &text) {
  size_t n = 0;
  for (unsigned char c : text)
    n += (c & 0xC0) != 0x80;
  return n;
}

} // namespace

std::string markdownTable(const std::vector<std::string> &header,
                          const std::vector<std::vector<std::string>> &rows,
                          const std::vector<bool> &right) {
  std::vector<size_t> width(header.size(), 3);
  for (size_t c = 0; c < header.size(); ++c) {
    width[c] = std::max(width[c], columns(header[c]));
    for (const auto &row : rows)
      if (c < row.size())
        width[c] = std::max(width[c], columns(row[c]));
  }
  auto line = [&](const std::vector<std::string> &cells) {
    std::string text = "|";
    for (size_t c = 0; c < header.size(); ++c) {
      std::string cell = c < cells.size() ? cells[c] : "";
      std::string pad(width[c] - columns(cell), ' ');
      bool r = c < right.size() && right[c];
      text += " " + (r ? pad + cell : cell + pad) + " |";
    }
    return text + "\n";
  };
  std::string out = line(header) + "|";
  for (size_t c = 0; c < header.size(); ++c) {
    bool r = c < right.size() && right[c];
    out +=
        " " + std::string(width[c] - (r ? 1 : 0), '-') + (r ? ":" : "") + " |";
  }
  out += "\n";
  for (const auto &row : rows)
    out += line(row);
  return out;
}

} // namespace mixq::bench
