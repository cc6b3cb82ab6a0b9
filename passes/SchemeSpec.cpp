//===- SchemeSpec.cpp - The SCHEME=SPEC grammar of --mixq-quantize --------===//

#include "passes/SchemeSpec.h"

#include "dialect/MixQ/MixQAttrs.h"

#include "mlir/IR/Builders.h"
#include "llvm/ADT/StringExtras.h"
#include "llvm/ADT/StringSwitch.h"

#include <regex>

using namespace mlir;
using namespace mlir::mixq;

bool SchemeSpec::isUnquantized() const {
  return parts.size() == 1 && parts[0].options.empty() &&
         (parts[0].name == "fp16" || parts[0].name == "fp32" ||
          parts[0].name == "none");
}

llvm::Error mlir::mixq::makeSpecError(const SchemeSpec &spec, size_t offset,
                                      const llvm::Twine &message) {
  std::string caret(std::min(offset, spec.text.size()), ' ');
  return llvm::createStringError(
      llvm::inconvertibleErrorCode(), "invalid scheme spec: %s\n  %s\n  %s^",
      message.str().c_str(), spec.text.c_str(), caret.c_str());
}

static bool isIdentifier(StringRef s) {
  return !s.empty() && llvm::all_of(s, [](char c) {
    return llvm::isAlnum(c) || c == '_' || c == '-';
  });
}

/// Parses "key=value" starting at `offset`.
static llvm::Error parseOption(const SchemeSpec &spec, StringRef text,
                               size_t offset, SchemeSpecPart &part) {
  auto [key, value] = text.split('=');
  if (!text.contains('='))
    return makeSpecError(spec, offset,
                         "expected key=value, got '" + text + "'");
  if (!isIdentifier(key))
    return makeSpecError(spec, offset, "expected an option name");
  if (value.empty())
    return makeSpecError(spec, offset + key.size() + 1,
                         "missing value for '" + key + "'");
  for (const SchemeSpecOption &seen : part.options)
    if (seen.key == key)
      return makeSpecError(spec, offset, "option '" + key + "' given twice");
  part.options.push_back({key.str(), value.str(), offset});
  return llvm::Error::success();
}

llvm::Expected<SchemeSpec> mlir::mixq::parseSchemeSpec(StringRef text) {
  SchemeSpec spec;
  spec.text = text.str();
  if (text.trim().empty())
    return makeSpecError(spec, 0, "empty spec");
  size_t partStart = 0;
  for (StringRef partText : llvm::split(text, '+')) {
    SchemeSpecPart part;
    part.offset = partStart;
    auto [name, options] = partText.split(':');
    if (!isIdentifier(name))
      return makeSpecError(spec, partStart,
                           "expected a scheme name (affine, mixed, lut, "
                           "sparse, quik, bitplane, fp16, fp32)");
    part.name = name.str();
    size_t optionStart = partStart + name.size() + 1;
    if (partText.contains(':')) {
      if (options.empty())
        return makeSpecError(spec, optionStart, "expected options after ':'");
      for (StringRef option : llvm::split(options, ',')) {
        if (llvm::Error err = parseOption(spec, option, optionStart, part))
          return std::move(err);
        optionStart += option.size() + 1;
      }
    }
    spec.parts.push_back(std::move(part));
    partStart += partText.size() + 1;
  }
  return spec;
}

namespace {

/// Typed access to one part's options; every key must be consumed, so
/// misspelled keys are reported instead of silently ignored.
class OptionReader {
public:
  OptionReader(const SchemeSpec &spec, const SchemeSpecPart &part)
      : spec(spec), part(part), used(part.options.size(), false) {}

  llvm::Error getInt(StringRef key, int64_t &out) {
    const SchemeSpecOption *option = find(key);
    if (!option)
      return llvm::Error::success();
    if (StringRef(option->value).getAsInteger(10, out))
      return valueError(*option, "an integer");
    return llvm::Error::success();
  }
  llvm::Error getBool(StringRef key, bool &out) {
    const SchemeSpecOption *option = find(key);
    if (!option)
      return llvm::Error::success();
    std::optional<bool> value =
        llvm::StringSwitch<std::optional<bool>>(option->value)
            .Cases({"1", "true", "yes"}, true)
            .Cases({"0", "false", "no"}, false)
            .Default(std::nullopt);
    if (!value)
      return valueError(*option, "true or false");
    out = *value;
    return llvm::Error::success();
  }
  llvm::Error getString(StringRef key, std::string &out) {
    if (const SchemeSpecOption *option = find(key))
      out = option->value;
    return llvm::Error::success();
  }
  /// The first option nobody asked for, as an error listing `known`.
  llvm::Error checkAllUsed(StringRef known) {
    for (size_t i = 0; i < used.size(); ++i)
      if (!used[i])
        return makeSpecError(spec, part.options[i].offset,
                             "unknown option '" + part.options[i].key +
                                 "' for scheme '" + part.name +
                                 "' (known: " + known + ")");
    return llvm::Error::success();
  }
  llvm::Error error(StringRef key, const llvm::Twine &message) {
    for (const SchemeSpecOption &option : part.options)
      if (option.key == key)
        return makeSpecError(spec, option.offset + key.size() + 1, message);
    return makeSpecError(spec, part.offset, message);
  }

private:
  const SchemeSpecOption *find(StringRef key) {
    for (size_t i = 0; i < part.options.size(); ++i)
      if (part.options[i].key == key) {
        used[i] = true;
        return &part.options[i];
      }
    return nullptr;
  }
  llvm::Error valueError(const SchemeSpecOption &option, StringRef expected) {
    return makeSpecError(spec, option.offset + option.key.size() + 1,
                         "'" + option.key + "' expects " + expected +
                             ", got '" + option.value + "'");
  }
  const SchemeSpec &spec;
  const SchemeSpecPart &part;
  std::vector<bool> used;
};

llvm::Expected<QuantSchemeAttrInterface>
buildAffine(MLIRContext *context, const SchemeSpec &spec,
            const SchemeSpecPart &part) {
  OptionReader reader(spec, part);
  int64_t bits = 4, group = 128;
  bool symmetric = false;
  std::string scale = "f16";
  if (auto err = reader.getInt("bits", bits))
    return std::move(err);
  if (auto err = reader.getInt("group", group))
    return std::move(err);
  if (auto err = reader.getBool("sym", symmetric))
    return std::move(err);
  if (auto err = reader.getString("scale", scale))
    return std::move(err);
  if (auto err = reader.checkAllUsed("bits, group, sym, scale"))
    return std::move(err);
  if (bits != 2 && bits != 3 && bits != 4 && bits != 8)
    return reader.error("bits",
                        "bits must be 2, 3, 4 or 8, got " + llvm::Twine(bits));
  if (group <= 0)
    return reader.error("group",
                        "group must be positive, got " + llvm::Twine(group));
  Builder b(context);
  FloatType scaleType = llvm::StringSwitch<FloatType>(scale)
                            .Case("f16", b.getF16Type())
                            .Case("bf16", b.getBF16Type())
                            .Case("f32", b.getF32Type())
                            .Default(FloatType());
  if (!scaleType)
    return reader.error("scale",
                        "scale must be f16, bf16 or f32, got '" + scale + "'");
  // f16 is the attribute's default: leave it implicit so that the printed
  // scheme is the canonical `#mixq.affine<bits = 4, group = 128>`.
  if (scaleType.isF16())
    scaleType = FloatType();
  return cast<QuantSchemeAttrInterface>(
      AffineSchemeAttr::get(context, bits, group, symmetric, scaleType));
}

llvm::Expected<QuantSchemeAttrInterface> buildLUT(MLIRContext *context,
                                                  const SchemeSpec &spec,
                                                  const SchemeSpecPart &part) {
  OptionReader reader(spec, part);
  int64_t bits = 3;
  if (auto err = reader.getInt("bits", bits))
    return std::move(err);
  if (auto err = reader.checkAllUsed("bits"))
    return std::move(err);
  if (bits < 2 || bits > 4)
    return reader.error("bits",
                        "lut bits must be 2, 3 or 4, got " + llvm::Twine(bits));
  return cast<QuantSchemeAttrInterface>(LUTSchemeAttr::get(context, bits));
}

} // namespace

llvm::Expected<QuantSchemeAttrInterface>
mlir::mixq::buildSchemeAttr(MLIRContext *context, const SchemeSpec &spec) {
  if (spec.parts.size() != 1)
    return makeSpecError(spec, spec.parts[1].offset,
                         "composed schemes ('+') are not supported yet");
  const SchemeSpecPart &part = spec.parts.front();
  if (part.name == "affine")
    return buildAffine(context, spec, part);
  if (part.name == "lut")
    return buildLUT(context, spec, part);
  if (part.name == "mixed" || part.name == "sparse" || part.name == "quik" ||
      part.name == "bitplane")
    return makeSpecError(spec, part.offset,
                         "scheme '" + part.name +
                             "' has a host quantizer but no IR attribute "
                             "yet");
  if (spec.isUnquantized())
    return makeSpecError(spec, part.offset,
                         "'" + part.name + "' is not a quantized scheme");
  return makeSpecError(spec, part.offset,
                       "unknown scheme '" + part.name +
                           "' (known: affine, mixed, lut, sparse, quik, "
                           "bitplane, fp16, fp32)");
}

llvm::Expected<std::vector<SchemeOverride>>
mlir::mixq::parseSchemeOverrides(StringRef text) {
  std::vector<SchemeOverride> overrides;
  if (text.trim().empty())
    return overrides;
  for (StringRef entry : llvm::split(text, ';')) {
    size_t eq = entry.find('=');
    if (eq == StringRef::npos || eq == 0)
      return llvm::createStringError(
          llvm::inconvertibleErrorCode(),
          "invalid override '%s': expected REGEX=SPEC", entry.str().c_str());
    std::string pattern = entry.take_front(eq).str();
    // std::regex reports a bad pattern by throwing; check it here once.
    try {
      std::regex check(pattern);
    } catch (const std::regex_error &e) {
      return llvm::createStringError(llvm::inconvertibleErrorCode(),
                                     "invalid override pattern '%s': %s",
                                     pattern.c_str(), e.what());
    }
    auto spec = parseSchemeSpec(entry.drop_front(eq + 1));
    if (!spec)
      return spec.takeError();
    overrides.push_back({pattern, std::move(*spec)});
  }
  return overrides;
}
