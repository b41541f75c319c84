/* send_gate.c: an LD_PRELOAD library for test_chat.py. It holds `mtask
 * chat` inside the send() of its first chat line ("C name text") until the
 * test says go, so that the test can hang up the client's terminal at a
 * known moment: inside libedit's line callback, when libedit has put the
 * terminal back in cooked mode. MTASK_SEND_GATE="R W" names two inherited
 * descriptors: the library writes a byte to W when it holds, then waits
 * for a byte (or the end) on R. Without the variable it changes nothing. */
#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

ssize_t send(int fd, const void *buf, size_t len, int flags)
{
	static ssize_t (*real_send)(int, const void *, size_t, int);
	static int held;
	const char *gate = getenv("MTASK_SEND_GATE");
	int r, w;
	if (!real_send)
		real_send = (ssize_t(*)(int, const void *, size_t, int))dlsym(RTLD_NEXT, "send");
	if (!held && gate && sscanf(gate, "%d %d", &r, &w) == 2 && len > 2 &&
	    !memcmp(buf, "C ", 2)) {
		char byte = 'h';
		held = 1;
		if (write(w, &byte, 1) == 1 && read(r, &byte, 1) >= 0)
			close(r);
		close(w);
	}
	return real_send(fd, buf, len, flags);
}
