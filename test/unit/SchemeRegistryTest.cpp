//===- SchemeRegistryTest.cpp - SPECs through the scheme registry ---------===//
//
// The SPEC of every scheme goes through its registered syntax
// (QuantSchemeAttrInterface::getSpecSyntax): omitted keys take the SPEC
// default or the attribute's TableGen default, explicit defaults are left
// implicit, a test-only scheme registered at run time is found like a
// built-in one, and the registry refuses a name taken by another attribute.
//===----------------------------------------------------------------------===//
#include "dialect/MixQ/SchemeRegistry.h"
#include "dialect/MixQ/MixQAttrs.h"
#include "dialect/MixQ/MixQDialect.h"
#include "dialect/MixQ/SchemeUtils.h"
#include "passes/SchemeSpec.h"

#include <gtest/gtest.h>

namespace mixq::test {
void registerTestSchemesDialect(mlir::DialectRegistry &registry);
} // namespace mixq::test

using namespace mlir;
using namespace mlir::mixq;

namespace {

class SchemeRegistryTest : public ::testing::Test {
protected:
  /// The attribute SPEC `text` builds, printed, or the error message.
  std::string build(StringRef text) {
    auto spec = parseSchemeSpec(text);
    if (!spec)
      return llvm::toString(spec.takeError());
    auto scheme = buildSchemeAttr(&context, *spec);
    if (!scheme)
      return llvm::toString(scheme.takeError());
    std::string printed;
    llvm::raw_string_ostream(printed) << Attribute(*scheme);
    return printed;
  }

  QuantSchemeAttrInterface scheme(StringRef text) {
    auto spec = parseSchemeSpec(text);
    EXPECT_TRUE(bool(spec));
    auto scheme = buildSchemeAttr(&context, *spec);
    EXPECT_TRUE(bool(scheme));
    return scheme ? *scheme : QuantSchemeAttrInterface();
  }

  MLIRContext context;
};

std::vector<std::string> registeredNames() {
  std::vector<std::string> names;
  for (const RegisteredScheme &scheme : getRegisteredSchemes())
    names.push_back(scheme.syntax.name);
  return names;
}

TEST_F(SchemeRegistryTest, BuiltinsComeFirstInDialectOrder) {
  std::vector<std::string> names = registeredNames();
  ASSERT_GE(names.size(), 6u);
  names.resize(6);
  EXPECT_EQ(names, (std::vector<std::string>{"affine", "lut", "mixed",
                                             "bitplane", "sparse", "quik"}));
}

TEST_F(SchemeRegistryTest, OmittedKeysTakeSpecThenTableGenDefaults) {
  // `group` has a SPEC default (the attribute requires it); `lo`, `hi` and
  // the rest are the attribute's TableGen defaults, so they print nothing.
  EXPECT_EQ(build("mixed"), "#mixq.mixed<group = 64>");
  auto mixed = cast<MixedSchemeAttr>(scheme("mixed:hi-frac=0.25"));
  EXPECT_EQ(mixed.getLo(), 2u);
  EXPECT_EQ(mixed.getHi(), 4u);
  EXPECT_EQ(mixed.getHighFraction(), 0.25);
  EXPECT_EQ(mixed.getOutlierFraction(), 0.0075);
  EXPECT_EQ(build("affine"), "#mixq.affine<bits = 4, group = 128>");
  EXPECT_EQ(build("lut"), "#mixq.lut<bits = 3>");
  EXPECT_EQ(build("bitplane"), "#mixq.bitplane<seed = 3, parent = 4>");
  EXPECT_EQ(build("quik:cols=8"), "#mixq.outlier_cols<cols = 8, bits = 4>");
}

TEST_F(SchemeRegistryTest, ExplicitDefaultsStayImplicit) {
  EXPECT_EQ(build("affine:scale=f16,sym=no,clip=rtn"),
            "#mixq.affine<bits = 4, group = 128>");
  EXPECT_EQ(build("affine:bits=3,scale=bf16,sym=yes,clip=mse"),
            "#mixq.affine<bits = 3, group = 128, symmetric = true, scale = "
            "bf16, clip = 11>");
  EXPECT_EQ(build("bitplane:seed=2,parent=4,width=4"),
            "#mixq.bitplane<seed = 2, parent = 4>");
  EXPECT_EQ(build("bitplane:seed=2,parent=4,width=3"),
            "#mixq.bitplane<seed = 2, parent = 4, width = 3>");
}

TEST_F(SchemeRegistryTest, ActivationBitsAreAParameter) {
  EXPECT_EQ(scheme("quik:cols=8").getActivationBits(), std::nullopt);
  EXPECT_EQ(scheme("quik:cols=8,act-bits=8").getActivationBits(),
            std::optional<unsigned>(8));
  EXPECT_EQ(scheme("affine").getActivationBits(), std::nullopt);
}

TEST_F(SchemeRegistryTest, ValuesAreCheckedAndNormalizedByKind) {
  // Numbers in any spelling strtod reads, written as MLIR float literals.
  EXPECT_EQ(build("lut:bits=3+sparse:frac=5e-3"),
            "#mixq.sparse<#mixq.lut<bits = 3>, frac = 0.005>");
  EXPECT_EQ(build("mixed:hi-frac=.5"),
            "#mixq.mixed<group = 64, hi_frac = 0.5>");
  // Out of the parameter's range, or not its kind: about the value.
  EXPECT_NE(build("affine:bits=-1")
                .find("affine 'bits' expects a non-negative integer, got '-1'"),
            std::string::npos);
  EXPECT_NE(build("lut:bits=4294967297")
                .find("lut 'bits' is out of range (at most 4294967295)"),
            std::string::npos);
  EXPECT_NE(build("mixed:bits=true")
                .find("mixed 'bits' expects a finite number, got 'true'"),
            std::string::npos);
  EXPECT_NE(build("mixed:outliers=nan")
                .find("mixed 'outliers' expects a finite number, got 'nan'"),
            std::string::npos);
  EXPECT_NE(build("quik:cols=false")
                .find("quik 'cols' expects an integer, got 'false'"),
            std::string::npos);
  EXPECT_NE(build("affine:sym=yes-").find("'sym' has an invalid value 'yes-'"),
            std::string::npos);
  EXPECT_NE(build("lut:bits=3-")
                .find("lut 'bits' expects a non-negative integer, got '3-'"),
            std::string::npos);
}

TEST_F(SchemeRegistryTest, ErrorsAboutSpecDefaultsSaySo) {
  std::string error = build("bitplane:parent=2");
  EXPECT_NE(error.find("bitplane 'seed' must be in 1..2 (parent), got 3 "
                       "(seed=3 is the SPEC default; give seed=...)"),
            std::string::npos)
      << error;
}

TEST_F(SchemeRegistryTest, WrapperTakesTheSchemeBefore) {
  EXPECT_EQ(build("bitplane:seed=2+sparse:frac=0.5,select=iqr"),
            "#mixq.sparse<#mixq.bitplane<seed = 2, parent = 4>, frac = 0.5, "
            "select = iqr>");
}

TEST_F(SchemeRegistryTest, RuntimeRegisteredSchemeIsFound) {
  // Before registration fp4 is unknown; the error lists what is there.
  // (Each ctest runs one test in its own process; under one process with
  // --gtest_shuffle another test may have registered fp4 already.)
  if (!llvm::is_contained(registeredNames(), "fp4")) {
    std::string error = build("fp4");
    EXPECT_NE(error.find("unknown scheme 'fp4' (known: affine, lut, mixed, "
                         "bitplane, sparse, quik, "),
              std::string::npos)
        << error;
    EXPECT_NE(error.find("fp16, fp32)"), std::string::npos) << error;
  }
  DialectRegistry registry;
  ::mixq::test::registerTestSchemesDialect(registry);
  EXPECT_TRUE(llvm::is_contained(registeredNames(), "fp4"));
  // The context has never seen the dialect: building loads it.
  EXPECT_EQ(context.getLoadedDialect("mixq_test"), nullptr);
  EXPECT_EQ(build("fp4"), "#mixq_test.fp4<group = 32>");
  EXPECT_EQ(build("fp4:group=8,spike=1"),
            "#mixq_test.fp4<group = 8, spike = true>");
  EXPECT_EQ(build("fp4+sparse:frac=0.25"),
            "#mixq.sparse<#mixq_test.fp4<group = 32>, frac = 0.25>");
  // Registering again is harmless.
  ::mixq::test::registerTestSchemesDialect(registry);
  EXPECT_EQ(llvm::count(registeredNames(), "fp4"), 1);
}

TEST_F(SchemeRegistryTest, NameTakenByAnotherAttributeIsAnError) {
  SchemeSpecSyntax clash;
  clash.name = "affine";
  clash.attrName = "#mixq.mixed";
  llvm::Error err = registerSchemeSyntax(
      clash, "mixq", [](DialectRegistry &r) { r.insert<MixQDialect>(); });
  ASSERT_TRUE(bool(err));
  EXPECT_EQ(llvm::toString(std::move(err)),
            "scheme 'affine' is already registered as #mixq.affine; "
            "#mixq.mixed cannot take its name");
  EXPECT_EQ(build("affine:bits=8"), "#mixq.affine<bits = 8, group = 128>");
}

TEST_F(SchemeRegistryTest, SyntaxNotNamingASchemeIsReported) {
  SchemeSpecSyntax bogus;
  bogus.name = "not-a-scheme";
  bogus.attrName = "#mixq.no_such_attr";
  bogus.keys = {{"bits", "bits", SpecValueKind::Unsigned, {}, "4"}};
  llvm::cantFail(registerSchemeSyntax(
      bogus, "mixq", [](DialectRegistry &r) { r.insert<MixQDialect>(); }));
  std::string error = build("not-a-scheme");
  EXPECT_NE(error.find("invalid scheme spec:"), std::string::npos) << error;
  EXPECT_NE(error.find("no_such_attr"), std::string::npos) << error;
}

TEST(SpecKeyTest, ParamNames) {
  EXPECT_EQ((SpecKey{"hi-frac", "help"}.getParamName()), "hi_frac");
  EXPECT_EQ(
      (SpecKey{"sym", "help", SpecValueKind::Any, "symmetric"}.getParamName()),
      "symmetric");
}

TEST(SpecKeyTest, BoolValues) {
  for (StringRef yes : {"1", "true", "yes"})
    EXPECT_EQ(llvm::cantFail(rewriteSpecBool(yes)), "true");
  for (StringRef no : {"0", "false", "no"})
    EXPECT_EQ(llvm::cantFail(rewriteSpecBool(no)), "false");
  auto bad = rewriteSpecBool("maybe");
  ASSERT_FALSE(bool(bad));
  EXPECT_EQ(llvm::toString(bad.takeError()),
            "must be true or false, got 'maybe'");
}

} // namespace
