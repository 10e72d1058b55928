#define _GNU_SOURCE
#include <unistd.h>
#include "CSystemCalls.h"

int narsync_syncfs(int fd) { return syncfs(fd); }
