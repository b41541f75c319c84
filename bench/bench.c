#include "bench.h"
int bench_placeholder;
