//go:build !unix

package store

// processAlive reports whether a process with the given ID runs on this
// host. Where that cannot be checked it says yes, and abandoned imports
// are recognised by their age alone.
func processAlive(pid int) bool { return true }
