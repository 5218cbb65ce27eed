// Package audit decides when this node checks that its co-holders still
// keep their shards, and its own shards for bit rot, and what the answers
// mean. It is a state machine driven by a clock and by messages: it sends
// nothing and reads no shard. Node is its driver over libp2p, and tests
// drive it over simulated days with a fake clock.
//
// For every stripe it holds a shard of (Hold, with the stripe's record:
// package stripe), an Auditor audits the shards of the same stripe held
// elsewhere: the holder of shard i audits the Auditors shards that follow
// i in the stripe (cyclically, skipping empty slots), at every holder the
// record's hints name, so that each shard has Auditors auditors and no
// stripe costs (k+m)² audits. Each audit target (a shard at a holder) is
// challenged at a random time, unannounced: the first within a Period of
// Hold, each next one a random gap of (1−Jitter)·(Period−Deadline) to
// Period−Deadline after the last, so that even when the answer takes the
// whole Deadline each target is audited at least once per Period. A
// challenge asks for Leaves random leaves and carries a random nonce
// (stripe/proof). Challenges to one peer go together: when one is due,
// the batch takes that peer's others due within BatchWindow, at most
// MaxBatch of them, and a peer has one batch outstanding at a time.
//
// Answers (Answer) and deadlines (Tick) become Results: Passed, Failed
// (the proof does not verify against the record's root: integrity
// evidence), Missing (the holder says it does not have the shard) or
// TimedOut (no answer by the deadline: availability evidence). A Result's
// Outcome is what the node feeds to gossip.Reputation, so that a peer that
// drops or corrupts data falls out of placement; Failed and Missing
// shards go to the repair queue (Result.Repair).
//
// The Auditor also schedules the scrub of this node's own shards: each
// is re-hashed against its ID once per ScrubPeriod, one at a time, and a
// scrub of n bytes is not followed by the next before n/ScrubRate seconds,
// so scrubbing reads at most ScrubRate bytes per second. Tick hands out a
// Scrub; the node reads and hashes the shard and reports with Scrubbed;
// corrupt and missing shards come back as Results for the repair queue.
//
// Randomness comes from Config.Seed (ChaCha8), so runs repeat exactly. An
// Auditor is not safe for concurrent use.
package audit
