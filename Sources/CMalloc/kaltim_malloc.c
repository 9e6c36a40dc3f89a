// Included first: it defines __GLIBC__, which the test below needs.
#include <stdlib.h>
#include <string.h>

#include "kaltim_malloc.h"

static int limited = -1;

#if defined(__GLIBC__)
#include <malloc.h>

// Runs when the program loads, before main and before any other thread: every thread of a
// worker (the cooperative pool, the broker connections, the HTTP event loop, SQLite's readers)
// would otherwise grow an arena of its own (up to eight per core), each keeping freed memory.
// glibc's own variables are read here, as glibc reads them, so that an operator can still
// choose; no setting of this project is read (those go through DeploymentSettings).
__attribute__((constructor)) static void kaltim_limit_malloc_arenas(void) {
  const char *tunables = getenv("GLIBC_TUNABLES");
  if (getenv("MALLOC_ARENA_MAX") != NULL || (tunables != NULL && strstr(tunables, "arena_max") != NULL)) {
    limited = 0;
    return;
  }
  limited = mallopt(M_ARENA_MAX, KALTIM_MALLOC_ARENAS) == 1 ? 1 : 0;
}
#endif

int kaltim_malloc_arenas_limited(void) { return limited; }
