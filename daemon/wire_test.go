package daemon_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"path/filepath"
	"reflect"
	"testing"
	"time"

	"github.com/murmur-cloud/murmur/client"
	"github.com/murmur-cloud/murmur/daemon"
	"github.com/murmur-cloud/murmur/node"
	"github.com/murmur-cloud/murmur/store"
)

// fill sets every field of the struct v points to, and of the structs in
// it, to a value of its own; a slice gets two elements.
func fill(t *testing.T, v reflect.Value, n *int) {
	t.Helper()
	*n++
	switch v.Kind() {
	case reflect.Pointer:
		v.Set(reflect.New(v.Type().Elem()))
		fill(t, v.Elem(), n)
	case reflect.Struct:
		if v.Type() == reflect.TypeFor[time.Time]() {
			v.Set(reflect.ValueOf(time.Unix(int64(*n)*1000, int64(*n)).UTC()))
			return
		}
		for i := range v.NumField() {
			fill(t, v.Field(i), n)
		}
	case reflect.Slice:
		v.Set(reflect.MakeSlice(v.Type(), 2, 2))
		for i := range 2 {
			fill(t, v.Index(i), n)
		}
	case reflect.String:
		v.SetString(fmt.Sprint("s", *n))
	case reflect.Int, reflect.Int64:
		v.SetInt(int64(*n))
	case reflect.Uint64:
		v.SetUint(uint64(*n))
	case reflect.Bool:
		v.SetBool(true)
	case reflect.Float64:
		v.SetFloat(float64(*n) + 0.5)
	default:
		t.Fatalf("fill: no value for a %v", v.Type())
	}
}

// TestStatusOnTheWire: node's gossip status and provider statistics go
// out as the client's types with every field, under node's JSON names.
func TestStatusOnTheWire(t *testing.T) {
	var n int
	var g node.GossipStatus
	fill(t, reflect.ValueOf(&g).Elem(), &n)
	var a node.AnnounceStats
	fill(t, reflect.ValueOf(&a).Elem(), &n)
	var sp node.Space
	fill(t, reflect.ValueOf(&sp).Elem(), &n)
	var d node.DiskStatus
	fill(t, reflect.ValueOf(&d).Elem(), &n)
	for _, c := range []struct {
		name       string
		node, wire any
	}{
		{"gossip", g, daemon.GossipStatus(g)},
		{"gossip without peers", node.GossipStatus{Cycles: 3}, daemon.GossipStatus(node.GossipStatus{Cycles: 3})},
		{"providers", a, client.AnnounceStats(a)},
		{"space", sp, client.Space(sp)},
		{"disk", d, client.DiskStatus(d)},
	} {
		want, err := json.Marshal(c.node)
		if err != nil {
			t.Fatal(err)
		}
		got, err := json.Marshal(c.wire)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got, want) {
			t.Errorf("%s: sent as\n%s\nnode's is\n%s", c.name, got, want)
		}
	}
}

// TestNodeErrorsOnTheWire: node's sentinels, which the client cannot
// import, reach it as the client's of the same kind, with the message the
// daemon wrote; an error matching an earlier kind of the table as well is
// sent as that one.
func TestNodeErrorsOnTheWire(t *testing.T) {
	var sent error
	sock := filepath.Join(t.TempDir(), "murmur.sock")
	ln, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		daemon.WriteError(w, sent)
	})}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	c := client.New(sock)
	for _, tt := range []struct {
		node, want error
	}{
		{fmt.Errorf("get 0123 on peer: %w: out of workers", node.ErrBusy), client.ErrBusy},
		{fmt.Errorf("put 0123 on peer: %w: reset", node.ErrPeer), client.ErrPeer},
		{errors.Join(fmt.Errorf("get 0123: %w", store.ErrNotFound), node.ErrPeer), store.ErrNotFound},
	} {
		sent = tt.node
		_, err := c.Status(context.Background())
		if !errors.Is(err, tt.want) || err.Error() != tt.node.Error() {
			t.Errorf("%q came back as %v, want it matching %v", tt.node, err, tt.want)
		}
	}
	if client.ErrBusy.Error() != node.ErrBusy.Error() || client.ErrPeer.Error() != node.ErrPeer.Error() {
		t.Errorf("the client's sentinels %q, %q do not read as node's %q, %q", client.ErrBusy, client.ErrPeer, node.ErrBusy, node.ErrPeer)
	}
}
