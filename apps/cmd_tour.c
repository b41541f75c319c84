#include "cli.h"
int cmd_tour(int argc, char **argv) { return 0; }
