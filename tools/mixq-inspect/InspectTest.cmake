# The mixq-inspect-errors test (see CMakeLists.txt): cmake -DINSPECT=...
# -DCORPUS=<test/fuzz/corpus/package> -DWORK=<scratch dir> -P this file.
file(REMOVE_RECURSE ${WORK})
file(MAKE_DIRECTORY ${WORK})

# Runs mixq-inspect with ARGN; checks the exit code and that stderr
# (expected_rc 1) or stdout (0) matches `pattern`.
function(expect expected_rc pattern)
  execute_process(COMMAND ${INSPECT} ${ARGN}
    RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE err)
  if(expected_rc EQUAL 0)
    set(text "${out}")
  else()
    set(text "${err}")
  endif()
  if(NOT rc EQUAL expected_rc OR NOT text MATCHES "${pattern}")
    message(FATAL_ERROR "mixq-inspect ${ARGN}: expected exit ${expected_rc} "
      "and output matching '${pattern}', got exit ${rc}\n"
      "stdout:\n${out}\nstderr:\n${err}")
  endif()
endfunction()

expect(1 "^mixq-inspect: error: [^\n]*/missing\\.mixq: cannot open: No such file"
  ${WORK}/missing.mixq)
file(WRITE ${WORK}/short.mixq "MIXQPKG")
expect(1 "^mixq-inspect: error: [^\n]*/short\\.mixq: truncated: the file has 7 bytes"
  ${WORK}/short.mixq)
file(WRITE ${WORK}/other.gguf "GGUF and then some more bytes, over 64 in all, "
  "so that only the magic is wrong")
expect(1 "^mixq-inspect: error: [^\n]*/other\\.gguf: not a mixq package"
  ${WORK}/other.gguf)
expect(1 "checksum mismatch in blob 'blk0\\.q_proj:codes'"
  ${CORPUS}/corrupt-blob.mixq)
expect(1 "manifest checksum mismatch" ${CORPUS}/corrupt-manifest.mixq)
expect(1 "package version 2 is newer than this runtime supports \\(1\\)"
  ${CORPUS}/version2.mixq)
# --no-verify skips only the blob checksums.
expect(0 "checksums:  manifest ok, [0-9]+ blobs not verified"
  --no-verify ${CORPUS}/corrupt-blob.mixq)
expect(0 "format:     mixq package version 1.*weights:    2 weights"
  ${CORPUS}/tiny.mixq)
expect(0 "\"format\": \"mixq\"" --json ${CORPUS}/tiny.mixq)
expect(0 "^usage: mixq-inspect" --help)
expect(2 "unknown option '--bogus'" --bogus)
expect(2 "no package given")
