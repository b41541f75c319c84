/* http_request.c: fuzz target for the HTTP/1.1 request parser of `mtask
 * serve` (apps/http_parse.c). The input is a byte stream as a connection
 * would receive it; the target walks it request by request, as the server
 * does, and checks after each parse:
 *  - a parsed head lies inside the input and inside head_max, ends with
 *    the blank line, and its method and target lie inside it;
 *  - its body length is within body_max and it has at most fields_max
 *    fields; the version is 1.0 or 1.1;
 *  - the parser is consistent over time: the head one byte shorter is
 *    incomplete (a server that reads it byte by byte sees the same
 *    request), and an error stays the same error with more bytes after.
 * The first input byte picks the limits: small ones half the time, so
 * that 431 and 413 are in reach of short inputs. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "http_parse.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check(bool ok, const char *what)
{
	if (!ok) {
		fprintf(stderr, "http_request: %s\n", what);
		abort();
	}
}

static bool inside(const char *p, size_t n, const char *start, size_t len)
{
	return p >= start && n <= len && (size_t)(p - start) <= len - n;
}

static void check_parsed(const char *d, size_t len, const struct http_limits *l,
			 const struct http_request *r)
{
	check(r->head_len >= 16 && r->head_len <= len && r->head_len <= l->head_max,
	      "head length out of bounds");
	check(!memcmp(d + r->head_len - 4, "\r\n\r\n", 4), "head does not end with a blank line");
	check(r->method_len > 0 && inside(r->method, r->method_len, d, r->head_len),
	      "method outside the head");
	check(r->target_len > 0 && inside(r->target, r->target_len, d, r->head_len),
	      "target outside the head");
	check(r->content_length <= l->body_max, "body above the limit");
	check(r->field_count <= l->fields_max, "more fields than the limit");
	check(r->minor_version == 0 || r->minor_version == 1, "a version other than 1.0, 1.1");
	struct http_request again;
	check(http_parse_request(d, r->head_len - 1, l, &again) == HTTP_INCOMPLETE,
	      "the head less one byte is not incomplete");
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size == 0)
		return 0;
	struct http_limits small = {.head_max = 64, .fields_max = 3, .body_max = 16};
	const struct http_limits *limits = data[0] & 1 ? &small : NULL;
	struct http_limits defaults = {HTTP_HEAD_MAX_DEFAULT, HTTP_FIELDS_MAX_DEFAULT,
				       HTTP_BODY_MAX_DEFAULT};
	const struct http_limits *l = limits ? limits : &defaults;
	const char *d = (const char *)data + 1;
	size_t len = size - 1;
	struct http_request r;
	for (;;) {
		enum http_result got = http_parse_request(d, len, limits, &r);
		if (got == HTTP_INCOMPLETE)
			return 0;
		if (got != HTTP_PARSED) {
			check(got == 400 || got == 413 || got == 431 || got == 505,
			      "unknown result");
			/* More bytes after do not change the verdict, unless the
			 * verdict was that the window is full. */
			if (got != HTTP_FIELDS_TOO_LARGE && len > 0)
				check(http_parse_request(d, len - 1, limits, &r) == got ||
					      http_parse_request(d, len - 1, limits, &r) ==
						      HTTP_INCOMPLETE,
				      "an error that one byte less changes");
			return 0;
		}
		check_parsed(d, len, l, &r);
		uint64_t consumed = r.head_len + r.content_length;
		if (consumed >= len)
			return 0;
		d += consumed;
		len -= (size_t)consumed;
	}
}
