// Package placement chooses, for each stripe, the distinct peers that will
// hold its shards, and how many data and parity shards a stripe has. It
// sees peers as Candidates — an opaque ID, free space, a reliability
// rating with the evidence behind it, failure domains — and knows nothing
// of the network or of gossip (the caller turns gossip's ratings into
// Candidates), so the same code runs in a node and in the simulator.
//
// The policy, Reliable: shards go to the reliable slice, the most reliable
// part of the vetted peers (half of them by default, plus everyone within
// a small epsilon of the weakest, since near-equal scores are noise, not
// rank). Inside the slice every peer is as good as another: a stripe
// spreads over distinct zones first, then subnets, then hosts, and picks
// at random among equal spreads, so load follows the slice, not the top of
// the ranking, and no peer becomes a hot spot. A newcomer — a peer with
// little evidence behind its rating — whose rating would put it in the
// slice may take a shard of a stripe, at most one by default, with a
// probability that grows with its evidence until it is vetted. A peer
// without room for a shard is passed over; when the slice cannot take a
// stripe, it widens down the ranking, near-equals together. Because the
// ratings come from what peers observe of each other (gossip.Reputation
// combines them robustly), a minority lying about reliability moves
// neither its own share of shards nor anyone's place in the slice much.
//
// The code, ChooseCode: k and m come from the estimated cloud size, the
// peers' mean availability and a target probability that a stripe is
// readable, computed exactly (at least k of k+m independent peers up); of
// the codes that meet the target it takes the least storage overhead,
// and it says why in a sentence for murmur status — or, when the target
// is out of reach, what it did instead and what would help.
//
// CodeSelector is ChooseCode with memory, a state machine driven by the
// evidence of each moment and a clock: each member's rating is topped with
// a conservative prior worth some observations, so a handful of
// observations (or a newcomer) moves the estimate little; a new code must
// meet the target with headroom; the current code is kept until it no
// longer fits or misses the target (then it goes at once), or until a
// code cheaper by a margin has been there for a hold time. A cloud's
// first minute, when the evidence is thin and noisy, no longer swings the
// code from file to file.
//
// Random, the earlier policy (distinct peers with room, spread over one
// level of failure domain, random among equals), and Code, a fixed 4+2
// for clouds of six or more, remain for callers that know nothing of the
// peers yet.
package placement
