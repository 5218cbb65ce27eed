package sim

// WithOffMachines makes a world with repair off run its Machines anyway.
func WithOffMachines(c Config) Config {
	c.offMachines = true
	return c
}
