package backup

import (
	"crypto/ed25519"
	"errors"
	"fmt"

	"github.com/murmur-cloud/murmur/crypt"
)

// ErrAppendOnly reports an operation an append-only key may not do:
// read snapshots back, forget, prune, or change the set's keys.
var ErrAppendOnly = errors.New("backup: an append-only key can only add snapshots")

// Keys are what one key of a set unlocks.
//
// A set has an admin master key, kept in a passphrase-wrapped key file
// in the set's root like a drive's. It derives (crypt.MasterKey.Derive):
//
//   - the set's keys (Set): the set's public identity, whose signing key
//     signs the set's root record, and whose box key (X25519) every
//     snapshot is sealed to;
//   - the data key (Data): chunk IDs and chunk sealing (pipeline
//     SealContent: each chunk under a key drawn from its plaintext), the
//     index and the writers' logs. Every key of the set holds it, so
//     every machine deduplicates against every other;
//   - the admin's own writer key (Writer), which signs the admin's log.
//
// An append-only key is a random master key of its own: its writer key
// signs its log, and the set's root holds the data key wrapped under its
// key-wrap key. It has no box key of the set's, so it cannot open the
// snapshots, and so cannot learn the keys of any chunk whose plaintext it
// does not hold; and it cannot sign the set's root, which forgetting
// needs (docs/security.md, "Backup sets").
type Keys struct {
	ID     crypt.DriveID
	Public ed25519.PublicKey // the set's public key (its root record's)
	Data   *crypt.Keys
	Writer *crypt.Keys
	// Set is the set's own keys: nil for an append-only key.
	Set *crypt.Keys

	data crypt.MasterKey // the data master key, which Data derives from
	name string          // an appender's name; "admin" for the admin key
	box  [32]byte        // the set's box key, that snapshots are sealed to
}

// AppendOnly reports whether k is an append-only key.
func (k *Keys) AppendOnly() bool { return k.Set == nil }

// Names under which the admin master key derives the set's keys.
const (
	deriveData   = "backup data"
	deriveWriter = "backup writer"
)

// adminKeys derives a set's keys from its admin master key.
func adminKeys(id crypt.DriveID, mk crypt.MasterKey) *Keys {
	set := mk.Keys(id)
	data := dataMaster(id, mk)
	return &Keys{
		ID: id, Public: set.PublicKey(), Set: set,
		Data:   data.Keys(id),
		Writer: mk.Derive(id, deriveWriter).Keys(id),
		data:   data, name: "admin",
	}
}

// dataMaster returns the set's data master key, which only the admin
// master key derives.
func dataMaster(id crypt.DriveID, mk crypt.MasterKey) crypt.MasterKey {
	return mk.Derive(id, deriveData)
}

// wrapLabel is the identity the data key is sealed under for an appender.
var wrapLabel = []byte("murmur backup data key")

// wrapData seals the set's data master key for the appender of keys.
func wrapData(appender *crypt.Keys, data crypt.MasterKey) []byte {
	return appender.Sealer(crypt.PurposeKeyWrap).Seal(nil, wrapLabel, data[:])
}

// appenderKeys opens an append-only key's keys, given the set's root.
func appenderKeys(id crypt.DriveID, public ed25519.PublicKey, mk crypt.MasterKey, root *SetRoot) (*Keys, error) {
	w := mk.Keys(id)
	var me [32]byte
	copy(me[:], w.PublicKey())
	for _, a := range root.Appenders {
		if a.Key != me {
			continue
		}
		raw, err := w.Sealer(crypt.PurposeKeyWrap).Open(nil, wrapLabel, a.Wrapped)
		if err != nil || len(raw) != 32 {
			return nil, fmt.Errorf("%w: the set's root holds no data key this key opens: %v", ErrDamaged, err)
		}
		data := crypt.MasterKey(raw)
		return &Keys{ID: id, Public: public, Data: data.Keys(id), Writer: w, data: data, name: a.Name, box: root.Box}, nil
	}
	return nil, fmt.Errorf("backup: this key is not a key of the set (it was removed, or belongs to another set)")
}
