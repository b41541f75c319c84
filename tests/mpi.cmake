# The MPI pool's tests (tests/test_pool_mpi.c and `mtask primes --model
# mpi`), each one mpirun of 3 ranks on this machine: oversubscribed (2
# CPUs here), as root when we are root (CI), over shared memory or TCP on
# loopback only (btl_tcp_if_include/oob_tcp_if_include lo: no other
# interface is ever used), ended by mpirun itself after 100 s so that a
# broken run never hangs the suite (CTest's own timeout is the backstop).
#
# Under the sanitizers Open MPI cannot run meaningfully: its libraries
# are not instrumented, they keep memory until exit (LeakSanitizer) and
# run threads of their own that TSan cannot follow. There the tests are
# skipped, saying so; the normal build runs them.
add_executable(test_pool_mpi test_pool_mpi.c)
target_include_directories(test_pool_mpi PRIVATE ${CMAKE_CURRENT_SOURCE_DIR})
target_link_libraries(test_pool_mpi PRIVATE mtask_mpi_static ${CMOCKA_LIBRARY})

set(MTASK_MPIRUN ${MPIEXEC_EXECUTABLE} --oversubscribe --allow-run-as-root
    --timeout 60 --mca oob_tcp_if_include lo --mca btl_tcp_if_include lo
    --mca btl_vader_single_copy_mechanism none)
set(MTASK_MPI_SHM --mca btl self,vader)
set(MTASK_MPI_TCP --mca btl self,tcp)

function(mtask_mpi_test name)
  if(MTASK_SANITIZE STREQUAL "")
    add_test(NAME ${name} COMMAND ${ARGN})
  else()
    add_test(NAME ${name} COMMAND ${CMAKE_COMMAND} -E echo
             "skipped: Open MPI does not run under the ${MTASK_SANITIZE} sanitizer (tests/mpi.cmake)")
  endif()
  set_tests_properties(${name} PROPERTIES TIMEOUT 150 ENVIRONMENT "${MTASK_TEST_ENV}")
endfunction()

mtask_mpi_test(mpi_pool ${MTASK_MPIRUN} ${MTASK_MPI_SHM} -np 3 $<TARGET_FILE:test_pool_mpi>)
mtask_mpi_test(mpi_pool_tcp ${MTASK_MPIRUN} ${MTASK_MPI_TCP} -np 3 $<TARGET_FILE:test_pool_mpi>)
# A rank killed by its task: with mpirun's defaults the job ends, mpirun
# says which rank died and how, and rank 0 never prints "done".
mtask_mpi_test(mpi_rank_dies ${MTASK_MPIRUN} ${MTASK_MPI_SHM} -np 3
               $<TARGET_FILE:test_pool_mpi> die)
# The same with mpirun --enable-recovery: the job goes on, and the pool's
# task_timeout gives the dead rank up.
mtask_mpi_test(mpi_rank_lost ${MTASK_MPIRUN} ${MTASK_MPI_SHM} --enable-recovery -np 3
               $<TARGET_FILE:test_pool_mpi> lost)
mtask_mpi_test(mpi_primes ${MTASK_MPIRUN} ${MTASK_MPI_SHM} -np 3 $<TARGET_FILE:mtask_cli>
               primes --model mpi)
if(MTASK_SANITIZE STREQUAL "")
  # mpirun's exit status is not 0 in either (a rank died; MPI_Abort): the
  # output decides, and mpirun's --timeout is a failure.
  set_tests_properties(mpi_rank_dies PROPERTIES
    PASS_REGULAR_EXPRESSION "exited on signal 9"
    FAIL_REGULAR_EXPRESSION "done: the pool went on;time limit")
  set_tests_properties(mpi_rank_lost PROPERTIES
    PASS_REGULAR_EXPRESSION "done: the pool went on"
    FAIL_REGULAR_EXPRESSION "wrong;time limit;not done")
  set_tests_properties(mpi_primes PROPERTIES
    PASS_REGULAR_EXPRESSION "sum of primes below 100000: 454396537")
endif()
