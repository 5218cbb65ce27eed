package repair

import (
	"fmt"
	"time"
)

// Damaged reports that the shard in slot of stripe id, at holder, is
// missing or corrupt: an audit of holder failed or found it missing, or
// (holder being this node) a scrub found the own shard damaged. The slot
// counts as lost from now on, whatever the checks of holder say: it is
// neither healthy nor a source, and the next repair rebuilds it on a new
// holder. The mark stays while the stripe's records name holder for the
// slot, and ends with a record that names another. A report for a stripe
// the Machine does not know, or whose record names another holder for the
// slot, is refused with an error (and changes nothing); a repeated one
// changes nothing.
func (m *Machine[P]) Damaged(id StripeID, slot int, holder P, now time.Time) error {
	s := m.stripes[id]
	if s == nil {
		return fmt.Errorf("repair: stripe %s: not held or watched here", id.Short())
	}
	var zero P
	if slot < 0 || slot >= len(s.rec.Holders) || !s.rec.stored(slot) || holder == zero || s.rec.Holders[slot] != holder {
		return fmt.Errorf("repair: stripe %s: slot %d is not that holder's", id.Short(), slot)
	}
	defer m.pump(now)
	if s.isDamaged(slot) {
		return nil
	}
	if s.damaged == nil {
		s.damaged = make([]bool, len(s.rec.Holders))
	}
	s.damaged[slot] = true
	s.ndamaged++
	if holder == m.cfg.Self {
		s.healthy--
		s.reachable--
	} else if pe := s.peerAt[slot]; pe != nil {
		if !pe.lost {
			s.healthy--
		}
		if pe.up {
			s.reachable--
		}
	}
	m.health(s)
	m.evaluate(s, now)
	m.retryClaim(s, now)
	return nil
}

// isDamaged reports whether slot i's shard was reported damaged.
func (s *stripe[P]) isDamaged(i int) bool {
	return s.ndamaged > 0 && i >= 0 && i < len(s.damaged) && s.damaged[i]
}

// damagedAt reports whether pe's slot of s is damaged: its checks then
// change nothing of s's health.
func (s *stripe[P]) damagedAt(pe *peer[P]) bool {
	if s.ndamaged == 0 {
		return false
	}
	for i, q := range s.peerAt {
		if q == pe && s.damaged[i] {
			return true
		}
	}
	return false
}

// carryDamage keeps, for rec (the stripe's next record), the damage marks
// of the slots whose holder stays the same.
func (s *stripe[P]) carryDamage(rec Stripe[P]) {
	if s.ndamaged == 0 {
		return
	}
	s.ndamaged = 0
	for i := range s.damaged {
		if s.damaged[i] && (i >= len(rec.Holders) || rec.Holders[i] != s.rec.Holders[i]) {
			s.damaged[i] = false
		}
		if s.damaged[i] {
			s.ndamaged++
		}
	}
	if s.ndamaged == 0 || len(rec.Holders) != len(s.damaged) {
		s.damaged, s.ndamaged = nil, 0
	}
}
