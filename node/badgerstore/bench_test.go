package badgerstore_test

import (
	"context"
	"fmt"
	"sync"
	"testing"

	"github.com/murmur-cloud/murmur/erasure"
	"github.com/murmur-cloud/murmur/node/badgerstore"
	"github.com/murmur-cloud/murmur/store/storetest"
)

func BenchmarkPut(b *testing.B) {
	for _, par := range []int{1, 4} {
		b.Run(fmt.Sprint("par", par), func(b *testing.B) {
			s := open(b, badgerstore.Config{})
			n := b.N
			ids := make([]erasure.ShardID, n)
			shards := make([][]byte, n)
			for i := range n {
				ids[i], shards[i] = storetest.Shard(uint64(i), 1<<20)
			}
			b.SetBytes(1 << 20)
			b.ResetTimer()
			var wg sync.WaitGroup
			sem := make(chan struct{}, par)
			for i := range n {
				sem <- struct{}{}
				wg.Go(func() {
					defer func() { <-sem }()
					if err := s.Put(context.Background(), ids[i], shards[i]); err != nil {
						b.Error(err)
					}
				})
			}
			wg.Wait()
		})
	}
}
