package main

import (
	"context"
	"flag"
	"path/filepath"

	"github.com/murmur-cloud/murmur/cmd/murmur/clientcmd"
	"github.com/murmur-cloud/murmur/daemon"
)

// dashboardFlag declares --dashboard of murmur node and murmur up.
func dashboardFlag(fs *flag.FlagSet, addr *string) {
	fs.StringVar(addr, "dashboard", "127.0.0.1:0", "loopback address of the web dashboard (port 0: any free one; off: none); murmur dashboard prints its URL")
}

// startDashboard serves the dashboard of the daemon srv, of the node or
// cloud in dir (which keeps its token), unless addr is off; it returns
// its URL.
func startDashboard(ctx context.Context, srv *daemon.Server, dir, addr string) (string, error) {
	if addr == "off" || addr == "" {
		return "", nil
	}
	return srv.StartDashboard(ctx, daemon.DashboardConfig{
		Addr: addr, TokenFile: filepath.Join(dir, "dashboard.token"),
		Drives: clientcmd.DashboardDrives(dir), Backups: clientcmd.DashboardBackups(dir),
	})
}
