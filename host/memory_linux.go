package host

import "syscall"

// mmapFlags maps private anonymous memory without reserving swap for it.
const mmapFlags = syscall.MAP_PRIVATE | syscall.MAP_ANON | syscall.MAP_NORESERVE
