//===- UtilityKernelsTest.cpp - the PTX the runtime carries itself --------===//
//
// The utility module must be valid PTX for every chip the runtime runs on:
// where ptxas is installed (the CUDA toolkit; $PTXAS picks one) it is
// assembled for sm_80 and sm_90 and must declare both entries with 8-byte
// parameters (the fake drivers read every parameter as 8 bytes) and spill
// nothing. Without ptxas the assembly check is skipped, saying so.
//===----------------------------------------------------------------------===//
#include "runtime/cuda/UtilityKernels.h"

#include <gtest/gtest.h>

#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <sstream>
#include <string>
#include <unistd.h>

using namespace mixq::runtime::cuda;

namespace {

std::string findPtxas() {
  const char *candidates[] = {std::getenv("PTXAS"),
                              "/usr/local/cuda/bin/ptxas"};
  for (const char *candidate : candidates)
    if (candidate && ::access(candidate, X_OK) == 0)
      return candidate;
  if (const char *home = std::getenv("CUDA_HOME")) {
    std::string path = std::string(home) + "/bin/ptxas";
    if (::access(path.c_str(), X_OK) == 0)
      return path;
  }
  return "";
}

/// ptxas -v's output for the module on `chip`, or "" when it failed.
std::string assemble(const std::string &ptxas, const std::string &chip) {
  std::string dir = ::testing::TempDir();
  std::string ptx = dir + "/mixq-utility-" + std::to_string(::getpid());
  std::ofstream(ptx + ".ptx") << utilityKernelsPTX();
  std::string command = ptxas + " -v -arch=" + chip + " " + ptx + ".ptx -o " +
                        ptx + ".cubin > " + ptx + ".log 2>&1";
  int status = std::system(command.c_str());
  std::ifstream in(ptx + ".log");
  std::stringstream log;
  log << in.rdbuf();
  for (const char *suffix : {".ptx", ".cubin", ".log"})
    std::remove((ptx + suffix).c_str());
  EXPECT_EQ(status, 0) << log.str();
  return status == 0 ? log.str() : "";
}

/// The sum of every "N bytes spill stores" and "N bytes spill loads".
long spilledBytes(const std::string &log) {
  long total = 0;
  for (const char *what : {" bytes spill stores", " bytes spill loads"})
    for (size_t at = log.find(what); at != std::string::npos;
         at = log.find(what, at + 1)) {
      size_t start = log.find_last_not_of("0123456789", at - 1) + 1;
      total += std::strtol(log.c_str() + start, nullptr, 10);
    }
  return total;
}

TEST(UtilityKernelsTest, DeclaresBothEntriesWithEightByteParameters) {
  std::string ptx = utilityKernelsPTX();
  EXPECT_NE(ptx.find(".visible .entry mixq_fill_random("), std::string::npos);
  EXPECT_NE(ptx.find(".visible .entry mixq_read_bytes("), std::string::npos);
  EXPECT_EQ(ptx.find(".param .u32"), std::string::npos);
  // Four 16-byte loads per thread in the read kernel.
  size_t loads = 0;
  for (size_t at = ptx.find("ld.global.nc.v4.u32"); at != std::string::npos;
       at = ptx.find("ld.global.nc.v4.u32", at + 1))
    ++loads;
  EXPECT_EQ(loads, kReadVectorsPerThread);
}

TEST(UtilityKernelsTest, AssemblesWithoutSpills) {
  std::string ptxas = findPtxas();
  if (ptxas.empty())
    GTEST_SKIP() << "no ptxas (install the CUDA toolkit or set PTXAS)";
  for (const char *chip : {"sm_80", "sm_90"}) {
    std::string log = assemble(ptxas, chip);
    EXPECT_NE(log.find("entry function 'mixq_fill_random'"), std::string::npos)
        << log;
    EXPECT_NE(log.find("entry function 'mixq_read_bytes'"), std::string::npos)
        << log;
    EXPECT_EQ(spilledBytes(log), 0) << log;
  }
}

TEST(UtilityKernelsTest, FiniteMasksClearTheTopExponentBit) {
  EXPECT_EQ(finiteMaskFor("f32"), 0xBFFFFFFFu);
  EXPECT_EQ(finiteMaskFor("f16"), 0xBFFFBFFFu);
  EXPECT_EQ(finiteMaskFor("bf16"), 0xBFFFBFFFu);
  EXPECT_EQ(finiteMaskFor("i8"), 0xFFFFFFFFu);
}

} // namespace
