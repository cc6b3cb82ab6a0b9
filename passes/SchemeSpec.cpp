//===- SchemeSpec.cpp - The SCHEME=SPEC grammar of --mixq-quantize --------===//

#include "passes/SchemeSpec.h"

#include "dialect/MixQ/MixQAttrs.h"

#include "mlir/IR/Builders.h"
#include "llvm/ADT/StringExtras.h"
#include "llvm/ADT/StringSwitch.h"

#include <cmath>
#include <cstdio>
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
  llvm::Error getDouble(StringRef key, double &out) {
    const SchemeSpecOption *option = find(key);
    if (!option)
      return llvm::Error::success();
    if (StringRef(option->value).getAsDouble(out))
      return valueError(*option, "a number");
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
  std::string clipText = "rtn";
  if (auto err = reader.getString("clip", clipText))
    return std::move(err);
  if (auto err = reader.checkAllUsed("bits, group, sym, scale, clip"))
    return std::move(err);
  // `mse` is the quantizer's default grid (1.0, 0.95, ..., 0.5).
  int64_t clip = 0;
  if (clipText == "rtn")
    clip = 1;
  else if (clipText == "mse")
    clip = 11;
  else if (StringRef(clipText).getAsInteger(10, clip) || clip < 1 ||
           clip > 1000)
    return reader.error("clip", "clip must be rtn, mse or a number of clip "
                                "ratios in 1..1000, got '" +
                                    clipText + "'");
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
  return cast<QuantSchemeAttrInterface>(AffineSchemeAttr::get(
      context, bits, group, symmetric, scaleType, static_cast<unsigned>(clip)));
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

std::string formatNumber(double value) {
  char text[32];
  std::snprintf(text, sizeof(text), "%g", value);
  return text;
}

llvm::Expected<QuantSchemeAttrInterface>
buildMixed(MLIRContext *context, const SchemeSpec &spec,
           const SchemeSpecPart &part) {
  OptionReader reader(spec, part);
  int64_t group = 64, lo = 2, hi = 4, block = 64;
  double hiFrac = 0.1, bits = 2.9, outliers = 0.0075;
  if (auto err = reader.getInt("group", group))
    return std::move(err);
  if (auto err = reader.getInt("lo", lo))
    return std::move(err);
  if (auto err = reader.getInt("hi", hi))
    return std::move(err);
  if (auto err = reader.getDouble("hi-frac", hiFrac))
    return std::move(err);
  if (auto err = reader.getDouble("bits", bits))
    return std::move(err);
  if (auto err = reader.getDouble("outliers", outliers))
    return std::move(err);
  if (auto err = reader.getInt("block", block))
    return std::move(err);
  if (auto err =
          reader.checkAllUsed("group, lo, hi, hi-frac, bits, outliers, block"))
    return std::move(err);
  // The checks of MixedSchemeAttr::verify, pointing at the option.
  if (lo < 1 || lo > 7)
    return reader.error("lo",
                        "mixed lo must be in 1..7, got " + llvm::Twine(lo));
  if (hi <= lo || hi > 8)
    return reader.error("hi", "mixed hi must be in " + llvm::Twine(lo + 1) +
                                  "..8, got " + llvm::Twine(hi));
  if (group <= 0)
    return reader.error("group", "mixed group must be positive, got " +
                                     llvm::Twine(group));
  if (group * lo % 32 != 0 || group * (hi - lo) % 32 != 0)
    return reader.error("group", "mixed group (" + llvm::Twine(group) +
                                     ") times lo and times hi - lo must be "
                                     "multiples of 32");
  if (!(hiFrac >= 0.0 && hiFrac <= 1.0))
    return reader.error("hi-frac", "mixed hi-frac must be in [0, 1], got " +
                                       formatNumber(hiFrac));
  if (!(bits >= 0.0 && std::isfinite(bits)))
    return reader.error("bits",
                        "mixed bits (target bits per weight) must be finite "
                        "and >= 0, got " +
                            formatNumber(bits));
  if (!(outliers >= 0.0 && outliers < 1.0))
    return reader.error("outliers", "mixed outliers must be in [0, 1), got " +
                                        formatNumber(outliers));
  if (block < 1)
    return reader.error("block",
                        "mixed block must be >= 1, got " + llvm::Twine(block));
  return cast<QuantSchemeAttrInterface>(MixedSchemeAttr::get(
      context, group, static_cast<unsigned>(lo), static_cast<unsigned>(hi),
      hiFrac, bits, outliers, block));
}

llvm::Expected<QuantSchemeAttrInterface>
buildBitplane(MLIRContext *context, const SchemeSpec &spec,
              const SchemeSpecPart &part) {
  OptionReader reader(spec, part);
  int64_t seed = 3, parent = 4, width = 0;
  if (auto err = reader.getInt("seed", seed))
    return std::move(err);
  if (auto err = reader.getInt("parent", parent))
    return std::move(err);
  if (auto err = reader.getInt("width", width))
    return std::move(err);
  bool hasWidth = llvm::any_of(
      part.options, [](const SchemeSpecOption &o) { return o.key == "width"; });
  if (auto err = reader.checkAllUsed("seed, parent, width"))
    return std::move(err);
  // The checks of BitplaneSchemeAttr::verify, pointing at the option.
  if (parent < 1 || parent > 8)
    return reader.error("parent", "bitplane parent must be in 1..8, got " +
                                      llvm::Twine(parent));
  if (seed < 1 || seed > parent)
    return reader.error("seed", "bitplane seed must be in 1.." +
                                    llvm::Twine(parent) + " (parent), got " +
                                    llvm::Twine(seed));
  if (hasWidth && (width < seed || width > parent))
    return reader.error("width",
                        "bitplane width must be in " + llvm::Twine(seed) +
                            ".." + llvm::Twine(parent) +
                            " (seed..parent), got " + llvm::Twine(width));
  // Decoding at the parent width is the attribute's default: leave it
  // implicit so that the printed scheme is canonical.
  std::optional<unsigned> decodeWidth;
  if (hasWidth && width != parent)
    decodeWidth = static_cast<unsigned>(width);
  return cast<QuantSchemeAttrInterface>(
      BitplaneSchemeAttr::get(context, static_cast<unsigned>(seed),
                              static_cast<unsigned>(parent), decodeWidth));
}

/// `quik:cols=N,bits=4|8[,act-bits=4|8]`; `act-bits` is not part of the
/// attribute (see getActivationBits).
llvm::Expected<QuantSchemeAttrInterface> buildQuik(MLIRContext *context,
                                                   const SchemeSpec &spec,
                                                   const SchemeSpecPart &part) {
  OptionReader reader(spec, part);
  int64_t cols = 256, bits = 4, actBits = 8;
  if (auto err = reader.getInt("cols", cols))
    return std::move(err);
  if (auto err = reader.getInt("bits", bits))
    return std::move(err);
  if (auto err = reader.getInt("act-bits", actBits))
    return std::move(err);
  if (auto err = reader.checkAllUsed("cols, bits, act-bits"))
    return std::move(err);
  // The checks of OutlierColsSchemeAttr::verify, pointing at the option;
  // cols < K is checked per weight (verifyShape).
  if (cols < 0)
    return reader.error("cols",
                        "quik cols must be >= 0, got " + llvm::Twine(cols));
  if (bits != 4 && bits != 8)
    return reader.error("bits",
                        "quik bits must be 4 or 8, got " + llvm::Twine(bits));
  if (actBits != 4 && actBits != 8)
    return reader.error("act-bits", "quik act-bits must be 4 or 8, got " +
                                        llvm::Twine(actBits));
  return cast<QuantSchemeAttrInterface>(
      OutlierColsSchemeAttr::get(context, cols, static_cast<unsigned>(bits)));
}

/// `sparse:frac=F[,select=magnitude|iqr|sensitivity]` on top of `dense`.
llvm::Expected<QuantSchemeAttrInterface>
buildSparse(const SchemeSpec &spec, const SchemeSpecPart &part,
            QuantSchemeAttrInterface dense) {
  OptionReader reader(spec, part);
  double frac = 0.0;
  std::string select = "magnitude";
  if (auto err = reader.getDouble("frac", frac))
    return std::move(err);
  if (auto err = reader.getString("select", select))
    return std::move(err);
  bool hasFrac = llvm::any_of(
      part.options, [](const SchemeSpecOption &o) { return o.key == "frac"; });
  if (auto err = reader.checkAllUsed("frac, select"))
    return std::move(err);
  // The checks of SparseSchemeAttr::verify, pointing at the option.
  if (!hasFrac)
    return makeSpecError(spec, part.offset,
                         "sparse needs frac=F, the share of the weights kept "
                         "as fp16 outliers (e.g. sparse:frac=0.0045)");
  if (!(frac > 0.0 && frac < 1.0))
    return reader.error("frac", "sparse frac must be in (0, 1), got " +
                                    formatNumber(frac));
  std::optional<OutlierSelection> rule = symbolizeOutlierSelection(select);
  if (!rule)
    return reader.error("select", "sparse select must be magnitude, iqr or "
                                  "sensitivity, got '" +
                                      select + "'");
  return cast<QuantSchemeAttrInterface>(
      SparseSchemeAttr::get(dense, frac, *rule));
}

/// `DENSE+sparse:...`: the only composition, dense-and-sparse.
llvm::Expected<QuantSchemeAttrInterface> buildComposed(MLIRContext *context,
                                                       const SchemeSpec &spec) {
  const SchemeSpecPart &first = spec.parts.front();
  if (first.name == "sparse")
    return makeSpecError(
        spec, first.offset,
        "'sparse' stores only the outliers on top of a dense scheme: write "
        "DENSE+sparse:frac=F (e.g. lut:bits=3+sparse:frac=0.0045)");
  const SchemeSpecPart &second = spec.parts[1];
  if (second.name != "sparse")
    return makeSpecError(spec, second.offset,
                         "only 'sparse' composes with a dense scheme "
                         "(DENSE+sparse:frac=F), got '" +
                             second.name + "'");
  if (spec.parts.size() > 2)
    return makeSpecError(spec, spec.parts[2].offset,
                         "only one '+sparse' part may follow the dense "
                         "scheme");
  // The dense part alone, with the whole text so that carets stay put.
  SchemeSpec denseSpec = spec;
  denseSpec.parts.resize(1);
  auto dense = buildSchemeAttr(context, denseSpec);
  if (!dense)
    return dense.takeError();
  return buildSparse(spec, second, *dense);
}

} // namespace

llvm::Expected<QuantSchemeAttrInterface>
mlir::mixq::buildSchemeAttr(MLIRContext *context, const SchemeSpec &spec) {
  if (spec.parts.size() != 1 || spec.parts.front().name == "sparse")
    return buildComposed(context, spec);
  const SchemeSpecPart &part = spec.parts.front();
  if (part.name == "affine")
    return buildAffine(context, spec, part);
  if (part.name == "lut")
    return buildLUT(context, spec, part);
  if (part.name == "mixed")
    return buildMixed(context, spec, part);
  if (part.name == "bitplane")
    return buildBitplane(context, spec, part);
  if (part.name == "quik")
    return buildQuik(context, spec, part);
  if (spec.isUnquantized())
    return makeSpecError(spec, part.offset,
                         "'" + part.name + "' is not a quantized scheme");
  return makeSpecError(spec, part.offset,
                       "unknown scheme '" + part.name +
                           "' (known: affine, mixed, lut, sparse, quik, "
                           "bitplane, fp16, fp32)");
}

std::optional<unsigned> mlir::mixq::getActivationBits(const SchemeSpec &spec) {
  if (spec.parts.size() != 1 || spec.parts.front().name != "quik")
    return std::nullopt;
  for (const SchemeSpecOption &option : spec.parts.front().options) {
    unsigned bits = 0;
    if (option.key == "act-bits" &&
        !StringRef(option.value).getAsInteger(10, bits))
      return bits;
  }
  return std::nullopt;
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
