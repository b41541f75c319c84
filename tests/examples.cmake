# examples.cmake: included by tests/CMakeLists.txt. test_examples runs every
# program of examples/ and checks its output; needs MTASK_BUILD_EXAMPLES.
if(TARGET fork_basics)
  foreach(part IN ITEMS examples examples_more examples_pool)
    add_executable(test_${part} ${CMAKE_CURRENT_LIST_DIR}/test_${part}.c)
    target_link_libraries(test_${part} PRIVATE cmocka)
    target_compile_definitions(test_${part} PRIVATE
      EXAMPLES_DIR="${PROJECT_BINARY_DIR}/examples")
    # Building the test builds what it runs.
    add_dependencies(test_${part} ${MTASK_EXAMPLE_TARGETS})
    add_test(NAME ${part} COMMAND test_${part})
    set_tests_properties(${part} PROPERTIES TIMEOUT 60)
    if(DEFINED MTASK_TEST_ENV)
      set_tests_properties(${part} PROPERTIES ENVIRONMENT "${MTASK_TEST_ENV}")
    endif()
  endforeach()
endif()
