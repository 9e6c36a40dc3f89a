#ifndef KALTIM_MALLOC_H
#define KALTIM_MALLOC_H

/// The number of glibc malloc arenas a process linking this target (every process linking
/// WorkerHost) runs with: set by a constructor when the program loads, before main and before any
/// other thread exists. glibc's own settings win: with MALLOC_ARENA_MAX, or an arena_max in
/// GLIBC_TUNABLES, in the environment, the constructor leaves the limit to glibc.
#define KALTIM_MALLOC_ARENAS 2

/// What the constructor did: 1 the limit is set, 0 glibc's own setting from the environment
/// applies (or glibc refused), -1 the C library is not glibc.
int kaltim_malloc_arenas_limited(void);

#endif
