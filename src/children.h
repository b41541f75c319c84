/* children.h: what process.c (the API, fork and the child) and reap.c
 * (the registry of a process's children and who reaps them) share. Not
 * installed. */
#ifndef MTASK_CHILDREN_H
#define MTASK_CHILDREN_H

#include <pthread.h>
#include <signal.h>
#include <sys/types.h>

#include "internal.h"
#include "mtask/process.h"

#ifndef P_PIDFD
#define P_PIDFD 3
#endif

#define PROCESS_NAME_MAX 64

struct mt_process {
	_Atomic int refs;
	_Atomic int exitcode;    /* MT_NOEXIT until reaped */
	_Atomic uint32_t reaped; /* event: exitcode is final */
	_Atomic bool reap_claimed;
	_Atomic int joiners; /* threads inside mt_process_join: they reap */
	int pidfd;
	pid_t pid;
	pid_t owner; /* the process that started the child */
	unsigned generation; /* mt__fork_generation when the record was made */
	bool daemon;
	bool named;   /* given a name: the kernel's process name follows it */
	bool watched; /* registered in the epoll set; guarded by the lock */
	double start_us;
	char identity[48]; /* "3" for a first process's 3rd child, "3:1" below */
	struct mt__list link; /* in mt__children.all; guarded by its lock */
	char name[PROCESS_NAME_MAX];
};

/* A daemon child to be forked by the reaper thread. */
struct spawn_request {
	struct mt_process *p;
	mt_fn fn;
	void *arg;
	sigset_t mask; /* the caller's signal mask, for the child */
	int result;
	_Atomic uint32_t done; /* event */
	struct spawn_request *next;
};

/* Records live in the registry's own page while they fit, so that the
 * parent's writes between fork and the child's exit (the record's pid and
 * pidfd, the registry's lock and list) land on one page: each distinct page
 * written then costs a copy-on-write fault. Further records are malloc'ed. */
#define RECORD_SLOTS 14

struct mt__children {
	pthread_mutex_t lock;
	struct mt__list all; /* every record of this process not yet freed */
	struct spawn_request *requests;
	int epfd;   /* the children's epoll set, -1 until the first start */
	int wakefd; /* eventfd announcing spawn requests, -1 until the reaper */
	bool reaper_running;
	int children_started; /* for names: Process-N */
	struct mt__fork_once fork_once;
	_Atomic uint32_t slots_used; /* bit i: slots[i] holds a record */
	struct mt_process slots[RECORD_SLOTS];
};

/* This process's children: one page (see reap.c). */
extern MT_HIDDEN struct mt__children mt__children;

/* The record of the child this code runs in, NULL in a first process: its
 * name and daemon flag are multiprocessing.current_process()'s. */
static inline const struct mt_process *mt__current_process(void)
{
	return mt__fork.process;
}

/* True for records made in this process, false for copies a fork left. */
static inline bool mt__process_is_ours(const struct mt_process *p)
{
	return p->generation == mt__fork_generation;
}

static inline bool mt__process_is_reaped(const struct mt_process *p)
{
	return mt__event_is_set(&p->reaped);
}

/* ---- reap.c ---- */
MT_HIDDEN void mt__children_lock(void);   /* resets it first in a child */
MT_HIDDEN void mt__children_unlock(void);
MT_HIDDEN struct mt_process *mt__record_alloc(void); /* zeroed; locked */
MT_HIDDEN void mt__record_free(struct mt_process *p);
MT_HIDDEN void mt__record_release_locked(struct mt_process *p);
MT_HIDDEN void mt__process_reap(struct mt_process *p); /* unless claimed */
MT_HIDDEN void mt__children_sweep_locked(void);
MT_HIDDEN int mt__children_open_set_locked(void);
MT_HIDDEN int mt__children_watch_locked(struct mt_process *p);
MT_HIDDEN int mt__reaper_start_locked(void);
MT_HIDDEN int mt__reaper_fork_daemon(struct mt_process *p, mt_fn fn, void *arg);
MT_HIDDEN void mt__children_drop_handle(struct mt_process *p); /* free */

/* ---- process.c ---- */
/* Forks a child that runs fn(arg) and opens its pidfd; child_mask, if not
 * NULL, is the signal mask the child restores (a daemon's, forked by the
 * reaper thread, which blocks every signal). */
MT_HIDDEN int mt__process_fork_child(struct mt_process *p, mt_fn fn, void *arg,
				     const sigset_t *child_mask);

#endif
