/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * mtlsgw's test harness: kselftest-style tests in one header.
 *
 *   TEST(name) { ... }                      a plain test
 *   TEST_TIMEOUT(name, seconds)             same, with its own timeout
 *   FIXTURE(fx) { fields };                 per-test state, "self->field"
 *   FIXTURE_SETUP(fx) { ... }               runs before each test of fx
 *   FIXTURE_TEARDOWN(fx) { ... }            runs after, once, if setup finished
 *   FIXTURE_VARIANT(fx) { fields };         optional parameters, "variant->field"
 *   FIXTURE_VARIANT_ADD(fx, name) { ... };  one instance: tests run once per variant
 *   TEST_F(fx, name) { ... }                a test using fixture fx
 *   TEST_F_TIMEOUT(fx, name, seconds)
 *   ASSERT_*(...) stop the test on failure, EXPECT_*(...) mark it failed and go on
 *   SKIP(fmt, ...)                          stop, reported as skipped with the reason
 *   TH_LOG(fmt, ...)                        a "# " diagnostic line
 *   TEST_HARNESS_MAIN                       defines main()
 *
 * Contract:
 *  - every test runs in a forked child that leads its own process group; a
 *    crash fails that test only, and the whole group is killed afterwards so
 *    nothing a test started survives it;
 *  - ASSERT failure and SKIP leave the test body with siglongjmp, then the
 *    teardown runs (at most once, only if setup finished);
 *  - a test that outlives its timeout (default 30 s, times
 *    $HARNESS_TIMEOUT_SCALE) gets SIGTERM: it is failed, its teardown runs,
 *    and after a 5 s grace the group gets SIGKILL;
 *  - each ASSERT/EXPECT argument is evaluated exactly once; a failure prints
 *    the expressions, the expected and the seen value;
 *  - output is TAP ("ok N name", "not ok N name", "ok N name # SKIP why")
 *    closed by one line "N passed, N failed, N skipped"; exit 0 only when
 *    nothing failed. "-l" lists the tests, "-r NAME" runs the ones NAME
 *    matches, a shell pattern ("fl.ipvs.*"; repeatable).
 *
 * Helper functions that assert take the context as their first parameter:
 * declare them with HARNESS_CTX ("struct harness_ctx *_ctx") and call them
 * with "_ctx" from a test body. A fixture's types are FIXTURE_DATA(fx) and
 * FIXTURE_VARIANT_TYPE(fx).
 */
#ifndef MTLSGW_HARNESS_H
#define MTLSGW_HARNESS_H

#include <errno.h>
#include <fnmatch.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define HARNESS_DEFAULT_TIMEOUT 30
#define HARNESS_GRACE_S 5
#define HARNESS_REASON_LEN 512

enum harness_result {
	HARNESS_PASS,
	HARNESS_FAIL,
	HARNESS_SKIP,
};

/* Shared between the parent and the test child (MAP_SHARED). */
struct harness_shared {
	int result;
	char reason[HARNESS_REASON_LEN];
};

/* What a running test (and its helpers) can reach. */
struct harness_ctx {
	struct harness_shared *sh;
	sigjmp_buf env;
	volatile sig_atomic_t armed;	/* env is valid */
	volatile sig_atomic_t in_setup;
	volatile sig_atomic_t setup_done;
	volatile sig_atomic_t teardown_done;
};

#define HARNESS_UNUSED __attribute__((unused))
#define HARNESS_CTX struct harness_ctx *_ctx HARNESS_UNUSED

struct harness_test;

typedef void (*harness_fn)(struct harness_ctx *_ctx, const struct harness_test *t);

struct harness_variant {
	const char *name;
	const void *data;
	struct harness_variant *next;
};

struct harness_fixture {
	const char *name;
	struct harness_variant *variants, *variants_tail;
	struct harness_fixture *next;
};

struct harness_test {
	const char *name;
	struct harness_fixture *fixture;	/* NULL for TEST() */
	harness_fn fn;
	unsigned int timeout;
	struct harness_test *next;
};

static struct harness_test *harness_tests, *harness_tests_tail;
static struct harness_ctx *harness_cur;

static inline void harness_register(struct harness_test *t)
{
	if (harness_tests_tail)
		harness_tests_tail->next = t;
	else
		harness_tests = t;
	harness_tests_tail = t;
}

static inline void harness_variant_register(struct harness_fixture *f,
					    struct harness_variant *v)
{
	if (f->variants_tail)
		f->variants_tail->next = v;
	else
		f->variants = v;
	f->variants_tail = v;
}

/* ---- reporting from inside a test ---- */

static inline void __attribute__((format(printf, 1, 2)))
harness_diag(const char *fmt, ...)
{
	va_list ap;

	printf("# ");
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	printf("\n");
	fflush(stdout);
}

#define TH_LOG(fmt, ...) harness_diag(fmt, ##__VA_ARGS__)

static inline void harness_mark_failed(struct harness_ctx *ctx)
{
	if (ctx->sh->result != HARNESS_SKIP)
		ctx->sh->result = HARNESS_FAIL;
}

/* Leave the test body: back to the runner in the child. */
static inline void __attribute__((noreturn)) harness_stop(struct harness_ctx *ctx)
{
	siglongjmp(ctx->env, 1);
}

static inline void __attribute__((noreturn, format(printf, 2, 3)))
harness_skip(struct harness_ctx *ctx, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(ctx->sh->reason, sizeof(ctx->sh->reason), fmt, ap);
	va_end(ap);
	ctx->sh->result = HARNESS_SKIP;
	harness_stop(ctx);
}

#define SKIP(fmt, ...) harness_skip(_ctx, fmt, ##__VA_ARGS__)

/* ---- assertions ---- */

static inline bool harness_negative(long long v, bool is_signed)
{
	return is_signed && v < 0;
}

/*
 * Integers are compared as long long when both sides are signed or both
 * fit, as unsigned long long otherwise; the values are printed both ways.
 */
#define __harness_cmp(is_assert, expected, seen, op, opname) do {		\
	__typeof__(expected) __e = (expected);					\
	__typeof__(seen) __s = (seen);						\
	bool __neg_e = harness_negative((long long)__e,				\
			(__typeof__(expected))-1 < (__typeof__(expected))1);	\
	bool __neg_s = harness_negative((long long)__s,				\
			(__typeof__(seen))-1 < (__typeof__(seen))1);		\
	bool __ok;								\
	if (__neg_e || __neg_s)							\
		__ok = (long long)__e op (long long)__s;			\
	else									\
		__ok = (unsigned long long)__e op (unsigned long long)__s;	\
	if (!__ok) {								\
		harness_diag("%s:%d: %s_%s(%s, %s): expected %lld (%#llx), seen %lld (%#llx)", \
			     __FILE__, __LINE__, (is_assert) ? "ASSERT" : "EXPECT", \
			     opname, #expected, #seen,				\
			     (long long)__e, (unsigned long long)__e,		\
			     (long long)__s, (unsigned long long)__s);		\
		harness_mark_failed(_ctx);					\
		if (is_assert)							\
			harness_stop(_ctx);					\
	}									\
} while (0)

#define __harness_bool(is_assert, cond, want, name) do {			\
	bool __c = (cond);							\
	if (__c != (want)) {							\
		harness_diag("%s:%d: %s_%s(%s): expected %s, seen %s",		\
			     __FILE__, __LINE__, (is_assert) ? "ASSERT" : "EXPECT", \
			     name, #cond, (want) ? "true" : "false",		\
			     __c ? "true" : "false");				\
		harness_mark_failed(_ctx);					\
		if (is_assert)							\
			harness_stop(_ctx);					\
	}									\
} while (0)

#define __harness_ptr(is_assert, ptr, want_null, name) do {			\
	const void *__p = (ptr);						\
	if ((__p == NULL) != (want_null)) {					\
		harness_diag("%s:%d: %s_%s(%s): seen %p",			\
			     __FILE__, __LINE__, (is_assert) ? "ASSERT" : "EXPECT", \
			     name, #ptr, __p);					\
		harness_mark_failed(_ctx);					\
		if (is_assert)							\
			harness_stop(_ctx);					\
	}									\
} while (0)

#define __harness_str(is_assert, expected, seen, want_eq, name) do {		\
	const char *__e = (expected), *__s = (seen);				\
	bool __eq = __e && __s ? !strcmp(__e, __s) : __e == __s;		\
	if (__eq != (want_eq)) {						\
		harness_diag("%s:%d: %s_%s(%s, %s): expected %s%s%s, seen %s%s%s", \
			     __FILE__, __LINE__, (is_assert) ? "ASSERT" : "EXPECT", \
			     name, #expected, #seen,				\
			     __e ? "\"" : "", __e ? __e : "NULL", __e ? "\"" : "", \
			     __s ? "\"" : "", __s ? __s : "NULL", __s ? "\"" : ""); \
		harness_mark_failed(_ctx);					\
		if (is_assert)							\
			harness_stop(_ctx);					\
	}									\
} while (0)

static inline void harness_hexdump(const char *what, const void *p, size_t len)
{
	const unsigned char *b = p;
	char line[3 * 32 + 1];
	size_t i, o = 0;

	for (i = 0; i < len && i < 32; i++)
		o += snprintf(line + o, sizeof(line) - o, "%02x", b[i]);
	line[o] = '\0';
	harness_diag("  %s: %s%s", what, line, len > 32 ? "..." : "");
}

#define __harness_mem(is_assert, expected, seen, len) do {			\
	const void *__e = (expected), *__s = (seen);				\
	size_t __l = (len);							\
	if (memcmp(__e, __s, __l)) {						\
		harness_diag("%s:%d: %s_MEMEQ(%s, %s, %s): contents differ",	\
			     __FILE__, __LINE__, (is_assert) ? "ASSERT" : "EXPECT", \
			     #expected, #seen, #len);				\
		harness_hexdump("expected", __e, __l);				\
		harness_hexdump("seen    ", __s, __l);				\
		harness_mark_failed(_ctx);					\
		if (is_assert)							\
			harness_stop(_ctx);					\
	}									\
} while (0)

#define ASSERT_EQ(e, s) __harness_cmp(1, e, s, ==, "EQ")
#define ASSERT_NE(e, s) __harness_cmp(1, e, s, !=, "NE")
#define ASSERT_LT(e, s) __harness_cmp(1, e, s, <, "LT")
#define ASSERT_LE(e, s) __harness_cmp(1, e, s, <=, "LE")
#define ASSERT_GT(e, s) __harness_cmp(1, e, s, >, "GT")
#define ASSERT_GE(e, s) __harness_cmp(1, e, s, >=, "GE")
#define ASSERT_TRUE(c) __harness_bool(1, c, true, "TRUE")
#define ASSERT_FALSE(c) __harness_bool(1, c, false, "FALSE")
#define ASSERT_NULL(p) __harness_ptr(1, p, true, "NULL")
#define ASSERT_NOT_NULL(p) __harness_ptr(1, p, false, "NOT_NULL")
#define ASSERT_STREQ(e, s) __harness_str(1, e, s, true, "STREQ")
#define ASSERT_STRNE(e, s) __harness_str(1, e, s, false, "STRNE")
#define ASSERT_MEMEQ(e, s, l) __harness_mem(1, e, s, l)

#define EXPECT_EQ(e, s) __harness_cmp(0, e, s, ==, "EQ")
#define EXPECT_NE(e, s) __harness_cmp(0, e, s, !=, "NE")
#define EXPECT_LT(e, s) __harness_cmp(0, e, s, <, "LT")
#define EXPECT_LE(e, s) __harness_cmp(0, e, s, <=, "LE")
#define EXPECT_GT(e, s) __harness_cmp(0, e, s, >, "GT")
#define EXPECT_GE(e, s) __harness_cmp(0, e, s, >=, "GE")
#define EXPECT_TRUE(c) __harness_bool(0, c, true, "TRUE")
#define EXPECT_FALSE(c) __harness_bool(0, c, false, "FALSE")
#define EXPECT_NULL(p) __harness_ptr(0, p, true, "NULL")
#define EXPECT_NOT_NULL(p) __harness_ptr(0, p, false, "NOT_NULL")
#define EXPECT_STREQ(e, s) __harness_str(0, e, s, true, "STREQ")
#define EXPECT_STRNE(e, s) __harness_str(0, e, s, false, "STRNE")
#define EXPECT_MEMEQ(e, s, l) __harness_mem(0, e, s, l)

/* ---- declarations ---- */

#define TEST(tname) TEST_TIMEOUT(tname, HARNESS_DEFAULT_TIMEOUT)

#define TEST_TIMEOUT(tname, secs)						\
	static void __test_##tname(HARNESS_CTX);					\
	static void __run_##tname(struct harness_ctx *_ctx,			\
				 const struct harness_test *t)			\
	{									\
		(void)t;							\
		if (sigsetjmp(_ctx->env, 1))					\
			return;							\
		_ctx->armed = 1;						\
		_ctx->setup_done = 1;						\
		__test_##tname(_ctx);						\
	}									\
	static struct harness_test __t_##tname = {				\
		.name = #tname, .fn = __run_##tname, .timeout = (secs),		\
	};									\
	static void __attribute__((constructor)) __reg_##tname(void)		\
	{									\
		harness_register(&__t_##tname);					\
	}									\
	static void __test_##tname(HARNESS_CTX)

#define FIXTURE_DATA(fx) struct _fixture_##fx
#define FIXTURE_VARIANT_TYPE(fx) struct _fixture_variant_##fx

#define FIXTURE(fx)								\
	FIXTURE_VARIANT_TYPE(fx);						\
	static struct harness_fixture __fixture_##fx = { .name = #fx };		\
	FIXTURE_DATA(fx)

#define FIXTURE_SETUP(fx)							\
	static void __setup_##fx(HARNESS_CTX, FIXTURE_DATA(fx) *self HARNESS_UNUSED,		\
				 const FIXTURE_VARIANT_TYPE(fx) *variant HARNESS_UNUSED)

#define FIXTURE_TEARDOWN(fx)							\
	static void __teardown_##fx(HARNESS_CTX, FIXTURE_DATA(fx) *self HARNESS_UNUSED,	\
				    const FIXTURE_VARIANT_TYPE(fx) *variant HARNESS_UNUSED)

#define FIXTURE_VARIANT(fx) FIXTURE_VARIANT_TYPE(fx)

#define FIXTURE_VARIANT_ADD(fx, vname)						\
	static const FIXTURE_VARIANT_TYPE(fx) __variant_##fx##_##vname;		\
	static struct harness_variant __hv_##fx##_##vname = {			\
		.name = #vname, .data = &__variant_##fx##_##vname,		\
	};									\
	static void __attribute__((constructor)) __regv_##fx##_##vname(void)	\
	{									\
		harness_variant_register(&__fixture_##fx, &__hv_##fx##_##vname); \
	}									\
	static const FIXTURE_VARIANT_TYPE(fx) __variant_##fx##_##vname =

#define TEST_F(fx, tname) TEST_F_TIMEOUT(fx, tname, HARNESS_DEFAULT_TIMEOUT)

/*
 * The fixture lives on the child's stack; teardown may run from the
 * SIGTERM path, so the runner keeps a pointer to it and to the variant.
 */
#define TEST_F_TIMEOUT(fx, tname, secs)						\
	static void __test_##fx##_##tname(HARNESS_CTX, FIXTURE_DATA(fx) *self HARNESS_UNUSED,	\
					 const FIXTURE_VARIANT_TYPE(fx) *variant HARNESS_UNUSED); \
	static void __run_##fx##_##tname(struct harness_ctx *_ctx,		\
					const struct harness_test *t)		\
	{									\
		static FIXTURE_DATA(fx) self;					\
		const FIXTURE_VARIANT_TYPE(fx) *variant = harness_variant_data(t); \
		memset(&self, 0, sizeof(self));					\
		if (sigsetjmp(_ctx->env, 1)) {					\
			if (_ctx->setup_done && !_ctx->teardown_done) {		\
				_ctx->teardown_done = 1;			\
				if (!sigsetjmp(_ctx->env, 1))			\
					__teardown_##fx(_ctx, &self, variant);	\
			}							\
			return;							\
		}								\
		_ctx->armed = 1;						\
		_ctx->in_setup = 1;						\
		__setup_##fx(_ctx, &self, variant);				\
		_ctx->in_setup = 0;						\
		_ctx->setup_done = 1;						\
		__test_##fx##_##tname(_ctx, &self, variant);			\
		_ctx->teardown_done = 1;					\
		if (!sigsetjmp(_ctx->env, 1))					\
			__teardown_##fx(_ctx, &self, variant);			\
	}									\
	static struct harness_test __t_##fx##_##tname = {			\
		.name = #tname, .fixture = &__fixture_##fx,			\
		.fn = __run_##fx##_##tname, .timeout = (secs),			\
	};									\
	static void __attribute__((constructor)) __reg_##fx##_##tname(void)	\
	{									\
		harness_register(&__t_##fx##_##tname);				\
	}									\
	static void __test_##fx##_##tname(HARNESS_CTX, FIXTURE_DATA(fx) *self HARNESS_UNUSED,	\
					 const FIXTURE_VARIANT_TYPE(fx) *variant HARNESS_UNUSED)

/* The variant the current test instance runs with (set per fork). */
static const void *harness_cur_variant;

static inline const void *harness_variant_data(const struct harness_test *t)
{
	(void)t;
	return harness_cur_variant;
}

/* ---- the runner ---- */

struct harness_instance {
	const struct harness_test *t;
	const struct harness_variant *v;
	char name[256];
};

static void harness_on_term(int sig)
{
	struct harness_ctx *ctx = harness_cur;

	(void)sig;
	if (!ctx || !ctx->armed)
		_exit(HARNESS_FAIL);
	snprintf(ctx->sh->reason, sizeof(ctx->sh->reason), "timeout");
	ctx->sh->result = HARNESS_FAIL;
	/* Back to the runner: the teardown path runs from there. */
	siglongjmp(ctx->env, 1);
}

static int harness_run_child(const struct harness_instance *in, struct harness_shared *sh)
{
	static struct harness_ctx ctx;
	struct sigaction sa = { .sa_handler = harness_on_term };

	memset(&ctx, 0, sizeof(ctx));
	ctx.sh = sh;
	harness_cur = &ctx;
	harness_cur_variant = in->v ? in->v->data : NULL;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGTERM, &sa, NULL);
	in->t->fn(&ctx, in->t);
	fflush(NULL);
	return sh->result;
}

static double harness_timeout_scale(void)
{
	const char *s = getenv("HARNESS_TIMEOUT_SCALE");
	double v = s ? strtod(s, NULL) : 1.0;

	return v > 0 ? v : 1.0;
}

static int harness_wait(pid_t pid, unsigned int timeout_ms, bool *timed_out)
{
	struct timespec tick = { 0, 5 * 1000 * 1000 };
	unsigned int waited = 0, grace = 0;
	bool termed = false;
	int status;

	*timed_out = false;
	for (;;) {
		pid_t r = waitpid(pid, &status, WNOHANG);

		if (r == pid)
			return status;
		if (r < 0 && errno != EINTR)
			return -1;
		nanosleep(&tick, NULL);
		waited += 5;
		if (!termed && waited >= timeout_ms) {
			*timed_out = true;
			termed = true;
			kill(pid, SIGTERM);
		} else if (termed && (grace += 5) >= HARNESS_GRACE_S * 1000) {
			kill(-pid, SIGKILL);
			kill(pid, SIGKILL);
		}
	}
}

static int harness_run_one(const struct harness_instance *in, unsigned int num)
{
	struct harness_shared *sh;
	bool timed_out;
	unsigned int timeout_ms;
	int status, result;
	pid_t pid;

	sh = mmap(NULL, sizeof(*sh), PROT_READ | PROT_WRITE,
		  MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (sh == MAP_FAILED) {
		printf("not ok %u %s\n# mmap: %s\n", num, in->name, strerror(errno));
		return HARNESS_FAIL;
	}
	sh->result = HARNESS_PASS;
	fflush(NULL);
	pid = fork();
	if (pid < 0) {
		printf("not ok %u %s\n# fork: %s\n", num, in->name, strerror(errno));
		munmap(sh, sizeof(*sh));
		return HARNESS_FAIL;
	}
	if (pid == 0) {
		setpgid(0, 0);
		/* exit(), not _exit(): LeakSanitizer checks at exit. */
		exit(harness_run_child(in, sh));
	}
	setpgid(pid, pid);
	timeout_ms = (unsigned int)(in->t->timeout * 1000 * harness_timeout_scale());
	status = harness_wait(pid, timeout_ms, &timed_out);
	/* Nothing the test started outlives it. */
	kill(-pid, SIGKILL);

	result = sh->result;
	if (timed_out) {
		result = HARNESS_FAIL;
		printf("# %s: timeout after %.1f s\n", in->name, timeout_ms / 1000.0);
	} else if (status < 0 || WIFSIGNALED(status)) {
		result = HARNESS_FAIL;
		printf("# %s: killed by signal %d (%s)\n", in->name,
		       WIFSIGNALED(status) ? WTERMSIG(status) : 0,
		       WIFSIGNALED(status) ? strsignal(WTERMSIG(status)) : "?");
	} else if ((int)WEXITSTATUS(status) != result) {
		result = HARNESS_FAIL;
		printf("# %s: exited with status %d\n", in->name, WEXITSTATUS(status));
	}
	if (result == HARNESS_SKIP)
		printf("ok %u %s # SKIP %s\n", num, in->name, sh->reason);
	else
		printf("%s %u %s\n", result == HARNESS_PASS ? "ok" : "not ok", num, in->name);
	fflush(stdout);
	munmap(sh, sizeof(*sh));
	return result;
}

/* Expand tests x variants into named instances, in registration order. */
static unsigned int harness_instances(struct harness_instance **out)
{
	struct harness_instance *all = NULL;
	const struct harness_test *t;
	unsigned int n = 0, cap = 0;

	for (t = harness_tests; t; t = t->next) {
		const struct harness_variant *v = t->fixture ? t->fixture->variants : NULL;

		do {
			struct harness_instance *in;

			if (n == cap) {
				cap = cap ? 2 * cap : 64;
				all = realloc(all, cap * sizeof(*all));
				if (!all) {
					perror("harness");
					exit(2);
				}
			}
			in = &all[n++];
			in->t = t;
			in->v = v;
			if (!t->fixture)
				snprintf(in->name, sizeof(in->name), "%s", t->name);
			else if (v)
				snprintf(in->name, sizeof(in->name), "%s.%s.%s",
					 t->fixture->name, v->name, t->name);
			else
				snprintf(in->name, sizeof(in->name), "%s.%s",
					 t->fixture->name, t->name);
			v = v ? v->next : NULL;
		} while (v);
	}
	*out = all;
	return n;
}

static int harness_main(int argc, char **argv)
{
	struct harness_instance *all;
	unsigned int n, i, num = 0, pass = 0, fail = 0, skip = 0, total = 0;
	const char **only = calloc(argc, sizeof(*only));
	unsigned int n_only = 0;
	bool list = false;
	int opt;

	setvbuf(stdout, NULL, _IOLBF, 0);
	while ((opt = getopt(argc, argv, "lr:h")) != -1) {
		switch (opt) {
		case 'l':
			list = true;
			break;
		case 'r':
			only[n_only++] = optarg;
			break;
		case 'h':
		default:
			fprintf(opt == 'h' ? stdout : stderr,
				"Usage: %s [-l] [-r fixture.variant.test|PATTERN]...\n", argv[0]);
			return opt == 'h' ? 0 : 2;
		}
	}
	n = harness_instances(&all);
	for (i = 0; i < n; i++) {
		unsigned int k;
		bool sel = !n_only;

		for (k = 0; k < n_only && !sel; k++)
			sel = !fnmatch(only[k], all[i].name, 0);
		if (!sel) {
			all[i].t = NULL;
			continue;
		}
		if (list)
			printf("%s\n", all[i].name);
		total++;
	}
	if (list)
		return 0;
	printf("TAP version 13\n1..%u\n", total);
	for (i = 0; i < n; i++) {
		if (!all[i].t)
			continue;
		switch (harness_run_one(&all[i], ++num)) {
		case HARNESS_PASS:
			pass++;
			break;
		case HARNESS_SKIP:
			skip++;
			break;
		default:
			fail++;
			break;
		}
	}
	if (n_only && !total) {
		printf("# no test matches\n");
		fail++;
	}
	printf("%u passed, %u failed, %u skipped\n", pass, fail, skip);
	free(all);
	free(only);
	return fail ? 1 : 0;
}

#define TEST_HARNESS_MAIN						\
	int main(int argc, char **argv)					\
	{								\
		return harness_main(argc, argv);			\
	}

#endif
