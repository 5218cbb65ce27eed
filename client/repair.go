package client

// RepairStatus is what a node's repairs see and did: node.RepairStatus on
// the wire.
type RepairStatus struct {
	Stripes int `json:"stripes"` // held or watched
	// Health counts the stripes by how many of their stored shards are not
	// healthy: Health[0] are whole (k+m), Health[1] one short, … down to k.
	Health   []int `json:"health"`
	BelowK   int   `json:"below_k"` // cannot be rebuilt until holders return
	Backlog  int   `json:"backlog"` // repairs waiting their turn
	Running  int   `json:"running"`
	Peers    int   `json:"peers"` // peers checked
	Down     int   `json:"down"`  // … whose last check failed
	Lost     int   `json:"lost"`  // … away longer than their grace
	Done     int   `json:"done"`  // repairs this node committed
	Failed   int   `json:"failed"`
	Aborted  int   `json:"aborted"`
	Rebuilt  int   `json:"rebuilt"`   // shards those repairs placed
	BytesIn  int64 `json:"bytes_in"`  // repair bytes fetched from peers
	BytesOut int64 `json:"bytes_out"` // repair bytes stored on peers
	Rate     int64 `json:"rate"`      // the cap, bytes/s; negative: none
}
