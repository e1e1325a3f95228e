/* SPDX-License-Identifier: MIT */
/* Prints what a program compiled against pinguard.h sees: the header's
 * version macros and the library's pinguard_version(), for
 * test_version.sh to compare with the other places the version shows. */
#include <stdio.h>

#include "pinguard.h"

#if !PINGUARD_VERSION_AT_LEAST(PINGUARD_VERSION_MAJOR, \
			       PINGUARD_VERSION_MINOR, PINGUARD_VERSION_PATCH)
#error PINGUARD_VERSION_AT_LEAST is false for the version of the header itself
#endif
#if PINGUARD_VERSION_AT_LEAST(PINGUARD_VERSION_MAJOR, \
			      PINGUARD_VERSION_MINOR + 1, 0)
#error PINGUARD_VERSION_AT_LEAST is true for a later minor version
#endif

int main(void)
{
	printf("macros %d.%d.%d\n", PINGUARD_VERSION_MAJOR,
	       PINGUARD_VERSION_MINOR, PINGUARD_VERSION_PATCH);
	printf("string %s\n", PINGUARD_VERSION_STRING);
	printf("library %s\n", pinguard_version());
	return 0;
}
