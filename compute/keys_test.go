package compute_test

import (
	"bytes"
	"context"
	"errors"
	"testing"

	"github.com/murmur-cloud/murmur/compute"
	"github.com/murmur-cloud/murmur/crypt"
	"github.com/murmur-cloud/murmur/pipeline"
)

// TestKeyBroker: a key asked for waits until the client takes the request
// and answers it; the same nonce asked twice is one request; a keyed
// chunk's request carries its key; an answer to nothing is an error; a
// client's error reaches the asker; closing fails every wait, present and
// future, with ErrKeysGone.
func TestKeyBroker(t *testing.T) {
	ctx := context.Background()
	keys := crypt.NewMasterKey().Keys(crypt.NewDriveID())
	s := keys.Sealer(crypt.PurposeChunk)
	b := compute.NewKeyBroker()
	nonce := bytes.Repeat([]byte{7}, crypt.KeyNonceLen)
	type got struct {
		k   crypt.ObjectKey
		err error
	}
	res := make(chan got, 3)
	ask := func(c pipeline.ChunkRef, n []byte) {
		go func() {
			k, err := b.ChunkKey(ctx, c, n)
			res <- got{k, err}
		}()
	}
	ask(pipeline.ChunkRef{}, nonce)
	ask(pipeline.ChunkRef{}, nonce)
	var keyed pipeline.ChunkRef
	keyed.Key[0] = 9
	ask(keyed, nil)
	var reqs []compute.KeyRequest
	for len(reqs) < 2 {
		q, err := b.Next(ctx)
		if err != nil {
			t.Fatal(err)
		}
		reqs = append(reqs, q...)
	}
	var plainSeq, keyedSeq uint64
	for _, r := range reqs {
		switch {
		case bytes.Equal(r.Nonce, nonce):
			plainSeq = r.Seq
		case r.Nonce == nil && r.Keyed == keyed.Key:
			keyedSeq = r.Seq
		default:
			t.Fatalf("request %+v", r)
		}
	}
	if plainSeq == 0 || keyedSeq == 0 {
		t.Fatalf("requests %+v", reqs)
	}
	want, _ := s.ObjectKey(nonce)
	if err := b.Answer(plainSeq, want, nil); err != nil {
		t.Fatal(err)
	}
	if err := b.Answer(plainSeq, want, nil); err == nil {
		t.Fatal("a request answered twice")
	}
	if err := b.Answer(999, want, nil); err == nil {
		t.Fatal("an answer to nothing asked")
	}
	b.Answer(keyedSeq, crypt.ObjectKey{}, errors.New("no such key"))
	var oks, fails int
	for range 3 {
		g := <-res
		switch {
		case g.err == nil && g.k == want:
			oks++
		case g.err != nil && bytes.Contains([]byte(g.err.Error()), []byte("no such key")):
			fails++
		default:
			t.Fatalf("a wait got %v, %v", g.k, g.err)
		}
	}
	if oks != 2 || fails != 1 {
		t.Fatalf("%d keys, %d errors", oks, fails)
	}
	// Cached: the same nonce again needs no request.
	if k, err := b.ChunkKey(ctx, pipeline.ChunkRef{}, nonce); err != nil || k != want {
		t.Fatalf("cached key: %v", err)
	}
	if _, err := b.ChunkKey(ctx, pipeline.ChunkRef{}, []byte{1}); err == nil {
		t.Fatal("a short nonce was asked for")
	}
	// A wait in progress, then the client goes away.
	other := bytes.Repeat([]byte{8}, crypt.KeyNonceLen)
	ask(pipeline.ChunkRef{}, other)
	if q, err := b.Next(ctx); err != nil || len(q) != 1 {
		t.Fatalf("next: %v, %v", q, err)
	}
	b.Close(nil)
	if g := <-res; !errors.Is(g.err, compute.ErrKeysGone) {
		t.Fatalf("a wait when the client went: %v", g.err)
	}
	if _, err := b.ChunkKey(ctx, pipeline.ChunkRef{}, bytes.Repeat([]byte{5}, crypt.KeyNonceLen)); !errors.Is(err, compute.ErrKeysGone) {
		t.Fatalf("a key asked after: %v", err)
	}
	if _, err := b.Next(ctx); !errors.Is(err, compute.ErrKeysGone) {
		t.Fatalf("next after close: %v", err)
	}
	// A context that ends stops a wait.
	b2 := compute.NewKeyBroker()
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	if _, err := b2.ChunkKey(cctx, pipeline.ChunkRef{}, nonce); !errors.Is(err, context.Canceled) {
		t.Fatalf("a cancelled wait: %v", err)
	}
}
