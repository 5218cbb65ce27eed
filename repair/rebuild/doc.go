// Package rebuild carries out the repairs a repair.Machine plans: it
// fetches enough verified shards of the stripe, rebuilds the lost ones
// with erasure, places them on new holders and hands each its shard with
// the stripe's next record. It holds no key and reads no plaintext: a
// stripe's shards are ciphertext and its record says what each must hash
// to, so any member of the cloud can repair any stripe.
//
// A Run is one plan:
//
//  0. Place. The Placer chooses the new holders first, so a repair with
//     nowhere to put what it rebuilds fails before it moves a byte.
//  1. Fetch. The plan names need sources (this node's own shard first
//     when it holds one) and spares. Every fetched shard is checked
//     against the record (stripe.Record.CheckShard: length, ID and proof
//     root); a source that fails, times out or returns the wrong bytes is
//     replaced by the next spare, and a wrong answer is reported in
//     Outcome.Corrupt, first-hand integrity evidence for the node's
//     reputation book. Fetches run Parallel at a time.
//  2. Rebuild. erasure.Reconstruct rebuilds every slot of plan.Rebuild
//     from exactly need verified shards (the parity too when a parity slot
//     is lost) and every rebuilt shard is checked against the record
//     again, so a wrong rebuild is never placed.
//  3. Place. The Placer chooses one new holder per rebuilt slot, never a
//     holder of the record (plan.Exclude). Each new holder is handed its
//     shard with the record naming it; a holder that refuses or fails is
//     excluded and its slot placed again, up to Attempts rounds.
//  4. Report. The Outcome carries the repair.Result for Machine.Finish
//     (the slots placed, each with its holder, and the bytes moved), the
//     stripe's next record (the hints of the placed slots replaced, the
//     rest as they were) for the node to hand the other holders, and the
//     bytes read and written.
//
// Bandwidth: every remote byte, fetched or stored, first passes the
// Pacer (in node, an x/time/rate limiter at the repair bandwidth cap), so
// a node's repairs never move more than the cap allows; the Machine's
// Bucket decides when a plan may start, the Pacer how fast it runs. A
// shard this node holds itself moves no bytes.
//
// A Run stops at the plan's deadline (the claim's lease less its margin)
// or when its context is cancelled (the Machine's Abort), and reports
// what it placed until then: a shard handed to a new holder is not
// taken back, since the record handed with it names its holder and the
// next repair of the stripe counts it.
package rebuild
