package main

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
)

// outputMode is the mode of the files alignhost writes for the user
// (exports, HTML reports): they hold what the store holds, and the store is
// private (0600), so they are too.
const outputMode = 0o600

// writeFileAtomic writes a file through a temporary file in the same
// directory, synced and then renamed over path, so that a failure (a full
// disk, an interrupted run) leaves the old file as it was and never a
// half-written one. The file is created with outputMode.
func writeFileAtomic(path string, write func(io.Writer) error) error {
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	if err := tmp.Chmod(outputMode); err != nil {
		tmp.Close()
		return err
	}
	if err := write(tmp); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return fmt.Errorf("rename %s: %w", filepath.Base(tmp.Name()), err)
	}
	return nil
}
