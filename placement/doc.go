// Package placement chooses, for each stripe, the distinct peers that will
// hold its shards. It sees peers as Candidates (an opaque ID, free space,
// a failure domain) and knows nothing of the network, so the same code
// runs in a node and in the simulator.
//
// Today's policy, Random, picks distinct peers with room for the shard,
// spreading the shards of a stripe over as many failure domains as it
// can, and randomises among the rest so no peer becomes a hot spot. The
// gossip issue replaces it with one that ranks peers by the reliability
// their peers observe.
package placement
