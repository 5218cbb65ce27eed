// Package stripe is what every holder of a shard keeps about the shard's
// stripe, so that the stripe can be audited, repaired and finally deleted
// without its owner: the stripe's Record, the owner's signed Retention
// that keeps it, and the signed Release that ends it.
//
// A Record holds the stripe's descriptor (k, m, the shard size, every
// shard's ID and length), a proof root per shard (stripe/proof: what
// audits check proofs of storage against), hints of where each shard is
// held, and the Retention that covers the stripe with the stripe's path in
// it. The stripe's ID is a hash of the descriptor and the roots. The roots
// follow from the shards, which the descriptor names, so an honest ID
// depends on the descriptor alone and names exactly one stripe; hashing
// the roots in means the owner's signature covers them too, so nobody can
// hand holders false roots that would make honest holders fail audits.
//
// The owner keeps its stripes alive by signing Retentions ("keep these
// until T unless released"): one Ed25519 signature covers a Set of any
// number of stripe IDs through the root of a hash tree over them
// (internal/merkle), and each record carries its stripe's path to that
// root, so renewing a million stripes costs one signature and 32 bytes
// per tree level per stripe. A stripe ends with a Release, signed and
// batched the same way. A holder that obeys a release keeps a Tombstone
// (the release and the stripe's path in it) in place of the record, which
// blocks every retention the owner signed up to the release: nothing
// released comes back through a repairer or a stale put. Only a retention
// signed after the release can store the stripe again. Retentions last at
// most MaxTerm, so a tombstone can go once MaxTerm has passed since its
// release: every retention it blocks has expired by then.
//
// Holder hints are unsigned (they change as shards are repaired, without
// the owner): they are only hints. Their version, Seq, is the time of
// their last change, so independent updaters order by time and a record
// from the future is refused (MaxSkew). The rules are functions: Verify
// (a record is well formed, its retention is genuine and covers it), Live,
// Wins and Merge (which of two records for one stripe prevails, and how
// their hints combine), Receive (what a holder keeps when handed a record),
// Renew and Release.
//
// Signatures are domain-separated ("murmur stripe retention v1\x00",
// "murmur stripe release v1\x00"); every encoding starts with a version
// byte, is parsed with the bounded internal/wire reader, accepts only the
// canonical form and is fuzzed; testdata/v1 pins version 1. Parse
// functions check the form; Verify checks signatures. The byte layouts
// are in docs/format.md, what they reveal in docs/security.md.
//
// The package imports erasure, stripe/proof and internal helpers only;
// owners are plain Ed25519 public keys (a libp2p Ed25519 identity key is
// one), and holders opaque names (libp2p peer ID bytes): checking that an
// owner key belongs to a peer is the caller's.
package stripe
