/* pool_tasks.c: the registry of named tasks (MT_TASK_REGISTER), which
 * lets a pool send a task function to a process of another address
 * layout (an MPI rank) as a number that means the same function there.
 *
 * A task's number is the 64-bit FNV-1a hash of its name with the top bit
 * set. Function addresses, which the process pool sends, never have that
 * bit (user-space addresses on Linux are below 2^63), so a number tells
 * by itself which kind it is: mt__task_fn_from_id needs no context.
 *
 * Entries are static objects of the registering programs, pushed onto a
 * list by constructors at load time; registering takes a lock, lookups
 * walk the list without one (an entry is published whole by the release
 * store of the head, and only its state changes after that). A name
 * claimed by two functions, or two names of the same hash, make every
 * entry of that number ambiguous: none of them is sent or resolved, so a
 * rank never runs another function than the one the root meant. */
#include <errno.h>
#include <pthread.h>
#include <string.h>

#include "pool_internal.h"

enum entry_state { ENTRY_NEW, ENTRY_LISTED, ENTRY_AMBIGUOUS };

static _Atomic(mt_task_entry *) registry;
static pthread_mutex_t registry_lock = PTHREAD_MUTEX_INITIALIZER;

static uint64_t name_id(const char *name)
{
	uint64_t hash = 0xcbf29ce484222325u;
	for (const unsigned char *c = (const unsigned char *)name; *c; c++)
		hash = (hash ^ *c) * 0x100000001b3u;
	return hash | MT__TASK_NAMED;
}

static int entry_state(const mt_task_entry *e)
{
	return atomic_load_explicit((_Atomic int *)&e->state, memory_order_relaxed);
}

static void mark_ambiguous(mt_task_entry *e)
{
	atomic_store_explicit((_Atomic int *)&e->state, ENTRY_AMBIGUOUS, memory_order_relaxed);
}

int mt_task_register(mt_task_entry *entry)
{
	if (!entry || !entry->name || !entry->fn)
		return -EINVAL;
	uint64_t id = name_id(entry->name);
	int err = 0;
	pthread_mutex_lock(&registry_lock);
	mt_task_entry *head = atomic_load_explicit(&registry, memory_order_relaxed);
	for (mt_task_entry *e = head; e; e = e->next) {
		if (e == entry ||
		    (e->id == id && e->fn == entry->fn && !strcmp(e->name, entry->name)))
			goto out_unlock; /* registered already */
		if (e->id == id) {
			mark_ambiguous(e);
			err = -ENOTUNIQ;
		}
	}
	entry->id = id;
	entry->state = err ? ENTRY_AMBIGUOUS : ENTRY_LISTED;
	entry->next = head;
	atomic_store_explicit(&registry, entry, memory_order_release);
out_unlock:
	pthread_mutex_unlock(&registry_lock);
	return err;
}

static const mt_task_entry *first_entry(void)
{
	return atomic_load_explicit(&registry, memory_order_acquire);
}

mt_task_fn mt_task_lookup(const char *name)
{
	if (!name)
		return NULL;
	return mt__task_fn_by_name_id(name_id(name));
}

mt_task_fn mt__task_fn_by_name_id(uint64_t id)
{
	for (const mt_task_entry *e = first_entry(); e; e = e->next)
		if (e->id == id)
			return entry_state(e) == ENTRY_LISTED ? e->fn : NULL;
	return NULL;
}

int mt__task_name_id(mt_task_fn fn, uint64_t *id)
{
	for (const mt_task_entry *e = first_entry(); e; e = e->next) {
		if (e->fn != fn)
			continue;
		if (entry_state(e) != ENTRY_LISTED)
			return -ENOTUNIQ;
		*id = e->id;
		return 0;
	}
	return -ENOSYS;
}
