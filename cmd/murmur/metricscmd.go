package main

import (
	"context"
	"flag"
	"log/slog"

	"github.com/murmur-cloud/murmur/cmd/murmur/clientcmd"
	"github.com/murmur-cloud/murmur/daemon"
	"github.com/murmur-cloud/murmur/metrics"
)

// metricsFlag declares --metrics of murmur node and murmur up.
func metricsFlag(fs *flag.FlagSet, addr *string) {
	fs.StringVar(addr, "metrics", "", "serve Prometheus metrics on http://ADDR/metrics (:PORT binds 127.0.0.1; another host only when given, e.g. 0.0.0.0:9464; default: off)")
}

// newMetrics returns the process's metrics registry, or nil when addr is
// empty or off.
func newMetrics(addr string) *metrics.Registry {
	if addr == "" || addr == "off" {
		return nil
	}
	return metrics.New()
}

// daemonMetrics is the metrics source of the daemon srv of the node or
// cloud in dir, with its drives and backups.
func daemonMetrics(srv *daemon.Server, dir string) metrics.Source {
	return srv.MetricsSource(daemon.MetricsConfig{Drives: clientcmd.DashboardDrives(dir), Backups: clientcmd.DashboardBackups(dir)})
}

// startMetrics serves reg on addr until ctx ends and returns the URL of
// /metrics ("" when reg is nil). An address that is not loopback is
// logged as such: anyone who reaches it reads the figures.
func startMetrics(ctx context.Context, reg *metrics.Registry, addr string, log *slog.Logger) (string, error) {
	if reg == nil {
		return "", nil
	}
	ln, public, err := metrics.Listen(addr)
	if err != nil {
		return "", err
	}
	if public {
		log.Warn("serving metrics on a non-loopback address: whoever reaches it can read them", "addr", ln.Addr().String())
	}
	go func() {
		if err := metrics.Serve(ctx, ln, reg.Handler()); err != nil {
			log.Error("metrics", "err", err)
		}
	}()
	return "http://" + ln.Addr().String() + "/metrics", nil
}
