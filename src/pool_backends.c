/* pool_backends.c: the backends of pool.h by kind. Built once per flavour
 * of the library: in libmtask the MPI entry is NULL (mt_pool_new answers
 * -ENOTSUP), in libmtask_mpi (MTASK_HAVE_MPI) it names pool_mpi.c's
 * backend, whose object a static link then pulls in with MPI's library. */
#include <errno.h>

#include "pool_internal.h"

#ifdef MTASK_HAVE_MPI
MT_HIDDEN extern const struct mt__pool_backend mt__pool_mpi_backend;
#define MPI_BACKEND (&mt__pool_mpi_backend)
#else
#define MPI_BACKEND NULL
#endif

const struct mt__pool_backend *const mt__pool_backends[3] = {
	[MT_POOL_THREAD] = &mt__pool_thread_backend,
	[MT_POOL_PROCESS] = &mt__pool_process_backend,
	[MT_POOL_MPI] = MPI_BACKEND,
};
