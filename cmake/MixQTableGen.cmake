# mixq_add_dialect_doc(<td file> <doc name>)
# Generates <doc name>.md from a dialect's TableGen with -gen-dialect-doc into
# ${PROJECT_BINARY_DIR}/docs/dialects/ and adds target MixQ<doc name>DocGen.
function(mixq_add_dialect_doc td_file doc_name dialect_name)
  set(LLVM_TARGET_DEFINITIONS ${td_file})
  mlir_tablegen(${doc_name}.md -gen-dialect-doc -dialect=${dialect_name})
  set(out ${PROJECT_BINARY_DIR}/docs/dialects/${doc_name}.md)
  add_custom_command(OUTPUT ${out}
    COMMAND ${CMAKE_COMMAND} -E copy
            ${CMAKE_CURRENT_BINARY_DIR}/${doc_name}.md ${out}
    DEPENDS ${CMAKE_CURRENT_BINARY_DIR}/${doc_name}.md)
  add_custom_target(MixQ${doc_name}DocGen ALL DEPENDS ${out})
endfunction()
