// Package repair keeps stripes alive without their owner and without any
// key: the holders of a stripe watch each other, decide together when it
// needs repair, let exactly one of them rebuild what is lost, and hand the
// new holders the record. It knows nothing of the network, of libp2p or of
// the stripe records' format: it sees a Stripe (ID, k, m, holders, version,
// retention), exchanges plain messages, and hands node Plans to carry out;
// node and the simulator (repair/sim) drive the same Machine.
//
// The model. Each node's Machine checks every peer it shares a stripe with
// once per CheckPeriod, one batched check for all their stripes. A peer
// that fails a check is in an outage from then; it counts as lost once the
// outage outlasts its grace, a quantile (0.95) of its past outage lengths
// from History, clamped to [1h, 72h] (24h with less than three outages
// known): a short outage, within what the peer usually does, costs nothing,
// and a departure is noticed within days. A stripe's healthy shards are
// those on holders not lost; its reachable ones those on holders up now.
//
// The thresholds come from the binomial model placement.ChooseCode sizes
// stripes with (Thresholds): with need shards rebuilding the stripe and
// holders up with probability a (their mean availability from History),
// the lazy threshold is the least health at which the stripe is still
// readable with the durability target's probability; the urgent threshold
// the least, above need, at which it is as readable as one holder is up.
// A stripe is repaired (Lazy mode) once its health falls to the lazy
// threshold, every missing shard in one repair, as Total Recall's lazy
// repair does: the redundancy beyond the threshold absorbs losses between
// repairs and transient outages never cause one. Eager mode repairs every
// loss at the first failed check; Off never repairs (both for comparison).
//
// One repairer per stripe. The holders rank themselves by the XOR distance
// of their keys to the stripe's ID; a holder whose stripe needs repair
// waits its rank times Patience (so the closest reachable holder goes
// first, the next one if it does not), then queues the stripe. A queued
// stripe's claim is a lease: the claimant asks every holder of the record's
// version to grant it the stripe for ClaimTTL; a holder grants one
// claimant at a time and denies the others until the grant lapses; the
// claimant repairs only while a majority of the holders' grants run, each
// counted from when the claimant sent the request, renews the lease while
// it works and aborts its plan Margin before the lease would lapse. Two
// majorities share a holder, so two repairers never run at once; a lost,
// duplicated or late message is recognised by version and ballot and
// ignored; a repairer that dies simply lets its grants lapse, and the next
// holder in rank claims. A committed repair makes the next version of the
// record (Done), which replaces the older one everywhere and ends every
// claim for it, so no version is repaired twice and no shard is rebuilt
// twice. When fewer holders than the watch group (need+1) remain healthy,
// the members closest to the stripe are asked to watch it too (Watch).
//
// Storm control. Every node caps its repairs: a token bucket of repair
// bytes (default 1 MiB/s, 64 MiB burst) on the injected clock, and at most
// Concurrency repairs (default 2) claimed or running at once; the backlog
// waits in a queue ordered by urgency (below the urgent threshold first,
// then by the probability that the stripe is unreadable). Because each
// stripe's repairer is its closest holder, the repairs of a departed
// node's stripes spread over the cloud, and a node that falls behind gives
// its backlog's turn to the next holders in rank.
//
// See docs/repair.md for the reasoning, the defaults, and what node must do.
package repair
