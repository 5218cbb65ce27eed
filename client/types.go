package client

import (
	"fmt"
	"time"

	"github.com/murmur-cloud/murmur/erasure"
	"github.com/murmur-cloud/murmur/placement"
)

// The API's wire types: the daemon fills them, the client decodes them.

// Status is the answer to GET /v1/status.
type Status struct {
	ID          string `json:"id"`
	Cloud       string `json:"cloud"`
	Peers       int    `json:"peers"`
	StoredBytes int64  `json:"stored_bytes"`
	Capacity    int64  `json:"capacity"`
	Files       int    `json:"files"`
	// Reachability is the node's as AutoNAT found it: public, private or
	// unknown (behind a home router: private, and it uses a relay).
	Reachability string `json:"reachability,omitempty"`
	// ComputeSlots is the compute jobs the node offers to run at once (0:
	// none) and ComputeMemory the bytes one may take.
	ComputeSlots  int   `json:"compute_slots,omitempty"`
	ComputeMemory int64 `json:"compute_memory,omitempty"`

	Leases LeaseStatus `json:"leases"` // of the shards of the files stored through this node
	// Catalog is the sync of the catalog of files with the cloud's copy.
	Catalog CatalogSync `json:"catalog"`

	Gossip GossipStatus `json:"gossip"`
	// Space is the cloud's room as a drive's statfs shows it, before the
	// code's overhead is taken out; Disk is the node's own disk.
	Space     Space                 `json:"space"`
	Disk      DiskStatus            `json:"disk"`
	Code      *placement.CodeChoice `json:"code,omitempty"` // for the next file; nil when none is possible
	CodeError string                `json:"code_error,omitempty"`
	// CodeState is how the daemon came to Code: the code ChooseCode alone
	// would take now, whether hysteresis holds it back and until when.
	CodeState *placement.CodeState `json:"code_state,omitempty"`
	Providers AnnounceStats        `json:"providers"`
	// Audits is what this node's audits of its co-holders and scrubs of
	// its own shards found.
	Audits AuditStatus `json:"audits"`
	// Repairs is what this node's repairs of the stripes it holds see and
	// did.
	Repairs RepairStatus `json:"repairs"`
}

// AuditStatus counts audit and scrub results since the node started:
// node.AuditStatus on the wire, without the per-peer records (those are
// in GET /v1/peers).
type AuditStatus struct {
	Stripes      int     `json:"stripes"`       // stripes this node holds shards of
	Targets      int     `json:"targets"`       // shards at peers it audits
	Passed       int64   `json:"passed"`        // audits a peer passed
	Failed       int64   `json:"failed"`        // audits whose proof did not verify
	Missing      int64   `json:"missing"`       // audits the peer said it did not have the shard
	TimedOut     int64   `json:"timed_out"`     // audits not answered by the deadline
	Scrubbed     int64   `json:"scrubbed"`      // own shards re-hashed
	ScrubCorrupt int64   `json:"scrub_corrupt"` // of them, not matching their ID
	ScrubMissing int64   `json:"scrub_missing"` // of them, gone or short
	ScrubLag     float64 `json:"scrub_lag_seconds"`
	RepairQueue  int     `json:"repair_queue"` // repair candidates waiting for the repair executor
}

// PeerAudits is a node's audit record of one peer: node.PeerAudits on
// the wire.
type PeerAudits struct {
	Passed   int64     `json:"passed"`
	Failed   int64     `json:"failed"`
	Missing  int64     `json:"missing"`
	TimedOut int64     `json:"timed_out"`
	Last     time.Time `json:"last,omitzero"`
}

// GossipStatus is what gossip has taught the node: node.GossipStatus on
// the wire.
type GossipStatus struct {
	Cycles      int64        `json:"cycles"`
	Epoch       uint64       `json:"epoch"`
	Size        float64      `json:"size"`            // estimated members, from the last completed epoch
	Instances   int          `json:"instances"`       // counting instances it is the median of
	Capacity    float64      `json:"capacity"`        // total bytes the members offer
	Free        float64      `json:"free"`            // total bytes they can still take
	Stored      float64      `json:"stored"`          // total bytes they store
	View        int          `json:"view"`            // links in the Cyclon view
	Rank        float64      `json:"rank"`            // this node's rank by capacity, 0 lowest
	Slice       int          `json:"slice"`           // of 10, by capacity
	BytesPerCyc float64      `json:"bytes_per_cycle"` // gossip traffic, sent and received
	Peers       []PeerStatus `json:"peers"`
}

// PeerStatus is the node's view of one member: node.PeerStatus on the
// wire.
type PeerStatus struct {
	ID          string  `json:"id"`
	Zone        string  `json:"zone,omitempty"`
	Reliability float64 `json:"reliability"`
	Evidence    float64 `json:"evidence"`
	Free        int64   `json:"free"`
	Slots       int     `json:"slots,omitempty"`      // compute slots it offers
	SlotsFree   int     `json:"slots_free,omitempty"` // of which free, by its last descriptor
}

// AnnounceStats describes the node's provider records: node.AnnounceStats
// on the wire.
type AnnounceStats struct {
	Queued    int   `json:"queued"`    // fresh shards waiting to be announced
	Dropped   int64 `json:"dropped"`   // fresh shards not queued, the queue being full (the next sweep announces them)
	Announced int64 `json:"announced"` // fresh shards announced
	Records   int64 `json:"records"`   // provider records sent: one per shard per member it goes to
	Failed    int64 `json:"failed"`    // provider records that could not be sent
	Walks     int64 `json:"walks"`     // DHT walks (closest-peer lookups) made to explore the swarm
	Peers     int   `json:"peers"`     // members in the latest view of the swarm

	Sweeps      int64         `json:"sweeps"`       // full sweeps of the store done
	Catchups    int64         `json:"catchups"`     // passes for members that lacked our records
	LastSweep   time.Time     `json:"last_sweep"`   // when the latest full sweep started; zero: none yet
	SweepShards int           `json:"sweep_shards"` // shards it announced
	SweepTook   time.Duration `json:"sweep_took"`   // how long it took
	NextSweep   time.Time     `json:"next_sweep"`   // when the next is due; zero: once the node has peers
}

// CatalogSync reports the last sync of the node's catalog of files with
// its copy in the cloud, which nodes holding the same catalog key share.
type CatalogSync struct {
	Last  time.Time `json:"last,omitzero"`   // zero: not yet
	Seq   uint64    `json:"seq"`             // of the cloud's newest record of the catalog seen
	Error string    `json:"error,omitempty"` // of the last sync, if it failed
}

// LeaseStatus reports the last renewal of the catalog's leases: the
// answer to POST /v1/leases/renew, and part of Status.
type LeaseStatus struct {
	Last    time.Time `json:"last,omitzero"`
	Shards  int       `json:"shards"`  // shards referenced by the catalog
	Renewed int       `json:"renewed"` // leases renewed at their holders
	Missing int       `json:"missing"` // shards a holder no longer has
	Failed  int       `json:"failed"`  // shards whose holder could not be reached
	Error   string    `json:"error,omitempty"`
}

// Peer is one entry of GET /v1/peers.
type Peer struct {
	ID    string   `json:"id"`
	Addrs []string `json:"addrs"`
	// Conn is "direct" or "relayed" (through a member's circuit relay).
	Conn string `json:"conn,omitempty"`
	// InBytes and OutBytes are the bytes received from and sent to the
	// peer since the node started.
	InBytes  int64 `json:"in_bytes"`
	OutBytes int64 `json:"out_bytes"`
	// Reliability and Evidence are the node's rating of the peer
	// (gossip's reputation); Audits its record of the peer's audits.
	Reliability float64    `json:"reliability"`
	Evidence    float64    `json:"evidence"`
	Audits      PeerAudits `json:"audits"`
	// Slots and SlotsFree are the compute slots the peer offers, and of
	// them free, as it last gossiped them; 0 when it runs no jobs or has
	// not said.
	Slots     int `json:"slots,omitempty"`
	SlotsFree int `json:"slots_free,omitempty"`
}

// Entry is one file in the node's catalog: the answer to a put, and an
// entry of GET /v1/files.
type Entry struct {
	ID      string    `json:"id"`
	Name    string    `json:"name"`
	Size    int64     `json:"size"`
	Created time.Time `json:"created"`
	// K and M are the data and parity shards of the file's stripes; 0 in
	// an entry stored before they were recorded.
	K        int    `json:"k,omitempty"`
	M        int    `json:"m,omitempty"`
	Manifest []byte `json:"manifest,omitempty"` // sealed; never sent to clients
}

// Code names the file's code as `murmur ls` shows it, k4m2, or "-" when
// the entry does not record it.
func (e Entry) Code() string {
	if e.K <= 0 || e.M < 0 {
		return "-"
	}
	return fmt.Sprintf("k%dm%d", e.K, e.M)
}

// Removed is the answer to DELETE /v1/files/{id}.
type Removed struct {
	ID       string `json:"id"`
	Released int    `json:"released"` // shard leases given up
	Failed   int    `json:"failed"`   // shards whose holder was not reached: they expire with their leases
}

// The drive's endpoints' wire types. Shards and root records travel as
// raw bytes, with their lengths in Content-Length; the rest as JSON.
// Holders, which are binary (peer IDs), travel as unpadded base64url in a
// query and as base64 in JSON.

// MaxRenewBatch bounds the shards of one renew request; the client sends
// longer lists in several.
const MaxRenewBatch = 1 << 14

// RenewRef is one shard of a renew request, POST /v1/drive/renew.
type RenewRef struct {
	ID     erasure.ShardID `json:"id"`
	Holder []byte          `json:"holder,omitempty"`
}

// StripePut is the answer to a stripe put, POST /v1/drive/stripes.
type StripePut struct {
	Holders [][]byte `json:"holders"` // one per shard of the stripe; empty for an empty slot
}

// Space is the cloud's room in raw bytes, parity included: the answer to
// GET /v1/drive/space, and part of Status (node.Space on the wire). A
// daemon from before stored, members and estimated sends only total and
// free.
type Space struct {
	Total  uint64 `json:"total"`  // the members' quotas, or their disks' size where they set none, each disk once
	Free   uint64 `json:"free"`   // what they can still take
	Stored uint64 `json:"stored"` // what they store
	// Members is the members counted: the size estimate, or the nodes the
	// daemon's node sees on its own disk.
	Members float64 `json:"members"`
	// Estimated is set when the figures are for the whole cloud; false
	// before gossip's first estimate, when they are what the daemon's node
	// knows itself (its disk or quota, and the members it sees there).
	Estimated bool `json:"estimated"`
}

// DiskStatus is what the node knows of the disk its store is on, part of
// Status: node.DiskStatus on the wire.
type DiskStatus struct {
	ID   string `json:"id"`
	Size int64  `json:"size"` // the filesystem's size; 0 if it could not be measured
	Free int64  `json:"free"` // what is free there
	// Nodes counts the live nodes of this cloud whose stores are on the
	// disk, this one included; together they offer Capacity bytes, Avail
	// of them free, and store Stored, and each counts 1/Nodes of it.
	Nodes    int   `json:"nodes"`
	Capacity int64 `json:"capacity"`
	Avail    int64 `json:"avail"`
	Stored   int64 `json:"stored"`
	// Alone, if set, says why the node cannot see the other nodes of its
	// disk, and so counts the disk as its own.
	Alone string `json:"alone,omitempty"`
}
