/* ipcq_message.h: self-checking messages for the tests of mt_ipc_queue
 * (tests/test_ipcq.c, tests/stress/test_ipcq_crash.c). A message says who
 * sent it and its number, carries a payload made from both, and ends its
 * header with a checksum over all of it: a torn, mixed or stale message
 * fails message_check. */
#ifndef MTASK_IPCQ_MESSAGE_H
#define MTASK_IPCQ_MESSAGE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

struct test_message {
	uint32_t producer, seq;
	uint64_t checksum;
	unsigned char payload[];
};

/* The longest payload a test message carries. */
#define TEST_PAYLOAD_MAX 600
#define TEST_MESSAGE_MAX (sizeof(struct test_message) + TEST_PAYLOAD_MAX)

static inline uint64_t test_mix(uint64_t x)
{
	x ^= x >> 31;
	x *= 0x7fb5d329728ea185u;
	x ^= x >> 27;
	x *= 0x81dadef4bc2dd44du;
	return x ^ (x >> 33);
}

static inline uint64_t test_message_id(uint32_t producer, uint32_t seq)
{
	return (uint64_t)producer << 32 | seq;
}

/* The payload's length, from the id: 0 to TEST_PAYLOAD_MAX, so that
 * frames of every size and every alignment go through the ring. */
static inline size_t test_payload_length(uint32_t producer, uint32_t seq)
{
	return (size_t)(test_mix(test_message_id(producer, seq)) % (TEST_PAYLOAD_MAX + 1));
}

static inline uint64_t test_checksum(const struct test_message *m, size_t payload_length)
{
	uint64_t sum = test_mix(test_message_id(m->producer, m->seq) ^ payload_length);
	for (size_t i = 0; i < payload_length; i++)
		sum = (sum ^ m->payload[i]) * 0x100000001b3u;
	return sum;
}

/* Builds message (producer, seq) in buf (TEST_MESSAGE_MAX bytes);
 * returns its length. */
static inline size_t test_message_make(void *buf, uint32_t producer, uint32_t seq)
{
	struct test_message *m = buf;
	size_t length = test_payload_length(producer, seq);
	m->producer = producer;
	m->seq = seq;
	uint64_t fill = test_mix(test_message_id(producer, seq) + 1);
	for (size_t i = 0; i < length; i++)
		m->payload[i] = (unsigned char)(fill >> (8 * (i % 8))) ^ (unsigned char)i;
	m->checksum = test_checksum(m, length);
	return sizeof *m + length;
}

/* True if buf holds a whole, untorn message of len bytes. */
static inline bool test_message_check(const void *buf, size_t len)
{
	const struct test_message *m = buf;
	if (len < sizeof *m || len - sizeof *m != test_payload_length(m->producer, m->seq))
		return false;
	return m->checksum == test_checksum(m, len - sizeof *m);
}

#endif
