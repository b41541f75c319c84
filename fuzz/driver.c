/* driver.c: runs a libFuzzer target without libFuzzer, with any compiler:
 * first every input file named on the command line (a directory: every
 * file in it, a corpus), then N pseudo-random inputs, the same ones every
 * run. The suite runs it as a quick test; the real fuzzing is the `fuzz`
 * target's libFuzzer build.
 *
 * Usage: DRIVER [-n N] [FILE | DIRECTORY]...
 *
 * An input that crashes the target is saved as crash-input in the current
 * directory, to be run again: DRIVER -n 0 crash-input. */
#include <dirent.h>
#include <fcntl.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define INPUT_MAX 4096

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const uint8_t *current_input;
static size_t current_size;

/* On a crash: save the input that caused it, then die of the signal. */
static void save_crashing_input(int sig)
{
	int fd = open("crash-input", O_WRONLY | O_CREAT | O_TRUNC, 0644);
	if (fd >= 0) {
		ssize_t written = write(fd, current_input, current_size);
		(void)written;
		close(fd);
	}
	signal(sig, SIG_DFL);
	raise(sig);
}

static void run_input(const uint8_t *data, size_t size)
{
	current_input = data;
	current_size = size;
	LLVMFuzzerTestOneInput(data, size);
}

static int run_file(const char *path)
{
	static uint8_t buf[INPUT_MAX];
	FILE *f = fopen(path, "rb");
	if (!f) {
		perror(path);
		return 1;
	}
	size_t size = fread(buf, 1, sizeof buf, f);
	fclose(f);
	run_input(buf, size);
	return 0;
}

/* A file, or each regular file in a directory. Returns the files run. */
static int run_path(const char *path, int *failed)
{
	struct stat st;
	DIR *dir = stat(path, &st) == 0 && S_ISDIR(st.st_mode) ? opendir(path) : NULL;
	if (!dir) {
		*failed |= run_file(path);
		return 1;
	}
	int runs = 0;
	struct dirent *e;
	while ((e = readdir(dir))) {
		char file[4096];
		snprintf(file, sizeof file, "%s/%s", path, e->d_name);
		if (e->d_name[0] != '.' && stat(file, &st) == 0 && S_ISREG(st.st_mode)) {
			*failed |= run_file(file);
			runs++;
		}
	}
	closedir(dir);
	return runs;
}

static uint64_t next_random(uint64_t *state)
{
	*state ^= *state << 13;
	*state ^= *state >> 7;
	*state ^= *state << 17;
	return *state;
}

/* Inputs of 0 to 511 bytes; one in four is mostly one repeated byte,
 * which reaches states uniform noise rarely does. */
static void run_random(long count)
{
	static uint8_t buf[512];
	uint64_t state = 0x9e3779b97f4a7c15u;
	for (long i = 0; i < count; i++) {
		size_t size = next_random(&state) % sizeof buf;
		uint8_t repeated = (uint8_t)next_random(&state);
		bool uniform = next_random(&state) % 4 == 0;
		for (size_t k = 0; k < size; k++) {
			uint64_t r = next_random(&state);
			buf[k] = uniform && r % 8 ? repeated : (uint8_t)(r >> 24);
		}
		run_input(buf, size);
	}
}

int main(int argc, char **argv)
{
	long count = 10000;
	int files = 0, failed = 0;
	int crashes[] = {SIGABRT, SIGSEGV, SIGBUS, SIGILL, SIGFPE};
	for (size_t i = 0; i < sizeof crashes / sizeof crashes[0]; i++)
		signal(crashes[i], save_crashing_input);
	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "-n") && i + 1 < argc)
			count = strtol(argv[++i], NULL, 10);
		else
			files += run_path(argv[i], &failed);
	}
	run_random(count);
	printf("%d files and %ld random inputs ran\n", files, count);
	return failed;
}
