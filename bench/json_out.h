/* json_out.h: the JSON writing that the mtask program's reports share
 * (`mtask bench --json`, `mtask sched --json`, `mtask tour --json`). */
#ifndef MTASK_JSON_OUT_H
#define MTASK_JSON_OUT_H

#include <stdio.h>

/* Writes s as a JSON string, quotes included: '"' and '\' escaped, control
 * bytes as \u00XX, everything else (UTF-8 included) as it is. */
void json_string(FILE *out, const char *s);

#endif
