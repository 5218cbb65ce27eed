package dashboard

import (
	"context"
	"time"

	"github.com/murmur-cloud/murmur/client"
)

// Source is where the dashboard's figures come from: the daemon's node.
type Source interface {
	// Snapshot is the node's state now. The dashboard fills in Traffic
	// and the members that went away.
	Snapshot(ctx context.Context) (*Snapshot, error)
	// Traffic is the bytes received and sent since the node started.
	Traffic() (in, out int64)
}

// Snapshot is what the page shows, as GET /api/snapshot sends it.
type Snapshot struct {
	Time  time.Time `json:"time"`
	Node  string    `json:"node"`  // this node's peer ID
	Cloud string    `json:"cloud"` // the cloud's ID
	Zone  string    `json:"zone,omitempty"`

	// Members are this node and the members it is connected to, then
	// (Away) those it was connected to since it started and is not now.
	Members []Member `json:"members"`
	// Up counts the members that are not away, this node included.
	Up int `json:"up"`

	// Gossip's estimates for the whole cloud.
	Size     float64 `json:"size"`     // members
	Capacity float64 `json:"capacity"` // bytes they offer
	Free     float64 `json:"free"`     // bytes they can still take
	Stored   float64 `json:"stored"`   // bytes they store
	// Space is the cloud's room as a drive sees it.
	Space client.Space `json:"space"`
	// Code is the erasure code the next file gets ("" if none can be
	// chosen yet; CodeError says why).
	Code      string `json:"code,omitempty"`
	CodeError string `json:"code_error,omitempty"`

	// This node's own store.
	StoredBytes int64 `json:"stored_bytes"`
	QuotaBytes  int64 `json:"quota_bytes"` // 0: no quota
	Files       int   `json:"files"`

	Repairs client.RepairStatus `json:"repairs"`
	Audits  client.AuditStatus  `json:"audits"`

	Drives  []Drive      `json:"drives"`
	Backups []Backup     `json:"backups"`
	Jobs    []client.Job `json:"jobs"`

	// Traffic is this node's bytes a second in and out over the last
	// minutes, oldest first, sampled by the dashboard.
	Traffic []Rate `json:"traffic"`
}

// Member is one member of the cloud as this node sees it.
type Member struct {
	ID          string            `json:"id"`
	Self        bool              `json:"self,omitempty"`
	Zone        string            `json:"zone,omitempty"`
	Reliability float64           `json:"reliability"`
	Evidence    float64           `json:"evidence"`
	Free        int64             `json:"free"` // bytes it can still take, as it gossips it; -1: not heard yet
	Stored      int64             `json:"stored,omitempty"`
	Audits      client.PeerAudits `json:"audits"`
	// Away is set for a member this node is no longer connected to,
	// since Since.
	Away  bool      `json:"away,omitempty"`
	Since time.Time `json:"since,omitzero"`
}

// Drive is a mounted drive.
type Drive struct {
	Name         string `json:"name"`
	Mountpoint   string `json:"mountpoint"`
	Writer       bool   `json:"writer"`
	PendingBytes int64  `json:"pending_bytes"`
	PendingFiles int    `json:"pending_files"`
	UploadDone   int64  `json:"upload_done"`
	UploadTotal  int64  `json:"upload_total"`
	LastError    string `json:"last_error,omitempty"`
}

// Backup is a backup scheduled on the node.
type Backup struct {
	Name      string    `json:"name"`
	Schedule  string    `json:"schedule"`
	Running   bool      `json:"running"`
	LastStart time.Time `json:"last_start,omitzero"`
	LastOK    time.Time `json:"last_ok,omitzero"`
	LastError string    `json:"last_error,omitempty"`
	Next      time.Time `json:"next,omitzero"`
}

// Rate is one point of the traffic chart: the bytes a second received
// and sent over the interval that ends at T.
type Rate struct {
	T   time.Time `json:"t"`
	In  float64   `json:"in"`
	Out float64   `json:"out"`
}
