// Linux calls that Swift's Glibc module leaves out because glibc declares them only with
// _GNU_SOURCE.
#ifndef NARSYNC_CSYSTEMCALLS_H
#define NARSYNC_CSYSTEMCALLS_H

/// syncfs(2): flushes the whole filesystem holding `fd`.
int narsync_syncfs(int fd);

#endif
