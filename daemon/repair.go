package daemon

import (
	"github.com/murmur-cloud/murmur/client"
	"github.com/murmur-cloud/murmur/node"
)

// repairStatus is node.RepairStatus on the wire.
func repairStatus(r node.RepairStatus) client.RepairStatus { return client.RepairStatus(r) }
