/* SPDX-License-Identifier: MIT */
/* Baseline for test_idle.sh: a shared library that does nothing. */
int pg_empty_marker;
