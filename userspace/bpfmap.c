// SPDX-License-Identifier: GPL-2.0-only
/*
 * Per-CPU BPF counters summed over the CPUs (bpfmap.h). The kernel
 * copies one value per possible CPU, each rounded up to 8 bytes; values
 * of __u64 fields need no padding.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <bpf/bpf.h>

#include "bpfmap.h"

int gw_bpfmap_percpu_sum(int map_fd, const void *key, int ncpus, __u64 *out, size_t n_u64)
{
	__u64 *percpu;
	size_t f;
	int cpu, err = 0;

	memset(out, 0, n_u64 * sizeof(*out));
	if (ncpus <= 0)
		return -EINVAL;
	percpu = calloc((size_t)ncpus * n_u64, sizeof(*percpu));
	if (!percpu)
		return -ENOMEM;
	if (bpf_map_lookup_elem(map_fd, key, percpu)) {
		err = -errno;
		goto out;
	}
	for (cpu = 0; cpu < ncpus; cpu++)
		for (f = 0; f < n_u64; f++)
			out[f] += percpu[(size_t)cpu * n_u64 + f];
out:
	free(percpu);
	return err;
}
