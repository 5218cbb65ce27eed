// Package forget decides which backup snapshots a retention policy keeps.
//
// It is the decision behind `murmur forget --keep-*` and nothing else: no
// storage, no clock, no flags. [Apply] groups snapshots by host and paths
// (restic's default --group-by host,paths), sorts each group newest first
// (ties in time by ascending ID) and walks it once. Each count rule (last,
// hourly, daily, weekly, monthly, yearly) maps a snapshot to a bucket value:
// a running number for last, and the local wall-clock year+month+day+hour,
// year+month+day, ISO year+week, year+month or year for the others, in the
// time zone passed to Apply. A rule keeps a snapshot when its bucket differs
// from the bucket of the last snapshot that rule kept, until the rule's count
// is used up; a count of -1 is never used up. So a rule keeps the newest
// snapshot of each of its newest N buckets. As in restic, a rule that still
// has count left when it reaches the oldest snapshot of the group keeps that
// snapshot too, even if its bucket is already kept: this maximises the history
// kept while counts are left, and means -1 keeps one snapshot per bucket plus
// the group's oldest. Within keeps every snapshot strictly younger than
// Within relative to the newest snapshot of the group, and Tags keeps every
// snapshot carrying any of the listed tags. A snapshot is kept if any rule
// keeps it; its reasons list every rule that did, in the order of the Policy
// fields.
//
// The semantics follow restic's internal/restic/snapshot_policy.go
// (ApplyPolicy), with these differences:
//
//   - Within is a time.Duration measured from the newest snapshot of the
//     group. restic measures from the newest snapshot that is not in the
//     future (it reads the clock), and its duration is calendar-based
//     (years, months, days, hours via AddDate), so "1d" across a DST change
//     is 23 or 25 hours there and exactly 24h here.
//   - Snapshots with the same time are ordered by ascending ID (restic keeps
//     them in input order), so the result does not depend on input order.
//   - Buckets are computed in the given zone; restic uses each snapshot's
//     stored time zone.
//   - A tag rule is a single tag (restic's --keep-tag a,b means a AND b).
//   - Reasons are ordered last, hourly, daily, weekly, monthly, yearly,
//     within, tags (restic lists tags and within first) and spelled
//     "tag T" (restic: "has tags [T]").
//   - restic's --keep-within-{hourly,daily,...} rules are not implemented.
//   - Empty is true when no rule can keep anything, so a policy holding only
//     invalid negative counts is empty too (restic compares with the zero
//     value). As in restic, Apply with an empty policy keeps every snapshot
//     ("policy is empty"); the CLI must refuse such a policy instead.
//
// Apply is a pure function: it does not modify its input, and the same
// snapshots in any order give the same groups.
package forget
