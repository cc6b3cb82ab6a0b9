# `cmake --install build --prefix P` installs the tools, the headers and
# TableGen files a scheme author includes, the generated .inc files, the
# libraries, and the MixQ CMake package (find_package(MixQ) with
# -DMixQ_DIR=P/lib/cmake/MixQ). scripts/test-scheme-plugin.sh builds
# test/lib's fp4 plugin against it.
include(GNUInstallDirs)
include(CMakePackageConfigHelpers)

install(TARGETS mixq-opt mixq-compile mixq-run mixq-synth mixq-inspect
  RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR})
install(TARGETS MixQDialect MixQQuantCore MixQSupport EXPORT MixQTargets
  ARCHIVE DESTINATION ${CMAKE_INSTALL_LIBDIR}
  INCLUDES DESTINATION ${CMAKE_INSTALL_INCLUDEDIR})
install(DIRECTORY ${PROJECT_SOURCE_DIR}/dialect/MixQ/
  DESTINATION ${CMAKE_INSTALL_INCLUDEDIR}/dialect/MixQ
  FILES_MATCHING PATTERN "*.h" PATTERN "*.td")
install(DIRECTORY ${PROJECT_BINARY_DIR}/dialect/MixQ/
  DESTINATION ${CMAKE_INSTALL_INCLUDEDIR}/dialect/MixQ
  FILES_MATCHING PATTERN "*.inc"
  PATTERN CMakeFiles EXCLUDE)
install(DIRECTORY ${PROJECT_SOURCE_DIR}/quant ${PROJECT_SOURCE_DIR}/support
  DESTINATION ${CMAKE_INSTALL_INCLUDEDIR}
  FILES_MATCHING PATTERN "*.h")
install(EXPORT MixQTargets NAMESPACE MixQ::
  DESTINATION ${CMAKE_INSTALL_LIBDIR}/cmake/MixQ)

configure_package_config_file(
  ${PROJECT_SOURCE_DIR}/cmake/package/MixQConfig.cmake.in
  ${PROJECT_BINARY_DIR}/cmake/MixQConfig.cmake
  INSTALL_DESTINATION ${CMAKE_INSTALL_LIBDIR}/cmake/MixQ
  PATH_VARS CMAKE_INSTALL_INCLUDEDIR)
write_basic_package_version_file(
  ${PROJECT_BINARY_DIR}/cmake/MixQConfigVersion.cmake
  VERSION ${PROJECT_VERSION} COMPATIBILITY SameMinorVersion)
install(FILES ${PROJECT_BINARY_DIR}/cmake/MixQConfig.cmake
  ${PROJECT_BINARY_DIR}/cmake/MixQConfigVersion.cmake
  DESTINATION ${CMAKE_INSTALL_LIBDIR}/cmake/MixQ)
