# Runs one libFuzzer binary in test mode (see CMakeLists.txt).
if(NOT EXISTS ${FUZZER})
  message(FATAL_ERROR "fuzzer ${FUZZER} was not built")
endif()
file(GLOB inputs ${CORPUS}/*)
if(MODE STREQUAL "regression")
  list(LENGTH inputs count)
  message(STATUS "running ${count} corpus inputs through ${FUZZER}")
  execute_process(COMMAND ${FUZZER} -rss_limit_mb=2048 ${inputs}
    RESULT_VARIABLE rc)
else()
  file(REMOVE_RECURSE ${SCRATCH})
  file(MAKE_DIRECTORY ${SCRATCH})
  execute_process(COMMAND ${FUZZER} -max_total_time=${SECONDS}
    -rss_limit_mb=2048 -timeout=10 -print_final_stats=1
    -artifact_prefix=${SCRATCH}/ ${SCRATCH} ${CORPUS}
    RESULT_VARIABLE rc)
endif()
if(NOT rc EQUAL 0)
  message(FATAL_ERROR "${FUZZER} failed (exit ${rc}); a crashing input is "
                      "in ${SCRATCH} (add it to ${CORPUS} once fixed)")
endif()
