# me_web_assets: the files of web/ compiled in (web/web_assets.h). Used by the server (the console
# at /) and by the CLI's HTML report; no other dependency.
set(ME_WEB_FILES
  ${CMAKE_SOURCE_DIR}/web/explain_view.js
  ${CMAKE_SOURCE_DIR}/web/explain_view.css
  ${CMAKE_SOURCE_DIR}/web/console.html
  ${CMAKE_SOURCE_DIR}/web/console.js
  ${CMAKE_SOURCE_DIR}/web/console.css
  ${CMAKE_SOURCE_DIR}/web/report.js)
set(ME_WEB_ASSETS_CC ${CMAKE_BINARY_DIR}/web/web_assets.cc)
add_custom_command(
  OUTPUT ${ME_WEB_ASSETS_CC}
  COMMAND ${CMAKE_COMMAND} -E make_directory ${CMAKE_BINARY_DIR}/web
  COMMAND ${CMAKE_COMMAND} -DOUT=${ME_WEB_ASSETS_CC} "-DFILES=${ME_WEB_FILES}"
          -P ${CMAKE_SOURCE_DIR}/cmake/embed_files.cmake
  VERBATIM
  DEPENDS ${ME_WEB_FILES} ${CMAKE_SOURCE_DIR}/cmake/embed_files.cmake
  COMMENT "Embedding web/ (report views, console)")
add_library(me_web_assets STATIC ${ME_WEB_ASSETS_CC})
target_include_directories(me_web_assets PUBLIC ${CMAKE_SOURCE_DIR})
