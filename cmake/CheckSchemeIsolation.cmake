# ctest schemes-stay-in-their-files: no code outside a scheme's own files
# names a concrete scheme. Passes, code generators, the runtime, the
# frontend and the tools reach schemes only through QuantSchemeAttrInterface
# and the SPEC registry (dialect/MixQ/SchemeRegistry.h), so that a new
# scheme, in the tree or a plugin, needs no edit there.
#   -DSOURCE_DIR=<repo>
# The scheme attribute classes are read from the dialect's TableGen files,
# so a new built-in scheme is checked without an edit here.
file(GLOB attr_tds ${SOURCE_DIR}/dialect/MixQ/*.td)
set(classes "")
foreach(td ${attr_tds})
  # Not file(STRINGS): the lines hold '[', which a CMake list does not split.
  file(READ ${td} text)
  string(REGEX MATCHALL "MixQ_Attr<\"[A-Za-z0-9]+\"" defs "${text}")
  foreach(def ${defs})
    string(REGEX MATCH "MixQ_Attr<\"([A-Za-z0-9]+)\"" _ "${def}")
    list(APPEND classes "${CMAKE_MATCH_1}Attr")
  endforeach()
endforeach()
list(LENGTH classes class_count)
if(class_count LESS 6)
  message(FATAL_ERROR "found only ${class_count} scheme attributes (${classes}) "
                      "in ${SOURCE_DIR}/dialect/MixQ/*.td")
endif()
list(JOIN classes "|" class_regex)
# Headers that declare one scheme's C++ API.
set(header_regex "#include \"dialect/MixQ/(SparseScheme|OutlierColsScheme)\\.h\"")

set(violations "")
foreach(dir passes codegen runtime frontend tools)
  file(GLOB_RECURSE sources ${SOURCE_DIR}/${dir}/*.h ${SOURCE_DIR}/${dir}/*.cpp)
  foreach(source ${sources})
    file(STRINGS ${source} lines REGEX "(^|[^A-Za-z0-9_])(${class_regex})([^A-Za-z0-9_]|$)|${header_regex}")
    foreach(line ${lines})
      string(APPEND violations "\n  ${source}: ${line}")
    endforeach()
  endforeach()
endforeach()
if(violations)
  message(FATAL_ERROR "code outside the schemes names a concrete scheme; "
                      "use QuantSchemeAttrInterface instead:${violations}")
endif()
message(STATUS "${class_count} scheme attributes (${classes}) are named only "
               "in their own files")
