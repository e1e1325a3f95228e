/* SPDX-License-Identifier: MIT */
/* An empty preloadable library: the baseline that separates the dynamic
 * loader's cost of LD_PRELOAD (inherited by every spawned program) from
 * pinguard's own. */
int pinguard_bench_empty;
