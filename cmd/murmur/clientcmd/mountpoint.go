package clientcmd

import (
	"errors"
	"fmt"
	"log/slog"

	"github.com/murmur-cloud/murmur/fs/mount"
)

// NonemptyUsage is the help of --nonempty, on murmur mount and murmur up.
const NonemptyUsage = "mount even on a folder with files in it (they are hidden until unmount)"

// PrepareMountpoint readies dir for a mount: a dead mount left there by a
// killed murmur is detached, with a log line; a live mount is refused, and
// so is a folder with files in it unless nonempty, naming the flag.
func PrepareMountpoint(dir string, nonempty bool, log *slog.Logger) error {
	err := mount.PrepareMountpoint(dir, nonempty, log)
	if errors.Is(err, mount.ErrNotEmpty) {
		return fmt.Errorf("%w; give --nonempty to mount there anyway", err)
	}
	return err
}
