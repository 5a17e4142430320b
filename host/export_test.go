package host

// WithGuard selects how the host's modules are kept to their wall time,
// for the guard-cost benchmark: "meter" (the default and the only guard
// the package offers), "none" (nothing: a spinning module cannot be
// stopped) or "interrupts" (wazero's WithCloseOnContextDone, the guard
// before the meter).
func (c Config) WithGuard(name string) Config {
	switch name {
	case "meter":
		c.guard = guardMeter
	case "none":
		c.guard = guardNone
	case "interrupts":
		c.guard = guardInterrupts
	default:
		panic("unknown guard " + name)
	}
	return c
}
