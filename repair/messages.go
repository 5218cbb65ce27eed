package repair

import "time"

// Message is what Machines send each other; node carries them over its
// streams, the simulator in memory. Each is a plain value: node encodes
// them (and signs what must be signed, such as the records) as it likes.
// Every handler is idempotent and tolerates loss, duplication and
// reordering: a late or repeated message is recognised by its version and
// ballot and ignored.
type Message[P comparable] interface{ isMessage() }

// Claim asks a holder of Record for the exclusive right to repair it for
// TTL from when the holder receives it: a lease. The claimant repairs only
// while a majority of the record's holders hold unexpired grants to it, and
// sends the Claim again (a renewal) to extend them. Sent is the claimant's
// clock when it sent this copy; the Grant echoes it, so the claimant
// knows when each grant lapses by its own clock (never later than Sent+TTL).
// Slots are the slots the repair will replace, ascending: a holder grants
// only if it holds each of their holders for lost or damaged. Cert is the
// certificate that brought Record's holders (nil when none did), so that
// a holder still at the version before can take Record.
type Claim[P comparable] struct {
	Record   Stripe[P]
	Claimant P
	Ballot   uint64 // the claimant's number for this attempt
	Sent     time.Time
	TTL      time.Duration
	Slots    []int
	Cert     *Cert[P]
}

// Grant answers a Claim: the holder will grant nobody else the stripe at
// this version until the Claim's TTL has run from its receipt. Sig is the
// holder's signature over the claim's GrantStatement: the claimant's
// certificate gathers a majority of them.
type Grant[P comparable] struct {
	Stripe  StripeID
	Version uint64
	Ballot  uint64
	Sent    time.Time // the Claim's
	Sig     []byte
}

// Deny answers a Claim while the holder's grant to another claimant runs:
// Holder has it for Remaining more.
type Deny[P comparable] struct {
	Stripe    StripeID
	Version   uint64
	Ballot    uint64
	Holder    P
	Remaining time.Duration
}

// Stale answers a Claim for an older record: here is the newer one, with
// the certificate that brought its holders (nil: none did).
type Stale[P comparable] struct {
	Record Stripe[P]
	Cert   *Cert[P]
}

// Release gives back the grants of a claim that will not go on.
type Release[P comparable] struct {
	Stripe StripeID
	Ballot uint64
}

// Done announces a committed repair: the next record, with the new holders
// in place of the lost ones. node hands the new holders the stripe record
// with its retention alongside (package stripe's record); every holder,
// old and new, and every watcher replaces its hints with Record's, once
// Cert (the grants of a majority of the repaired version's holders, and
// the repairer's signature over the new holders) checks out.
type Done[P comparable] struct {
	Record   Stripe[P]
	Repairer P
	Cert     *Cert[P]
}

// Watch asks a member that holds no shard of Record to watch it: its
// holders have fallen below the watch group's size. Cert is as a
// Claim's.
type Watch[P comparable] struct {
	Record Stripe[P]
	Cert   *Cert[P]
}

func (Claim[P]) isMessage()   {}
func (Grant[P]) isMessage()   {}
func (Deny[P]) isMessage()    {}
func (Stale[P]) isMessage()   {}
func (Release[P]) isMessage() {}
func (Done[P]) isMessage()    {}
func (Watch[P]) isMessage()   {}

// Envelope is a message to send.
type Envelope[P comparable] struct {
	To  P
	Msg Message[P]
}

// Source is a shard to fetch: slot Slot of the stripe, from Holder.
type Source[P comparable] struct {
	Slot   int
	Holder P
}

// Plan is a repair the Machine hands node to carry out under its claim:
// fetch need verified shards (Fetch; Spares when one fails), rebuild the
// slots in Rebuild with erasure, place them on as many new holders through
// a Placer (the reliable slice, distinct failure domains, never one of
// Exclude), hand each new holder its shard and the record with its
// retention, and report with Machine.Finish before Deadline. If the
// Machine sends Abort for the plan first, node stops and reports nothing.
type Plan[P comparable] struct {
	Record   Stripe[P]
	Ballot   uint64
	Fetch    []Source[P] // exactly need sources; this node's own shard first when it holds one
	Spares   []Source[P] // other reachable holders, best first
	Rebuild  []int       // the slots whose holders are lost
	Exclude  []P         // every holder of Record: a new holder is none of them
	Bytes    int64       // what the plan moves: the remote fetches and the rebuilt shards
	Deadline time.Time   // the claim's lease, less the margin
	Urgent   bool
}

// Result is what node reports of a Plan: the slots it rebuilt and placed,
// each with its new holder, and the bytes it moved. With Err (or nothing
// placed) the repair failed and will be tried again.
type Result[P comparable] struct {
	Stripe StripeID
	Ballot uint64
	Placed map[int]P
	Moved  int64
	Err    error
	// Version is the next record's version, which the commit signs (node:
	// the rebuilt record's Seq); 0: the repaired version's plus one. It
	// must be above the repaired version.
	Version uint64
}

// Abort tells node to stop the plan of that ballot: its claim lapsed.
type Abort struct {
	Stripe StripeID
	Ballot uint64
}

// Placer chooses new holders for rebuilt shards. node implements it with
// placement.Reliable over gossip's candidates (the reliable slice, spread
// over zones, subnets and hosts); the simulator with placement.Reliable
// over its own. It returns one distinct peer per slot, none of them in
// exclude, or an error matching placement.ErrNotEnoughPeers.
type Placer[P comparable] interface {
	PlaceShards(rec Stripe[P], slots []int, exclude []P) ([]P, error)
}

// Output is what the Machine asks of its driver after a call: messages to
// send, plans to start and to abort, and what to tell the node's store.
// The slices are the caller's.
type Output[P comparable] struct {
	Send  []Envelope[P]
	Start []Plan[P]
	Abort []Abort
	// Discard lists stripes whose newer record no longer names this node:
	// delete the local shard.
	Discard []StripeID
	// Below lists stripes that just fell below need healthy shards: they
	// cannot be rebuilt from the cloud until holders return (see
	// docs/repair.md).
	Below []StripeID
	// Refused lists the messages whose newer record was not taken: it
	// changes holders without a valid grant certificate (log them).
	Refused []Refusal[P]
}
