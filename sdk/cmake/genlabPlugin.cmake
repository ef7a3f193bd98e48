# genlab_add_plugin(<target>
#   NAME <name>                  the plugin's folder and library: <OUTPUT_DIR>/<name>/libgenlab_<name>.so
#   [KIND <model|dataset|metric|backend>] [VERSION <x.y.z>] [ABI_VERSION <major.minor>]
#                                what the library must say (checked when it is built)
#   [TORCH]                      link the LibTorch SDK layer (genlab::sdk_torch)
#   [OUTPUT_DIR <dir>]           where the plugin folder goes (default: <build>/plugins)
#   [NO_INSTALL]
#   [NO_DESCRIBE]                write the short plugin.toml of older plugins from the
#                                arguments instead (KIND and VERSION then required): only for
#                                purpose-built broken plugins that cannot describe themselves
#   [FAMILY <family>] [SUMMARY <text>] [MODALITIES <m>...]
#                                NO_DESCRIBE only; otherwise accepted and ignored (the
#                                library's describe() says them)
#   SOURCES <file>...)
#
# Builds <target> as a shared module with hidden visibility in <OUTPUT_DIR>/<name>/ and,
# after linking it, writes <OUTPUT_DIR>/<name>/plugin.toml beside it with genlab-describe:
# the tool loads the library and writes every field of its own description (name, kind,
# version, ABI version, family, summary, modalities, capabilities, devices, params,
# generate_params), so the plugin.toml agrees with the library by construction and the host
# can list, resolve and validate with it without loading the library. The folder is then a
# plugin that `genlab plugins check` and GENLAB_PLUGIN_PATH accept as it is. genlab-describe
# is the genlab_describe target of the genlab tree, or GENLAB_DESCRIBE_EXECUTABLE (set by
# find_package(genlab)). NAME, and KIND, VERSION and ABI_VERSION where given, must be what
# the library says, or the build fails.
include_guard(GLOBAL)
include(GNUInstallDirs)

function(genlab_add_plugin target)
  cmake_parse_arguments(P "TORCH;NO_INSTALL;NO_DESCRIBE"
    "NAME;KIND;VERSION;FAMILY;SUMMARY;OUTPUT_DIR;ABI_VERSION" "MODALITIES;SOURCES" ${ARGN})
  set(required NAME SOURCES)
  if(P_NO_DESCRIBE)
    list(APPEND required KIND VERSION)
  endif()
  foreach(r IN LISTS required)
    if(NOT P_${r})
      message(FATAL_ERROR "genlab_add_plugin(${target}): ${r} is required")
    endif()
  endforeach()
  if(P_KIND AND NOT P_KIND MATCHES "^(model|dataset|metric|backend)$")
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
    if(NOT TARGET genlab::sdk_torch)
      message(FATAL_ERROR "genlab_add_plugin(${target} ... TORCH): genlab::sdk_torch is not available: LibTorch was not "
                          "found (set CMAKE_PREFIX_PATH or Torch_DIR to a LibTorch), or genlab was built without it")
    endif()
    target_link_libraries(${target} PRIVATE genlab::sdk_torch)
    # One precompiled torch header shared by every LibTorch plugin of the project.
    if(TARGET genlab_torch_pch)
      target_precompile_headers(${target} REUSE_FROM genlab_torch_pch)
    endif()
  endif()
  if(GENLAB_WARNINGS)
    target_compile_options(${target} PRIVATE ${GENLAB_WARNINGS})
  endif()

  # plugin.toml: what the host reads without loading the library (listing, validate).
  if(NOT P_NO_DESCRIBE)
    if(TARGET genlab_describe)  # the genlab tree itself
      set(describe $<TARGET_FILE:genlab_describe>)
      add_dependencies(${target} genlab_describe)
    elseif(GENLAB_DESCRIBE_EXECUTABLE)
      set(describe ${GENLAB_DESCRIBE_EXECUTABLE})
    else()
      message(FATAL_ERROR "genlab_add_plugin(${target}): genlab-describe not found "
                          "(find_package(genlab) first, or set GENLAB_DESCRIBE_EXECUTABLE)")
    endif()
    set(expect --expect name=${P_NAME})
    foreach(key KIND VERSION ABI_VERSION)
      if(P_${key})
        string(TOLOWER ${key} lower)
        list(APPEND expect --expect ${lower}=${P_${key}})
      endif()
    endforeach()
    add_custom_command(TARGET ${target} POST_BUILD
      COMMAND ${describe} $<TARGET_FILE:${target}> --output ${folder}/plugin.toml ${expect}
      COMMENT "Describing ${P_NAME}: ${folder}/plugin.toml"
      VERBATIM)
  else()
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
"# Written by genlab_add_plugin(NO_DESCRIBE) from its arguments; read by the genlab host, which
# loads the library to learn the rest of its description and checks it against this file.
name = \"${P_NAME}\"
kind = \"${P_KIND}\"
version = \"${P_VERSION}\"
abi_version = \"${P_ABI_VERSION}\"
family = \"${P_FAMILY}\"
summary = \"${summary}\"
modalities = [${modalities}]
library = \"$<TARGET_FILE_NAME:${target}>\"
")
  endif()
  if(NOT P_NO_INSTALL)
    if(NOT GENLAB_PLUGIN_INSTALL_DIR)
      set(GENLAB_PLUGIN_INSTALL_DIR ${CMAKE_INSTALL_LIBDIR}/genlab/plugins)
    endif()
    install(TARGETS ${target} LIBRARY DESTINATION ${GENLAB_PLUGIN_INSTALL_DIR}/${P_NAME})
    install(FILES ${folder}/plugin.toml DESTINATION ${GENLAB_PLUGIN_INSTALL_DIR}/${P_NAME})
  endif()
endfunction()
