package drive

import (
	"context"
	"io"
	"sync"
	"time"

	"github.com/murmur-cloud/murmur/fs"
	"github.com/murmur-cloud/murmur/pipeline"
)

// packedCacheBytes bounds the readers' shared cache of packed shards.
const packedCacheBytes = 32 << 20

// remote is the drive's side of the cloud for reads: the pipeline that
// reads file contents, with a few readers kept open (each with its cache
// of opened chunks) and a cache of packed shards they share, and the
// cloud's space. It is the state directory's
// Source.
type remote struct {
	cfg   pipeline.Config
	cloud Cloud

	mu      sync.Mutex
	readers map[fs.Ino]*openReader
	tick    int64
	packed  *pipeline.PackedCache // shared by the readers

	spaceMu sync.Mutex
	spaceAt time.Time
	sp      CloudSpace // scaled
	spaceOK bool
}

type openReader struct {
	m    *pipeline.Manifest
	r    *pipeline.Reader
	used int64
}

// maxReaders bounds the pipeline readers kept open, each with its cache
// of opened chunks (readerCache bytes).
const (
	maxReaders  = 4
	readerCache = 64 << 20
)

func newRemote(cfg pipeline.Config, cloud Cloud) *remote {
	cfg.CacheBytes = readerCache
	return &remote{cfg: cfg, cloud: cloud, readers: map[fs.Ino]*openReader{}, packed: pipeline.NewPackedCache(packedCacheBytes)}
}

// ReadBase reads len(p) bytes of m, the base of inode ino, at off.
func (r *remote) ReadBase(ctx context.Context, ino fs.Ino, m *pipeline.Manifest, p []byte, off int64) error {
	rd, err := r.reader(ino, m)
	if err != nil {
		return err
	}
	n, err := rd.ReadAtContext(ctx, p, off)
	if err == io.EOF && n == len(p) {
		err = nil
	}
	return err
}

// reader returns a pipeline reader of m, the base of inode ino.
func (r *remote) reader(ino fs.Ino, m *pipeline.Manifest) (*pipeline.Reader, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.tick++
	if o := r.readers[ino]; o != nil && o.m == m {
		o.used = r.tick
		return o.r, nil
	}
	pr, err := pipeline.NewReader(context.Background(), r.cfg, r.packed.Getter(r.cloud, m), m)
	if err != nil {
		return nil, err
	}
	if len(r.readers) >= maxReaders {
		var oldest fs.Ino
		for i, o := range r.readers {
			if oldest == 0 || o.used < r.readers[oldest].used {
				oldest = i
			}
		}
		delete(r.readers, oldest)
	}
	r.readers[ino] = &openReader{m: m, r: pr, used: r.tick}
	return pr, nil
}

// Forget drops the reader of ino.
func (r *remote) Forget(ino fs.Ino) {
	r.mu.Lock()
	defer r.mu.Unlock()
	delete(r.readers, ino)
}

// space returns the cloud's room scaled by the code's overhead k/(k+m):
// usable capacity, free bytes and stored bytes as a drive's contents.
// It asks the cloud at most every 10 s once the figures are gossip's
// estimate (every second before, while they still grow with the cloud)
// and waits at most a second for it.
func (r *remote) space() (CloudSpace, bool) {
	r.spaceMu.Lock()
	defer r.spaceMu.Unlock()
	every := time.Second
	if r.spaceOK && r.sp.Estimated {
		every = 10 * time.Second
	}
	if time.Since(r.spaceAt) > every {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		sp, err := r.cloud.Space(ctx)
		cancel()
		r.spaceAt = time.Now()
		if err == nil {
			k, m := uint64(max(r.cfg.K, 1)), uint64(max(r.cfg.M, 0))
			if r.cfg.K == 0 {
				k, m = pipeline.DefaultK, pipeline.DefaultM
			}
			scale := func(v uint64) uint64 { return v / (k + m) * k }
			r.sp = CloudSpace{Total: scale(sp.Total), Free: scale(min(sp.Free, sp.Total)), Stored: scale(sp.Stored), Estimated: sp.Estimated}
			r.spaceOK = true
		}
	}
	return r.sp, r.spaceOK
}
