package repair

// Down returns how many of the peers the Machine checks are in an outage
// (their last check failed), and how many of those are lost (the outage
// outlasted their grace).
func (m *Machine[P]) Down() (down, lost int) {
	for _, p := range m.peers {
		if !p.up {
			down++
			if p.lost {
				lost++
			}
		}
	}
	return down, lost
}
