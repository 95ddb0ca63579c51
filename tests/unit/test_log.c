// SPDX-License-Identifier: GPL-2.0-only
/*
 * log.c: the rate-limited message. However often two threads repeat it,
 * one line per interval reaches stderr, and the next line printed says how
 * many were left out.
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "harness.h"
#include "log.h"

#define REPEATS 100000

static struct gw_ratelimit rl;

static void *repeat(void *arg)
{
	unsigned int i;

	(void)arg;
	for (i = 0; i < REPEATS; i++)
		pr_warn_rl(&rl, "accept: %s", "Too many open files");
	return NULL;
}

/* Lines written to stderr while fn runs, as one string (caller frees). */
static char *capture_stderr(void (*fn)(void))
{
	FILE *tmp = tmpfile();
	int saved = dup(STDERR_FILENO);
	char *text = calloc(1, 1 << 16);

	if (!tmp || saved < 0 || !text)
		return NULL;
	fflush(stderr);
	dup2(fileno(tmp), STDERR_FILENO);
	fn();
	fflush(stderr);
	dup2(saved, STDERR_FILENO);
	close(saved);
	rewind(tmp);
	fread(text, 1, (1 << 16) - 1, tmp);
	fclose(tmp);
	return text;
}

static unsigned int count_lines(const char *s)
{
	unsigned int n = 0;

	for (; *s; s++)
		n += *s == '\n';
	return n;
}

static void two_threads(void)
{
	pthread_t t;

	pthread_create(&t, NULL, repeat, NULL);
	repeat(NULL);
	pthread_join(t, NULL);
}

static void once_after_the_interval(void)
{
	/* As if the interval had passed. */
	__atomic_store_n(&rl.next_ms, 0, __ATOMIC_RELAXED);
	pr_warn_rl(&rl, "accept: %s", "Too many open files");
}

TEST(one_line_then_a_count)
{
	char *first, *second;

	memset(&rl, 0, sizeof(rl));
	first = capture_stderr(two_threads);
	ASSERT_NOT_NULL(first);
	EXPECT_EQ(1, count_lines(first));
	EXPECT_STREQ("mtlsgw: warning: accept: Too many open files\n", first);

	second = capture_stderr(once_after_the_interval);
	ASSERT_NOT_NULL(second);
	EXPECT_EQ(1, count_lines(second));
	EXPECT_NOT_NULL(strstr(second, "accept: Too many open files (and 199999 more like it since the last one)\n"));
	/* The count starts again. */
	EXPECT_EQ(0, rl.suppressed);
	free(first);
	free(second);
}

TEST_HARNESS_MAIN
