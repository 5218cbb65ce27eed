// Package placement chooses, for each stripe, the k+m distinct peers that
// will hold its shards: the most reliable by gossip estimate, spread across
// failure domains (host, subnet, an operator-given zone), with free
// capacity, and randomised among near-equals so no peer becomes a hot spot.
//
// It sits between the pipeline, which produces stripes, and the node layer,
// which moves shards to peers. It holds no code yet: the node issue adds a
// simple policy behind the Placer interface, the gossip issue the real one.
package placement
