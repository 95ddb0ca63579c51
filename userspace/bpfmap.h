/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * Reading the BPF programs' per-CPU counters: a per-CPU map value made of
 * __u64 fields, summed over every possible CPU (stage1.c, steer.c).
 */
#ifndef GW_BPFMAP_H
#define GW_BPFMAP_H

#include <stddef.h>
#include <linux/types.h>

/*
 * Look key up in the per-CPU map map_fd (ncpus: libbpf_num_possible_cpus)
 * and add each of the n_u64 fields of every CPU's value into out[0 ..
 * n_u64 - 1], which is zeroed first. 0 or -errno.
 */
int gw_bpfmap_percpu_sum(int map_fd, const void *key, int ncpus, __u64 *out, size_t n_u64);

#endif
