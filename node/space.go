package node

import (
	"math"
	"time"
)

// diskState is a node's disk: its ID and its entry in the host's registry
// (nil if registering failed: the node then counts its disk alone).
type diskState struct {
	id  DiskID
	reg *diskRegistry
	err error // why there is no registry entry
}

// diskRefresh is how often a node rewrites its registry entry with what
// it stores (only when that changed), so that its siblings' figures stay
// within a second of the truth.
const diskRefresh = time.Second

// openDisk registers the node on its disk. A failure is logged and
// leaves the node counting its disk alone, as if no other node shared it.
func (n *Node) openDisk() {
	d := &n.disk
	if d.id, d.err = diskOf(n.cfg.Dir); d.err == nil {
		d.reg, d.err = openDiskRegistry(n.cfg.DiskRegistry, n.CloudID(), d.id, n.ID().String(), n.diskEntry())
	}
	if d.err != nil {
		n.log.Warn("this node counts its disk as if no other node shared it", "err", d.err)
	}
}

func (n *Node) diskEntry() diskEntry {
	return diskEntry{Quota: n.store.Capacity(), Used: n.store.Used()}
}

func (n *Node) refreshDisk() {
	if r := n.disk.reg; r != nil {
		if err := r.update(n.diskEntry()); err != nil {
			n.log.Debug("disk registry", "err", err)
		}
	}
}

func (n *Node) closeDisk() error {
	if r := n.disk.reg; r != nil {
		return r.close()
	}
	return nil
}

// DiskStatus is what a node knows of the disk its store is on.
type DiskStatus struct {
	ID   string `json:"id"`   // its DiskID
	Size int64  `json:"size"` // the filesystem's size; 0 if it could not be measured
	Free int64  `json:"free"` // what is free there
	// Nodes counts the live nodes of this cloud whose stores are on it,
	// this one included; together they offer Capacity bytes, Avail of
	// them free, and store Stored. This node's share in gossip is 1/Nodes
	// of Capacity and Avail.
	Nodes    int   `json:"nodes"`
	Capacity int64 `json:"capacity"`
	Avail    int64 `json:"avail"`
	Stored   int64 `json:"stored"`
	// Alone, if set, says why the node cannot see the other nodes of its
	// disk, and so counts the disk as its own.
	Alone string `json:"alone,omitempty"`
}

// Disk returns what the node knows of its disk now: the filesystem's
// size and free space, and the live nodes of its cloud on it.
func (n *Node) Disk() DiskStatus {
	d := DiskStatus{ID: n.disk.id.String(), Nodes: 1}
	self := n.diskEntry()
	members := []diskEntry{self}
	if r := n.disk.reg; r != nil {
		if err := r.update(self); err != nil {
			n.log.Debug("disk registry", "err", err)
		}
		members = append(members, r.members()...)
	} else if n.disk.err != nil {
		d.Alone = n.disk.err.Error()
	}
	if size, free, err := diskSize(n.cfg.Dir); err == nil {
		d.Size, d.Free = size, free
	}
	d.Nodes = len(members)
	d.Capacity, d.Avail = diskRoom(d.Size, d.Free, members)
	for _, m := range members {
		d.Stored += m.Used
	}
	return d
}

// Space is what a node knows of its cloud's room, in raw bytes (shards,
// parity included).
type Space struct {
	Total  uint64 `json:"total"`  // the members' quotas, or their disks' size where they set none, each disk once
	Free   uint64 `json:"free"`   // what they can still take
	Stored uint64 `json:"stored"` // what they store
	// Members is the members the figures count: the size estimate, or the
	// nodes seen on this node's disk.
	Members float64 `json:"members"`
	// Estimated reports figures for the whole cloud: gossip's estimate,
	// or this node's own count when every member the estimate counts is
	// on its disk (as in `murmur up`), which is exact and current. False
	// before the first estimate: the figures are then what the node knows
	// itself, its disk and the members it sees there, itself included.
	Estimated bool `json:"estimated"`
}

// Space returns what the node knows of its cloud's room now, and of its
// own disk.
func (n *Node) Space() (Space, DiskStatus) {
	d := n.Disk()
	own := Space{
		Total: uint64(d.Capacity), Free: uint64(min(d.Avail, d.Capacity)), Stored: uint64(d.Stored),
		Members: float64(d.Nodes),
	}
	size, capacity, free, stored, ok := n.gossip.totals()
	if !ok {
		return own, d
	}
	if math.Round(size) <= float64(d.Nodes) {
		own.Estimated = true
		return own, d
	}
	return Space{
		Total: uint64(capacity), Free: uint64(min(free, capacity)), Stored: uint64(stored),
		Members: size, Estimated: true,
	}, d
}
