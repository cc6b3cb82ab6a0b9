# ctest runtime-has-no-mlir: the runtime and its tools must not depend on
# MLIR or LLVM (DESIGN.md §5: runtime-only builds on GPU machines have
# neither). Checks the sources' includes and the binaries' shared libraries.
#   -DSOURCE_DIR=<repo>/runtime -DBINARIES="mixq-run;mixq-inspect"
file(GLOB_RECURSE sources ${SOURCE_DIR}/*.h ${SOURCE_DIR}/*.cpp ${SOURCE_DIR}/*.def)
foreach(source ${sources})
  file(STRINGS ${source} includes REGEX "^#include [<\"](mlir|llvm|llvm-c)/")
  if(includes)
    message(FATAL_ERROR "${source} includes MLIR/LLVM headers: ${includes}")
  endif()
endforeach()
foreach(binary ${BINARIES})
  execute_process(COMMAND ldd ${binary} OUTPUT_VARIABLE libs
                  RESULT_VARIABLE status)
  if(NOT status EQUAL 0)
    message(FATAL_ERROR "ldd ${binary} failed")
  endif()
  if(libs MATCHES "lib(MLIR|LLVM)[^ ]*\\.so")
    message(FATAL_ERROR "${binary} links ${CMAKE_MATCH_0}:\n${libs}")
  endif()
endforeach()
list(LENGTH sources count)
message(STATUS "runtime: ${count} sources and ${BINARIES} are free of MLIR/LLVM")
