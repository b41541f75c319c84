/* error.c: names for the error codes mtask returns. The codes are plain
 * negative errno values (no global error state); this file only turns them
 * into words, with the meaning they have in mtask's API first. */
#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include "mtask/common.h"

struct error_name {
	int code;
	const char *text;
};

/* The codes mtask's API documents, described as a user meets them. */
static const struct error_name api_errors[] = {
	{ETIMEDOUT, "timed out (ETIMEDOUT)"},
	{EAGAIN, "would block: full or empty (EAGAIN)"},
	{EPIPE, "closed: the other side is gone (EPIPE)"},
	{ECANCELED, "cancelled (ECANCELED)"},
	{EOWNERDEAD, "the previous owner died holding it (EOWNERDEAD)"},
	{ENOTRECOVERABLE, "left unrepaired after its owner died (ENOTRECOVERABLE)"},
	{EINVAL, "invalid argument (EINVAL)"},
	{EPERM, "not permitted (EPERM)"},
	{ECHILD, "not a child of this process (ECHILD)"},
	{EDEADLK, "would deadlock (EDEADLK)"},
	{ENOMEM, "out of memory (ENOMEM)"},
	{EALREADY, "already running (EALREADY)"},
	{ENOENT, "not found (ENOENT)"},
	{EMFILE, "too many open files (EMFILE)"},
};

const char *mt_strerror(int err)
{
	if (err == 0)
		return "success";
	if (err == INT_MIN)
		return "unknown error";
	int code = abs(err);
	for (size_t i = 0; i < sizeof api_errors / sizeof api_errors[0]; i++)
		if (api_errors[i].code == code)
			return api_errors[i].text;
	/* strerrordesc_np returns static text and is async-signal-safe,
	 * unlike strerror, whose buffer is shared. */
	const char *text = strerrordesc_np(code);
	return text ? text : "unknown error";
}

const char *mt_version(void)
{
	return MT_VERSION_STRING;
}
