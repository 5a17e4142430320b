//go:build !unix

package guestbuild

import "context"

// lock is a no-op where flock does not exist: builds then run side by side,
// which is slower on a cold cache but as correct.
func lock(context.Context, string) (func(), error) { return func() {}, nil }
