# A tool that loads scheme plugins (mixq-opt --load-dialect-plugin,
# mixq-compile --load-scheme-plugin). A plugin is a MODULE that links none
# of mixq's libraries: it binds to the tool's own copy of them when it is
# loaded, so that there is one scheme registry, one copy of every TypeID
# and one mixq dialect. The tool therefore exports its symbols and links
# the whole of the libraries a scheme may call (the dialect, the quantizer
# core, the support helpers), not only the members it uses itself.
function(mixq_add_plugin_host target)
  set_target_properties(${target} PROPERTIES ENABLE_EXPORTS ON)
  target_link_options(${target} PRIVATE "LINKER:--whole-archive"
    $<TARGET_FILE:MixQDialect> $<TARGET_FILE:MixQQuantCore>
    $<TARGET_FILE:MixQSupport> "LINKER:--no-whole-archive")
  target_link_libraries(${target} PRIVATE MixQDialect MixQQuantCore
    MixQSupport)
endfunction()
