/* shm.c: anonymous shared memory (mt_shm), and multiprocessing's Value and
 * Array on top of it.
 *
 * A segment is a memfd mapped MAP_SHARED: it has no name in /dev/shm, so
 * nothing outlives the processes that use it, and it can still be handed
 * to an unrelated process as a descriptor (SCM_RIGHTS, or inheritance
 * across exec). The kernel frees the pages when the last mapping and the
 * last descriptor are gone, crashes and SIGKILL included.
 *
 * A Value or an Array needs no descriptor: it is one MAP_SHARED |
 * MAP_ANONYMOUS mapping holding a header (lock, sizes) and then the data,
 * and the handle is the address of that header. So the handle itself is
 * in shared memory, and a forked child can use the very pointer its parent
 * got; every field but the data and the lock is written once, before any
 * child exists. A Value is an Array of one element: the mt_value calls are
 * the mt_array calls at index 0. */
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "internal.h"
#include "mtask/ipc.h"

/* memfd_create refuses names longer than this (249 bytes plus the NUL). */
#define MEMFD_NAME_MAX 249
#define DEFAULT_LABEL "mtask-shm"

/* The data of a Value or Array starts on its own cache line, so that the
 * lock's word and the elements never share one (a process spinning on the
 * lock would slow down another's reads of the data). */
#define DATA_ALIGN 64

struct mt_shm {
	void *addr;
	size_t size;
	int fd; /* owned: keeps the segment alive and lets it be passed on */
};

/* ---- shared memory segments ---- */

/* Maps fd's first size bytes shared, readable and writable, and makes a
 * handle that owns fd. On failure fd is left to the caller. */
static int shm_map(mt_shm **sp, int fd, size_t size)
{
	mt_shm *s = malloc(sizeof *s);
	if (!s)
		return -ENOMEM;
	void *addr = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	if (addr == MAP_FAILED) {
		int err = -errno;
		free(s);
		return err;
	}
	*s = (mt_shm){.addr = addr, .size = size, .fd = fd};
	*sp = s;
	return 0;
}

int mt_shm_new(mt_shm **sp, size_t size, const char *name)
{
	if (!sp || size == 0 || size > (size_t)INT64_MAX)
		return -EINVAL;
	char label[MEMFD_NAME_MAX + 1];
	snprintf(label, sizeof label, "%s", name ? name : DEFAULT_LABEL);
	int fd = memfd_create(label, MFD_CLOEXEC);
	if (fd < 0)
		return -errno;
	/* A memfd starts empty; ftruncate gives it zero-filled pages, which
	 * the kernel allocates only when touched. */
	int err = ftruncate(fd, (off_t)size) < 0 ? -errno : 0;
	if (!err)
		err = shm_map(sp, fd, size);
	if (err)
		close(fd);
	return err;
}

/* True for a descriptor of anonymous shared memory: a regular file of
 * tmpfs (F_GET_SEALS works only on shmem and hugetlbfs files) that no
 * directory links to (a memfd, or an unlinked tmpfs file). A file in
 * /dev/shm has a link, so it is refused: it could outlive its users. */
static bool is_anonymous_shared_memory(int fd, const struct stat *st)
{
	return S_ISREG(st->st_mode) && st->st_nlink == 0 && fcntl(fd, F_GET_SEALS) >= 0;
}

int mt_shm_attach(mt_shm **sp, int fd)
{
	if (!sp)
		return -EINVAL;
	if (fd < 0)
		return -EBADF;
	/* Our own duplicate, so that the handle owns what it closes. */
	int own = fcntl(fd, F_DUPFD_CLOEXEC, 0);
	if (own < 0)
		return -errno;
	struct stat st;
	int err = fstat(own, &st) < 0 ? -errno : 0;
	if (!err && (!is_anonymous_shared_memory(own, &st) || st.st_size <= 0 ||
		     (uint64_t)st.st_size > SIZE_MAX))
		err = -EINVAL;
	if (!err)
		err = shm_map(sp, own, (size_t)st.st_size);
	if (err)
		close(own);
	return err;
}

void *mt_shm_addr(const mt_shm *s)
{
	return s->addr;
}

size_t mt_shm_size(const mt_shm *s)
{
	return s->size;
}

int mt_shm_fd(const mt_shm *s)
{
	return s->fd;
}

void mt_shm_free(mt_shm *s)
{
	if (!s)
		return;
	munmap(s->addr, s->size);
	close(s->fd);
	free(s);
}

/* ---- Value and Array ---- */

/* The header at the start of an Array's mapping; the elements follow at
 * DATA_OFFSET. */
struct mt_array {
	mt_lock lock;	  /* MT_PSHARED; unused with MT_IPC_RAW */
	size_t elem_size; /* as given to mt_array_new */
	size_t length;
	size_t mapped; /* bytes of the mapping, for munmap */
	int flags;
};

/* A Value is an Array of one element, under its own type so that the two
 * are never mixed up by accident. */
struct mt_value {
	struct mt_array array;
};

#define DATA_OFFSET ((sizeof(struct mt_array) + DATA_ALIGN - 1) / DATA_ALIGN * DATA_ALIGN)

static char *array_elements(mt_array *a)
{
	return (char *)a + DATA_OFFSET;
}

/* The bytes a mapping for length elements of elem_size needs, rounded up
 * to whole pages; false when that does not fit in a size_t. */
static bool array_mapping_size(size_t elem_size, size_t length, size_t *bytes)
{
	size_t page = (size_t)sysconf(_SC_PAGESIZE);
	size_t data, total;
	if (__builtin_mul_overflow(elem_size, length, &data) ||
	    __builtin_add_overflow(data, DATA_OFFSET + page - 1, &total))
		return false;
	*bytes = total / page * page;
	return true;
}

int mt_array_new(mt_array **ap, size_t elem_size, size_t length, int flags)
{
	size_t bytes;
	if (!ap || elem_size == 0 || length == 0 || (flags & ~MT_IPC_RAW) ||
	    !array_mapping_size(elem_size, length, &bytes))
		return -EINVAL;
	/* Shared anonymous pages come zero-filled: the elements start at 0. */
	mt_array *a = mmap(NULL, bytes, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (a == MAP_FAILED)
		return errno == EINVAL ? -ENOMEM : -errno; /* EINVAL: too big to map */
	a->elem_size = elem_size;
	a->length = length;
	a->mapped = bytes;
	a->flags = flags;
	if (!(flags & MT_IPC_RAW))
		mt_lock_init(&a->lock, MT_PSHARED);
	*ap = a;
	return 0;
}

void *mt_array_data(mt_array *a)
{
	return array_elements(a);
}

size_t mt_array_length(const mt_array *a)
{
	return a->length;
}

size_t mt_array_elem_size(const mt_array *a)
{
	return a->elem_size;
}

mt_lock *mt_array_lock(mt_array *a)
{
	return a->flags & MT_IPC_RAW ? NULL : &a->lock;
}

/* Copies element index out to (into_array false) or in from (true) the
 * caller's buffer, under the lock when there is one. A dead holder's
 * -EOWNERDEAD still leaves us holding the lock: the copy is made, and the
 * lock stays held, so that the caller can repair the data and call
 * mt_lock_consistent before anybody else sees it (releasing it here
 * unrepaired would make it unusable for ever). */
static int array_copy(mt_array *a, size_t index, void *buf, bool into_array)
{
	if (!a || !buf)
		return -EINVAL;
	if (index >= a->length)
		return -ERANGE;
	mt_lock *lock = mt_array_lock(a);
	int err = lock ? mt_lock_acquire(lock, -1) : 0;
	if (err && err != -EOWNERDEAD)
		return err;
	char *element = array_elements(a) + index * a->elem_size;
	if (into_array)
		memcpy(element, buf, a->elem_size);
	else
		memcpy(buf, element, a->elem_size);
	if (lock && !err)
		mt_lock_release(lock);
	return err;
}

int mt_array_get(mt_array *a, size_t index, void *out)
{
	return array_copy(a, index, out, false);
}

int mt_array_set(mt_array *a, size_t index, const void *in)
{
	return array_copy(a, index, (void *)in, true);
}

void mt_array_free(mt_array *a)
{
	if (a)
		munmap(a, a->mapped);
}

int mt_value_new(mt_value **vp, size_t size, int flags)
{
	if (!vp)
		return -EINVAL;
	mt_array *a;
	int err = mt_array_new(&a, size, 1, flags);
	if (!err)
		*vp = (mt_value *)a; /* the first member's address is the struct's */
	return err;
}

void *mt_value_ptr(mt_value *v)
{
	return mt_array_data(&v->array);
}

mt_lock *mt_value_lock(mt_value *v)
{
	return mt_array_lock(&v->array);
}

int mt_value_get(mt_value *v, void *out)
{
	return v ? mt_array_get(&v->array, 0, out) : -EINVAL;
}

int mt_value_set(mt_value *v, const void *in)
{
	return v ? mt_array_set(&v->array, 0, in) : -EINVAL;
}

void mt_value_free(mt_value *v)
{
	if (v)
		mt_array_free(&v->array);
}
