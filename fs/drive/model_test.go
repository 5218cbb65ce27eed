package drive_test

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"sync"
	"testing"

	"github.com/murmur-cloud/murmur/crypt"
	"github.com/murmur-cloud/murmur/erasure"
	"github.com/murmur-cloud/murmur/fs"
	"github.com/murmur-cloud/murmur/fs/cloudtest"
	"github.com/murmur-cloud/murmur/fs/drive"
	"github.com/murmur-cloud/murmur/fs/fstest"
	"github.com/murmur-cloud/murmur/fs/state"
	"github.com/murmur-cloud/murmur/store"
)

var (
	longModel = flag.Bool("long", false, "run the model test over the drive long: 20,000 steps per seed, bursts of 4,000 files of 16 KiB")
	modelSeed = flag.Uint64("seed", 0, "run the model test over the drive with this seed only")
)

// TestModelOnDrive runs the randomized model test (fs/fstest) over a real
// drive: its state directory's journal and cache files, an in-memory
// cloud, and among the steps flushes, fsyncs, commits, bursts of files
// past what one badger transaction took, crashes — the mount process
// dying at a random point, or at a random call of a commit to the cloud,
// and the drive reopened on the state directory it left — and faults of
// the cloud at seeded points: a put, fetch, lookup or publish failing, a
// put's or a publish's answer lost, during a commit or a reopen. After
// every crash the tree must be the last durable point's and take changes,
// and no fault may make a mount take its own commits for another's.
//
//	go test ./fs/drive/ -run ModelOnDrive -long            # the long form
//	go test ./fs/drive/ -run ModelOnDrive -seed 7 -v       # one seed
func TestModelOnDrive(t *testing.T) {
	steps, burst := 1500, 800
	seeds := []uint64{1, 2, 3}
	if testing.Short() {
		steps, seeds = 500, seeds[:1]
	}
	if *longModel {
		steps, burst = 20_000, 4000
	}
	if *modelSeed != 0 {
		seeds = []uint64{*modelSeed}
	}
	for _, seed := range seeds {
		t.Run(fmt.Sprint("seed", seed), func(t *testing.T) {
			env := newModelDrive(t)
			fstest.Run(t, env, fstest.Options{Seed: seed, Steps: steps, Big: 3 * state.InlineMax, Burst: burst, BurstSize: 16 << 10})
			env.d.Close(context.Background())
		})
	}
}

// modelDrive is a drive for the model: one cloud, and a state directory
// that each crash replaces by the copy it left.
type modelDrive struct {
	t      *testing.T
	e      *driveEnv
	cloud  *crashCloud
	faults *cloudtest.Faulty
	d      *drive.Drive
	dir    string
	disk   *disk // what a crash of the machine leaves of dir
}

func newModelDrive(t *testing.T) *modelDrive {
	e := newDriveEnv(t)
	f := cloudtest.NewFaulty(e.cloud)
	c := &crashCloud{Cloud: f}
	e.cloud = c
	m := &modelDrive{t: t, e: e, cloud: c, faults: f, dir: t.TempDir()}
	m.disk = newDisk(t, m.dir)
	m.d = e.openSynced(m.dir, m.disk)
	return m
}

// reopen mounts the drive on dir, whose disk is k.
func (m *modelDrive) reopen(dir string, k *disk) error {
	d, err := drive.OpenSynced(context.Background(), m.e.config(dir), k.synced)
	if err != nil {
		return err
	}
	m.d, m.dir, m.disk = d, dir, k
	return nil
}

// MachineCrash crashes the machine: the state directory keeps what was
// synced of each file, nothing else.
func (m *modelDrive) MachineCrash() error {
	left := m.disk.crash()
	m.d.Abandon()
	if err := m.reopen(left, m.disk.moved(left)); err != nil { // what the disk kept is synced
		return fmt.Errorf("reopen: %w", err)
	}
	return nil
}

func (m *modelDrive) Tree() *fs.Tree { return m.d.Tree() }
func (m *modelDrive) Flush() error   { return m.d.FlushState() }
func (m *modelDrive) Commit() error  { return m.d.Commit(context.Background()) }

func (m *modelDrive) Writable() bool {
	return m.d.Status().Writer && !m.d.Tree().ReadOnly()
}

var errCrashed = errors.New("the mount process died here")

func (m *modelDrive) Crash(inCommit bool, call int, after bool) (bool, error) {
	var left string
	var k *disk
	if inCommit {
		m.cloud.arm(call, after, func() {
			left = crashCopy(m.t, m.dir)
			k = m.disk.moved(left)
		})
		err := m.d.Commit(context.Background())
		m.cloud.disarm()
		if left == "" {
			return false, err // the commit made fewer calls, and finished
		}
		if !errors.Is(err, errCrashed) {
			return false, fmt.Errorf("a commit that crashed returned %v", err)
		}
	} else {
		left = crashCopy(m.t, m.dir)
		k = m.disk.moved(left)
	}
	m.d.Abandon()
	if err := m.reopen(left, k); err != nil {
		return true, fmt.Errorf("reopen: %w", err)
	}
	return true, nil
}

// crashCloud is a cloud whose calls that change it can be made to fail
// from one on, as if the process making them died there: before that
// call is made, or just after it returned.
type crashCloud struct {
	drive.Cloud
	mu    sync.Mutex
	at    int // the call to crash at (from 1); 0: never
	after bool
	calls int
	dead  bool
	crash func()
}

func (c *crashCloud) arm(call int, after bool, crash func()) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.at, c.after, c.calls, c.dead, c.crash = call, after, 0, false, crash
}

func (c *crashCloud) disarm() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.at, c.dead, c.crash = 0, false, nil
}

// call runs do unless the process is dead by now.
func (c *crashCloud) call(do func() error) error {
	c.mu.Lock()
	if c.dead {
		c.mu.Unlock()
		return errCrashed
	}
	c.calls++
	here := c.at > 0 && c.calls == c.at
	if here && !c.after {
		c.dead = true
		c.crash()
		c.mu.Unlock()
		return errCrashed
	}
	c.mu.Unlock()
	err := do()
	if here {
		c.mu.Lock()
		c.dead = true
		c.crash()
		c.mu.Unlock()
		return errCrashed
	}
	return err
}

func (c *crashCloud) Put(ctx context.Context, id erasure.ShardID, b []byte) error {
	return c.call(func() error { return c.Cloud.Put(ctx, id, b) })
}

func (c *crashCloud) PutStripe(ctx context.Context, d *erasure.Descriptor, s [][]byte) ([]store.Holder, error) {
	var h []store.Holder
	err := c.call(func() (err error) {
		h, err = c.Cloud.PutStripe(ctx, d, s)
		return err
	})
	return h, err
}

func (c *crashCloud) PublishRoot(ctx context.Context, keys *crypt.Keys, seq uint64, value []byte) error {
	return c.call(func() error { return c.Cloud.PublishRoot(ctx, keys, seq, value) })
}

// faultKinds are the faults FaultyCommit injects: a call failing, or made
// and its answer lost.
var faultKinds = []cloudtest.Fault{
	{Op: cloudtest.OpPut}, {Op: cloudtest.OpPut, Lost: true},
	{Op: cloudtest.OpPublish}, {Op: cloudtest.OpPublish, Lost: true},
	{Op: cloudtest.OpLookup}, {Op: cloudtest.OpGet, Times: 3},
}

func (m *modelDrive) FaultyCommit(fault uint64) (bool, error) {
	ft := faultKinds[fault%uint64(len(faultKinds))]
	ft.Skip = int(fault / uint64(len(faultKinds)) % 4)
	ft.Times = max(ft.Times, 1)
	hits := m.faults.Hits()
	m.faults.Inject(ft)
	err := m.d.Commit(context.Background())
	m.faults.Clear()
	return m.faults.Hits() > hits, err
}

func (m *modelDrive) FaultyClose(fault uint64) (bool, error) {
	ft := cloudtest.Fault{Op: cloudtest.OpPut, Skip: int(fault % 4), Times: -1}
	switch fault / 4 % 3 {
	case 1:
		ft = cloudtest.Fault{Op: cloudtest.OpPublish, Times: 1, Lost: true}
	case 2:
		ft = cloudtest.Fault{Op: cloudtest.OpPublish, Times: 1}
	}
	hits := m.faults.Hits()
	m.faults.Inject(ft)
	err := m.d.Close(context.Background())
	m.faults.Clear()
	hit := m.faults.Hits() > hits
	if err != nil && !hit {
		return false, fmt.Errorf("close: %w", err)
	}
	if err := m.reopen(m.dir, m.disk); err != nil {
		return hit, fmt.Errorf("mount again: %w", err)
	}
	return hit, nil
}

func (m *modelDrive) FaultyReopen(fault uint64) error {
	left := crashCopy(m.t, m.dir)
	k := m.disk.moved(left)
	m.d.Abandon()
	ft := cloudtest.Fault{Op: cloudtest.OpGet, Skip: int(fault % 4), Times: 3}
	if fault/4%3 == 0 {
		ft = cloudtest.Fault{Op: cloudtest.OpLookup, Times: 1}
	}
	m.faults.Inject(ft)
	err := m.reopen(left, k)
	m.faults.Clear()
	if err != nil {
		// Refused for a cloud it could not read: nothing changed, and
		// the open is made again once the cloud answers.
		err = m.reopen(left, k)
	}
	if err != nil {
		return fmt.Errorf("reopen after the cloud's faults: %w", err)
	}
	return nil
}

func (m *modelDrive) Another() (*fs.Tree, func(), error) {
	cfg := m.e.config(m.t.TempDir())
	cfg.ReadOnly = true
	d, err := drive.Open(context.Background(), cfg)
	if err != nil {
		return nil, nil, err
	}
	return d.Tree(), func() { d.Close(context.Background()) }, nil
}
