# Install and export simfuse so an extension can use find_package(simfuse):
#   - installed:   cmake -DCMAKE_PREFIX_PATH=<prefix> ...
#   - build tree:  cmake -Dsimfuse_DIR=<simfuse build dir> ...   (what the example tests do)
include(CMakePackageConfigHelpers)
set(SIMFUSE_LIBS simfuse_base simfuse_core simfuse_solvers simfuse_postproc simfuse_coupling)
foreach(t simfuse_surrogates simfuse_ai)
  if(TARGET ${t})
    list(APPEND SIMFUSE_LIBS ${t})
  endif()
endforeach()
set_target_properties(simfuse_options PROPERTIES EXPORT_NAME options)
set_target_properties(simfuse PROPERTIES EXPORT_NAME simfuse_exe)

install(TARGETS simfuse_options ${SIMFUSE_LIBS} simfuse EXPORT simfuseTargets
        LIBRARY DESTINATION ${CMAKE_INSTALL_LIBDIR}
        ARCHIVE DESTINATION ${CMAKE_INSTALL_LIBDIR}
        RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR})
# The public headers; the internal ones (the checkpoint store, the output writer's bookkeeping,
# gathering helpers, provenance, tensor transforms, the flat optimizer, model-file helpers, the
# online policy) sit in detail/ folders and are not installed.
foreach(dir core solvers postproc coupling surrogates)
  install(DIRECTORY ${PROJECT_SOURCE_DIR}/${dir} DESTINATION ${CMAKE_INSTALL_INCLUDEDIR}/simfuse
          FILES_MATCHING PATTERN "*.hpp"
          PATTERN "detail" EXCLUDE)  # internal headers live in detail/ folders
endforeach()
install(FILES ${PROJECT_SOURCE_DIR}/simfuse.hpp DESTINATION ${CMAKE_INSTALL_INCLUDEDIR}/simfuse)
install(FILES ${PROJECT_BINARY_DIR}/generated/simfuse/core/Version.hpp
        DESTINATION ${CMAKE_INSTALL_INCLUDEDIR}/simfuse/core)

# pkg-config, for builds without CMake (the layers below libtorch: a solver, a policy or
# a plugin without surrogates): c++ $(pkg-config --cflags --libs simfuse) ...
file(RELATIVE_PATH SIMFUSE_PC_TO_PREFIX ${CMAKE_INSTALL_FULL_LIBDIR}/pkgconfig ${CMAKE_INSTALL_PREFIX})
configure_file(${PROJECT_SOURCE_DIR}/cmake/simfuse.pc.in ${PROJECT_BINARY_DIR}/simfuse.pc @ONLY)
install(FILES ${PROJECT_BINARY_DIR}/simfuse.pc DESTINATION ${CMAKE_INSTALL_LIBDIR}/pkgconfig)

set(SIMFUSE_CMAKE_DIR ${CMAKE_INSTALL_LIBDIR}/cmake/simfuse)
install(EXPORT simfuseTargets NAMESPACE simfuse:: DESTINATION ${SIMFUSE_CMAKE_DIR})
export(EXPORT simfuseTargets NAMESPACE simfuse:: FILE ${PROJECT_BINARY_DIR}/simfuseTargets.cmake)

configure_package_config_file(${PROJECT_SOURCE_DIR}/cmake/simfuseConfig.cmake.in
                              ${PROJECT_BINARY_DIR}/simfuseConfig.cmake INSTALL_DESTINATION ${SIMFUSE_CMAKE_DIR})
write_basic_package_version_file(${PROJECT_BINARY_DIR}/simfuseConfigVersion.cmake COMPATIBILITY SameMinorVersion)
install(FILES ${PROJECT_BINARY_DIR}/simfuseConfig.cmake ${PROJECT_BINARY_DIR}/simfuseConfigVersion.cmake
        DESTINATION ${SIMFUSE_CMAKE_DIR})
