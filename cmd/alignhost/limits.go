package main

import (
	"time"

	"github.com/spf13/pflag"

	"github.com/alignhost/alignhost/host"
)

// limitFlags are the sandbox limits a command may set for an optimizer
// plugin; zero means "not given".
type limitFlags struct {
	memoryMB   int
	fuel       int64
	modelCalls int
	tokens     int64
}

func (l *limitFlags) register(fs *pflag.FlagSet) {
	fs.IntVar(&l.memoryMB, "memory-mb", 0, "memory limit of each plugin instance in MiB (default [align.limits] memory_mb, else 256)")
	fs.Int64Var(&l.fuel, "fuel", 0, "fuel limit of one alignment, as the meter counts instructions (default [align.limits] fuel, else 10^15)")
	fs.IntVar(&l.modelCalls, "model-calls", 0, "model calls the plugin may make (default [align.limits] model_calls, else 1,000)")
	fs.Int64Var(&l.tokens, "tokens", 0, "tokens the plugin's model calls may bill (default [align.limits] tokens, else 2,000,000)")
}

// pluginLimits are the limits a plugin runs under: a flag, else
// alignhost.toml's [align.limits], else the host's default (zero).
func (a *app) pluginLimits(wallTime time.Duration, f limitFlags) host.Limits {
	c := a.cfg.Align.Limits
	pick := func(flag, cfg int64) int64 {
		if flag > 0 {
			return flag
		}
		return cfg
	}
	l := host.Limits{
		WallTimeMS:   pick(wallTime.Milliseconds(), c.WallTime.Milliseconds()),
		Fuel:         pick(f.fuel, c.Fuel),
		ModelCalls:   int(pick(int64(f.modelCalls), int64(c.ModelCalls))),
		Tokens:       pick(f.tokens, c.Tokens),
		MessageBytes: c.MessageMB << 20,
		Instances:    c.Instances,
	}
	if mb := pick(int64(f.memoryMB), int64(c.MemoryMB)); mb > 0 {
		l.MemoryPages = uint32(mb * 16) // 64 KiB pages
	}
	return l
}
