# genlab_add_plugin(<target>
#   NAME <name> KIND <model|dataset|metric|backend> VERSION <x.y.z>
#   [FAMILY <family>] [SUMMARY <text>] [MODALITIES <m>...]
#   [TORCH]                      link the LibTorch SDK layer (genlab::sdk_torch)
#   [OUTPUT_DIR <dir>]           where the plugin folder goes (default: <build>/plugins)
#   [NO_INSTALL]
#   [ABI_VERSION <major.minor>]  what plugin.toml records; default: this SDK's header. Set it
#                                only for an entry table built by hand against another header.
#   SOURCES <file>...)
#
# Builds <target> as a shared module with hidden visibility in <OUTPUT_DIR>/<name>/ and
# writes <OUTPUT_DIR>/<name>/plugin.toml beside it, so the folder is a plugin that
# `genlab plugins check` and GENLAB_PLUGIN_PATH accept as it is.
include_guard(GLOBAL)
include(GNUInstallDirs)

function(genlab_add_plugin target)
  cmake_parse_arguments(P "TORCH;NO_INSTALL"
    "NAME;KIND;VERSION;FAMILY;SUMMARY;OUTPUT_DIR;ABI_VERSION" "MODALITIES;SOURCES" ${ARGN})
  foreach(required NAME KIND VERSION SOURCES)
    if(NOT P_${required})
      message(FATAL_ERROR "genlab_add_plugin(${target}): ${required} is required")
    endif()
  endforeach()
  if(NOT P_KIND MATCHES "^(model|dataset|metric|backend)$")
    message(FATAL_ERROR "genlab_add_plugin(${target}): KIND must be model, dataset, metric or backend, got '${P_KIND}'")
  endif()
  if(NOT P_NAME MATCHES "^[a-z0-9][a-z0-9_-]*$")
    message(FATAL_ERROR "genlab_add_plugin(${target}): NAME must match [a-z0-9][a-z0-9_-]*, got '${P_NAME}'")
  endif()
  if(NOT P_OUTPUT_DIR)
    if(GENLAB_PLUGIN_OUTPUT_DIR)
      set(P_OUTPUT_DIR ${GENLAB_PLUGIN_OUTPUT_DIR})
    else()
      set(P_OUTPUT_DIR ${CMAKE_BINARY_DIR}/plugins)
    endif()
  endif()
  set(folder ${P_OUTPUT_DIR}/${P_NAME})

  add_library(${target} MODULE ${P_SOURCES})
  set_target_properties(${target} PROPERTIES
    PREFIX "lib"
    OUTPUT_NAME "genlab_${P_NAME}"
    LIBRARY_OUTPUT_DIRECTORY ${folder}
    C_VISIBILITY_PRESET hidden
    CXX_VISIBILITY_PRESET hidden
    VISIBILITY_INLINES_HIDDEN ON)
  if(TARGET genlab::sdk)
    target_link_libraries(${target} PRIVATE genlab::sdk)
  else()
    target_link_libraries(${target} PRIVATE genlab_sdk)
  endif()
  if(P_TORCH)
    target_link_libraries(${target} PRIVATE genlab::sdk_torch)
    # One precompiled torch header shared by every LibTorch plugin of the project.
    if(TARGET genlab_torch_pch)
      target_precompile_headers(${target} REUSE_FROM genlab_torch_pch)
    endif()
  endif()
  if(GENLAB_WARNINGS)
    target_compile_options(${target} PRIVATE ${GENLAB_WARNINGS})
  endif()

  # plugin.toml: what `genlab plugins list` reads without loading the library.
  list(TRANSFORM P_MODALITIES REPLACE "(.+)" "\"\\1\"" OUTPUT_VARIABLE quoted)
  list(JOIN quoted ", " modalities)
  if(NOT P_ABI_VERSION)
    set(P_ABI_VERSION ${GENLAB_ABI_VERSION})
  endif()
  if(NOT P_ABI_VERSION)
    message(FATAL_ERROR "genlab_add_plugin: GENLAB_ABI_VERSION is not set (find_package(genlab) first)")
  endif()
  string(REPLACE "\"" "\\\"" summary "${P_SUMMARY}")
  file(GENERATE OUTPUT ${folder}/plugin.toml CONTENT
"# Written by genlab_add_plugin; read by the genlab host without loading the library.
name = \"${P_NAME}\"
kind = \"${P_KIND}\"
version = \"${P_VERSION}\"
abi_version = \"${P_ABI_VERSION}\"
family = \"${P_FAMILY}\"
summary = \"${summary}\"
modalities = [${modalities}]
library = \"$<TARGET_FILE_NAME:${target}>\"
")
  if(NOT P_NO_INSTALL)
    if(NOT GENLAB_PLUGIN_INSTALL_DIR)
      set(GENLAB_PLUGIN_INSTALL_DIR ${CMAKE_INSTALL_LIBDIR}/genlab/plugins)
    endif()
    install(TARGETS ${target} LIBRARY DESTINATION ${GENLAB_PLUGIN_INSTALL_DIR}/${P_NAME})
    install(FILES ${folder}/plugin.toml DESTINATION ${GENLAB_PLUGIN_INSTALL_DIR}/${P_NAME})
  endif()
endfunction()
