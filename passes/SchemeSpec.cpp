//===- SchemeSpec.cpp - The SCHEME=SPEC grammar of --mixq-quantize --------===//

#include "passes/SchemeSpec.h"

#include "dialect/MixQ/SchemeRegistry.h"
#include "dialect/MixQ/SchemeUtils.h"

#include "mlir/AsmParser/AsmParser.h"
#include "mlir/IR/Diagnostics.h"
#include "llvm/ADT/StringExtras.h"
#include "llvm/Support/Format.h"
#include "llvm/Support/raw_ostream.h"

#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <limits>
#include <regex>

using namespace mlir;
using namespace mlir::mixq;

/// `fp16`, `fp32` and `none` keep a weight unquantized.
static bool isUnquantizedName(StringRef name) {
  return name == "fp16" || name == "fp32" || name == "none";
}

bool SchemeSpec::isUnquantized() const {
  return parts.size() == 1 && parts[0].options.empty() &&
         isUnquantizedName(parts[0].name);
}

/// The registered schemes' names and the unquantized ones, for errors.
static std::string listSchemeNames() {
  std::string names;
  for (const RegisteredScheme &scheme : getRegisteredSchemes())
    names += scheme.syntax.name + ", ";
  return names + "fp16, fp32";
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
                           "expected a scheme name (" + listSchemeNames() +
                               ")");
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

/// Where a SPEC option landed in the attribute text, to put the carets of
/// the attribute parser's errors back under the SPEC.
struct OptionSpan {
  size_t begin = 0, valueBegin = 0, end = 0;
  /// Null for a SpecKey::defaultValue.
  const SchemeSpecOption *option = nullptr;
  const SpecKey *key = nullptr;
};

/// The attribute text of one SPEC part and where its options went.
struct AttrText {
  std::string text;
  std::vector<OptionSpan> spans;
};

/// The first error the attribute parser reported, and the parameter it
/// failed to parse, if any.
struct ParseError {
  std::string message;
  size_t column = std::string::npos;
  std::string failedParam, failedType;
};

const SchemeSpecOption *findOption(const SchemeSpecPart &part, StringRef key) {
  for (const SchemeSpecOption &option : part.options)
    if (option.key == key)
      return &option;
  return nullptr;
}

size_t getValueOffset(const SchemeSpecOption &option) {
  return option.offset + option.key.size() + 1;
}

std::string listKeys(const SchemeSpecSyntax &syntax) {
  std::string keys;
  for (const SpecKey &key : syntax.keys)
    keys += (keys.empty() ? "" : ", ") + key.key;
  return keys;
}

/// A value goes into the attribute's syntax, so it may hold only the
/// characters of numbers and keywords: a leading '-' and no other.
bool isPlainValue(StringRef value) {
  StringRef rest = value;
  rest.consume_front("-");
  return !rest.empty() && llvm::all_of(rest, [](char c) {
    return llvm::isAlnum(c) || c == '.' || c == '_';
  });
}

/// `value` checked against its key's kind and written as MLIR reads it, or
/// an error message that completes "SCHEME 'KEY' ...".
llvm::Expected<std::string> normalizeValue(const SpecKey &key,
                                           StringRef value) {
  auto expected = [&](StringRef what) {
    return llvm::createStringError("expects " + what + ", got '" + value + "'");
  };
  switch (key.kind) {
  case SpecValueKind::Any:
    return value.str();
  case SpecValueKind::Unsigned: {
    uint64_t number = 0;
    if (value.getAsInteger(10, number))
      return expected("a non-negative integer");
    if (number > std::numeric_limits<uint32_t>::max())
      return llvm::createStringError("is out of range (at most 4294967295), "
                                     "got " +
                                     value);
    return std::to_string(number);
  }
  case SpecValueKind::Integer: {
    int64_t number = 0;
    if (value.getAsInteger(10, number))
      return expected("an integer");
    return std::to_string(number);
  }
  case SpecValueKind::Number: {
    double number = 0;
    if (value.getAsDouble(number) || !std::isfinite(number))
      return expected("a finite number");
    return formatFloatLiteral(number);
  }
  case SpecValueKind::Keyword:
    if (!llvm::isAlpha(value.front()) || !llvm::all_of(value, [](char c) {
          return llvm::isAlnum(c) || c == '_';
        }))
      return expected("a keyword");
    return value.str();
  }
  llvm_unreachable("unknown SpecValueKind");
}

/// Every option of `part` must be a key of the scheme, with a plain value.
llvm::Error checkOptions(const SchemeSpec &spec, const SchemeSpecPart &part,
                         const SchemeSpecSyntax &syntax) {
  for (const SchemeSpecOption &option : part.options) {
    const SpecKey *key = nullptr;
    for (const SpecKey &candidate : syntax.keys)
      if (candidate.key == option.key)
        key = &candidate;
    if (!key)
      return makeSpecError(spec, option.offset,
                           "unknown option '" + option.key + "' for scheme '" +
                               part.name + "' (known: " + listKeys(syntax) +
                               ")");
    // Values of the other kinds are checked by normalizeValue.
    if (key->kind == SpecValueKind::Any && !isPlainValue(option.value))
      return makeSpecError(spec, getValueOffset(option),
                           "'" + option.key + "' has an invalid value '" +
                               option.value + "'");
  }
  return llvm::Error::success();
}

/// `attrName<[dense, ]param = value, ...>` for the options of `part`, and
/// the keys' SPEC defaults for the rest (TableGen defaults are the
/// parser's).
llvm::Expected<AttrText> buildAttrText(const SchemeSpec &spec,
                                       const SchemeSpecPart &part,
                                       const SchemeSpecSyntax &syntax,
                                       Attribute dense) {
  AttrText result;
  llvm::raw_string_ostream os(result.text);
  os << syntax.attrName << "<";
  bool first = true;
  if (dense) {
    os << dense;
    first = false;
  }
  for (const SpecKey &key : syntax.keys) {
    const SchemeSpecOption *option = findOption(part, key.key);
    std::string value = option ? option->value : key.defaultValue;
    if (value.empty())
      continue;
    // Under the value written, or the part for a SPEC default.
    auto valueError = [&](llvm::Error err) {
      return makeSpecError(spec, option ? getValueOffset(*option) : part.offset,
                           part.name + " '" + key.key + "' " +
                               llvm::toString(std::move(err)));
    };
    llvm::Expected<std::string> normalized = normalizeValue(key, value);
    if (!normalized)
      return valueError(normalized.takeError());
    value = std::move(*normalized);
    if (key.rewriteValue) {
      llvm::Expected<std::string> rewritten = key.rewriteValue(value);
      if (!rewritten)
        return valueError(rewritten.takeError());
      value = std::move(*rewritten);
      if (value.empty())
        continue;
    }
    os << (first ? "" : ", ");
    first = false;
    OptionSpan span;
    span.begin = result.text.size();
    os << key.getParamName() << " = ";
    span.valueBegin = result.text.size();
    os << value;
    span.end = result.text.size();
    span.option = option;
    span.key = &key;
    result.spans.push_back(span);
  }
  os << ">";
  return result;
}

/// "failed to parse X parameter 'p' which is to be a `T`" follows a value
/// parser's own error; it names the parameter and its C++ type.
void findFailedParam(StringRef message, ParseError &error) {
  if (!message.consume_front("failed to parse ") ||
      !message.contains(" parameter '"))
    return;
  message = message.drop_until([](char c) { return c == '\''; }).drop_front();
  error.failedParam = message.take_until([](char c) { return c == '\''; });
  error.failedType = message.drop_until([](char c) { return c == '`'; })
                         .drop_front()
                         .take_until([](char c) { return c == '`'; });
}

/// Parses `text` as an attribute, keeping the parser's first error.
Attribute parseCapturingError(MLIRContext *context, StringRef text,
                              ParseError &error) {
  bool seen = false;
  ScopedDiagnosticHandler handler(context, [&](Diagnostic &diag) {
    if (diag.getSeverity() != DiagnosticSeverity::Error)
      return success();
    std::string message = diag.str();
    findFailedParam(message, error);
    if (seen)
      return success();
    seen = true;
    error.message = message;
    if (auto loc = dyn_cast<FileLineColLoc>(diag.getLocation()))
      error.column = loc.getColumn() - 1;
    return success();
  });
  size_t numRead = 0;
  Attribute attr = parseAttribute(text, context, Type(), &numRead);
  if (attr && numRead != text.size()) {
    error.message = "unexpected text after the attribute";
    error.column = numRead;
    return {};
  }
  return attr;
}

/// "an integer" for the C++ type of a parameter that failed to parse;
/// empty for other types, whose parsers explain their own errors.
std::string describeParamType(StringRef type) {
  if (type == "bool")
    return "true or false";
  if (type.contains("APFloat") || type == "double" || type == "float")
    return "a number";
  if (type == "unsigned" || type == "int64_t" || type == "int32_t" ||
      type == "int" || type == "uint64_t" || type == "uint32_t")
    return "an integer";
  return "";
}

/// Renames the attribute in `message` to the SPEC's scheme name and its
/// parameters to the SPEC's keys: `outlier_cols 'act_bits' must ...`
/// becomes `quik 'act-bits' must ...`.
std::string renameParams(std::string message, const SchemeSpecSyntax &syntax) {
  StringRef mnemonic = StringRef(syntax.attrName).rsplit('.').second;
  if (!mnemonic.empty() && StringRef(message).starts_with(mnemonic.str() + " "))
    message = syntax.name + message.substr(mnemonic.size());
  for (const SpecKey &key : syntax.keys) {
    std::string param = "'" + key.getParamName() + "'";
    std::string spelled = "'" + key.key + "'";
    for (size_t at = message.find(param); at != std::string::npos;
         at = message.find(param, at + spelled.size()))
      message.replace(at, param.size(), spelled);
  }
  return message;
}

/// The attribute parser's error as a SPEC error: the caret under the
/// option it is about, the parameters spelled as SPEC keys.
llvm::Error translateParseError(const SchemeSpec &spec,
                                const SchemeSpecPart &part,
                                const SchemeSpecSyntax &syntax,
                                const AttrText &text, const ParseError &error) {
  auto caretAt = [&](const OptionSpan &span) {
    return span.option ? getValueOffset(*span.option) : part.offset;
  };
  // Nothing but the name (and the dense part): the attribute's required
  // parameters are missing.
  if (text.spans.empty())
    return makeSpecError(spec, part.offset,
                         "'" + part.name +
                             "' needs options (known: " + listKeys(syntax) +
                             "; e.g. " + syntax.example + ")");
  StringRef message(error.message);
  if (message.consume_front("struct is missing required parameter: "))
    for (const SpecKey &key : syntax.keys)
      if (key.getParamName() == message)
        return makeSpecError(spec, part.offset,
                             "'" + part.name + "' needs " + key.key + "=...: " +
                                 key.help + " (e.g. " + syntax.example + ")");
  // A parameter of a C++ type with its own parser has said what is wrong;
  // a plain integer or number has not.
  std::string expected = describeParamType(error.failedType);
  for (const OptionSpan &span : text.spans) {
    StringRef value = span.option ? StringRef(span.option->value)
                                  : StringRef(span.key->defaultValue);
    if (span.key->getParamName() == error.failedParam && expected.empty())
      return makeSpecError(spec, caretAt(span),
                           renameParams(error.message, syntax));
    if (span.key->getParamName() == error.failedParam)
      return makeSpecError(spec, caretAt(span),
                           part.name + " '" + span.key->key + "' expects " +
                               expected + ", got '" + value + "'");
    if (error.column >= span.begin && error.column <= span.end)
      return makeSpecError(spec, caretAt(span),
                           part.name + " '" + span.key->key + "' = '" + value +
                               "': " + renameParams(error.message, syntax));
  }
  // A `verify` error is reported at the attribute; it names the parameter.
  // When that is a SPEC default the user did not write, say so.
  size_t caret = part.offset;
  std::string note;
  for (const OptionSpan &span : text.spans)
    if (message.contains("'" + span.key->getParamName() + "'")) {
      caret = caretAt(span);
      if (!span.option)
        note = " (" + span.key->key + "=" + span.key->defaultValue +
               " is the SPEC default; give " + span.key->key + "=...)";
      break;
    }
  return makeSpecError(spec, caret, renameParams(error.message, syntax) + note);
}

/// The attribute of one SPEC part; `dense` is the scheme that a wrapping
/// part (`+sparse:...`) wraps.
llvm::Expected<QuantSchemeAttrInterface>
buildPart(MLIRContext *context, const SchemeSpec &spec,
          const SchemeSpecPart &part, const RegisteredScheme &scheme,
          Attribute dense) {
  const SchemeSpecSyntax &syntax = scheme.syntax;
  if (llvm::Error err = checkOptions(spec, part, syntax))
    return std::move(err);
  auto text = buildAttrText(spec, part, syntax, dense);
  if (!text)
    return text.takeError();
  loadSchemeDialect(context, scheme);
  ParseError error;
  Attribute attr = parseCapturingError(context, text->text, error);
  if (!attr)
    return translateParseError(spec, part, syntax, *text, error);
  if (syntax.canonicalize)
    attr = syntax.canonicalize(attr);
  auto result = dyn_cast<QuantSchemeAttrInterface>(attr);
  if (!result)
    return makeSpecError(spec, part.offset,
                         "'" + part.name + "' is registered as " +
                             syntax.attrName +
                             ", which is not a quantization scheme");
  return result;
}

llvm::Expected<RegisteredScheme> lookupPart(const SchemeSpec &spec,
                                            const SchemeSpecPart &part) {
  if (std::optional<RegisteredScheme> scheme = lookupScheme(part.name))
    return std::move(*scheme);
  if (isUnquantizedName(part.name))
    return makeSpecError(spec, part.offset,
                         "'" + part.name + "' is not a quantized scheme");
  return makeSpecError(spec, part.offset,
                       "unknown scheme '" + part.name +
                           "' (known: " + listSchemeNames() + ")");
}

} // namespace

llvm::Expected<QuantSchemeAttrInterface>
mlir::mixq::buildSchemeAttr(MLIRContext *context, const SchemeSpec &spec) {
  // DENSE+WRAPPER+...: each part after the first wraps the scheme before it.
  Attribute built;
  for (const SchemeSpecPart &part : spec.parts) {
    auto scheme = lookupPart(spec, part);
    if (!scheme)
      return scheme.takeError();
    const SchemeSpecSyntax &syntax = scheme->syntax;
    if (!built && syntax.wrapsDense)
      return makeSpecError(spec, part.offset,
                           "'" + part.name + "' is " + syntax.summary +
                               ": write DENSE+" + part.name + ":... (e.g. " +
                               syntax.example + ")");
    if (built && !syntax.wrapsDense)
      return makeSpecError(spec, part.offset,
                           "only a scheme that wraps a dense one may follow "
                           "'+', and '" +
                               part.name + "' does not");
    auto attr = buildPart(context, spec, part, *scheme, built);
    if (!attr)
      return attr.takeError();
    built = *attr;
  }
  return cast<QuantSchemeAttrInterface>(built);
}

void mlir::mixq::printSchemeSpecHelp(llvm::raw_ostream &os) {
  os << "Schemes for --scheme=NAME:KEY=VALUE,... (DENSE+WRAPPER:... for a "
        "scheme that wraps a dense one; fp16, fp32 or none: unquantized):\n";
  for (const RegisteredScheme &scheme : getRegisteredSchemes()) {
    const SchemeSpecSyntax &syntax = scheme.syntax;
    os << "\n"
       << syntax.name << " (" << syntax.attrName << "): " << syntax.summary
       << "\n    e.g. " << syntax.example << "\n";
    bool hasAttrDefaults = false;
    for (const SpecKey &key : syntax.keys) {
      os << "    " << llvm::left_justify(key.key, 10) << " " << key.help;
      if (!key.defaultValue.empty())
        os << " (default " << key.defaultValue << ")";
      else if (key.help.find("default") == std::string::npos)
        hasAttrDefaults = true;
      os << "\n";
    }
    // Those are written once, in the attribute's TableGen.
    if (hasAttrDefaults)
      os << "    (other defaults: the attribute's; " << syntax.attrName
         << " in docs/dialects/, or docs/schemes.md)\n";
  }
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
