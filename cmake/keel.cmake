# keel_library(NAME SOURCES ... DEPS ...): one library per folder under src/.
# DEPS lists the keel libraries this folder may include (style.md §7); tools/check_includes.py
# verifies the sources against the same list.
function(keel_library name)
  cmake_parse_arguments(K "" "" "SOURCES;DEPS;LIBS" ${ARGN})
  add_library(keel_${name} STATIC ${K_SOURCES})
  target_include_directories(keel_${name} PUBLIC ${PROJECT_SOURCE_DIR}/src)
  foreach(dep ${K_DEPS})
    target_link_libraries(keel_${name} PUBLIC keel_${dep})
  endforeach()
  target_link_libraries(keel_${name} PUBLIC ${K_LIBS})
endfunction()

# keel_test(NAME SOURCES ... DEPS ...): one GoogleTest binary per folder, registered with ctest.
function(keel_test name)
  cmake_parse_arguments(K "" "" "SOURCES;DEPS;LIBS" ${ARGN})
  add_executable(${name} ${K_SOURCES})
  foreach(dep ${K_DEPS})
    target_link_libraries(${name} PRIVATE keel_${dep})
  endforeach()
  target_link_libraries(${name} PRIVATE ${K_LIBS} GTest::gtest GTest::gtest_main)
  add_test(NAME ${name} COMMAND ${name})
  set_tests_properties(${name} PROPERTIES LABELS unit TIMEOUT 300)
endfunction()
