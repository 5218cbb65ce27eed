package sim

// WithOffMachines makes a world with repair off run its Machines anyway.
func WithOffMachines(c Config) Config {
	c.offMachines = true
	return c
}

// WithTellAtOnce makes a lazy world tell every outage to every Machine at
// once rather than late.
func WithTellAtOnce(c Config) Config {
	c.tellAtOnce = true
	return c
}
