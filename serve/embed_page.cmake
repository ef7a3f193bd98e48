# Writes OUTPUT, a C++ file defining genlab::serve::kDashboardPage with the text of INPUT.
file(READ "${INPUT}" page)
string(FIND "${page}" ")genlab_page\"" clash)
if(NOT clash EQUAL -1)
  message(FATAL_ERROR "${INPUT} holds the raw string's delimiter")
endif()
file(WRITE "${OUTPUT}" "// Generated from ${INPUT} by embed_page.cmake.\nnamespace genlab::serve {\nextern const char* const kDashboardPage;\nconst char* const kDashboardPage = R\"genlab_page(${page})genlab_page\";\n}  // namespace genlab::serve\n")
