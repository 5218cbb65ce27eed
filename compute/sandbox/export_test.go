package sandbox

// Compiles returns how many modules r has compiled.
func Compiles(r *Runtime) int64 { return r.compiles.Load() }
