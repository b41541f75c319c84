# examples.cmake: included by tests/CMakeLists.txt. test_examples runs every
# program of examples/ and checks its output; needs MTASK_BUILD_EXAMPLES.
if(TARGET fork_basics)
  add_executable(test_examples ${CMAKE_CURRENT_LIST_DIR}/test_examples.c)
  target_link_libraries(test_examples PRIVATE cmocka)
  target_compile_definitions(test_examples PRIVATE
    EXAMPLES_DIR="${PROJECT_BINARY_DIR}/examples")
  # Building the test builds what it runs.
  add_dependencies(test_examples ${MTASK_EXAMPLE_TARGETS})
  add_test(NAME examples COMMAND test_examples)
  set_tests_properties(examples PROPERTIES TIMEOUT 60)
  if(DEFINED MTASK_TEST_ENV)
    set_tests_properties(examples PROPERTIES ENVIRONMENT "${MTASK_TEST_ENV}")
  endif()
endif()
