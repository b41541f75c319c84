/* mtask/mtask.h: the whole of mtask in one include. */
#ifndef MTASK_MTASK_H
#define MTASK_MTASK_H

#include "mtask/common.h"
#include "mtask/coro.h"
#include "mtask/ipc.h"
#include "mtask/process.h"
#include "mtask/queue.h"
#include "mtask/sync.h"
#include "mtask/thread.h"
#include "mtask/trace.h"
#include "mtask/hub.h"
#include "mtask/pool.h"

#endif
