//go:build darwin || freebsd || netbsd || openbsd

package host

import "syscall"

// mmapFlags maps private anonymous memory.
const mmapFlags = syscall.MAP_PRIVATE | syscall.MAP_ANON
