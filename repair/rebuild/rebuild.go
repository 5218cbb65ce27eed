package rebuild

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/murmur-cloud/murmur/erasure"
	"github.com/murmur-cloud/murmur/repair"
	"github.com/murmur-cloud/murmur/stripe"
)

// Shards moves shards between this node and the others: node implements
// it over its libp2p shard protocol, and its own store for Self.
type Shards[P comparable] interface {
	// Fetch returns the bytes holder keeps for slot of rec's stripe. The
	// bytes are checked by the caller; Fetch need not.
	Fetch(ctx context.Context, holder P, rec *stripe.Record, slot int) ([]byte, error)
	// Store hands holder shard slot of rec's stripe with rec, the record
	// that names it. A holder checks both (stripe.Receive, CheckShard) and
	// refuses what does not verify.
	Store(ctx context.Context, holder P, rec *stripe.Record, slot int, shard []byte) error
}

// Pacer paces the remote bytes of repairs: WaitN returns once n more
// bytes may move. *rate.Limiter (golang.org/x/time/rate) is one.
type Pacer interface {
	WaitN(ctx context.Context, n int) error
}

// Config is what a Rebuilder needs.
type Config[P comparable] struct {
	Self   P // this node: fetching from it moves no bytes
	Shards Shards[P]
	Placer repair.Placer[P]
	// Name is the hint a record gives for holder p (its peer ID).
	Name func(p P) string
	// Pacer paces remote bytes; nil: no pacing.
	Pacer Pacer
	// Now is the clock the next record's hints are dated by, and the
	// plans' deadlines are on (the Machine's).
	Now func() time.Time
	// Parallel is how many fetches or stores run at once (default 4).
	Parallel int
	// Attempts is how many rounds of placement a slot gets (default 3).
	Attempts int
}

// Rebuilder carries out repair plans. It is safe for concurrent use: each
// Run is independent.
type Rebuilder[P comparable] struct {
	cfg Config[P]
}

// New returns a Rebuilder.
func New[P comparable](cfg Config[P]) (*Rebuilder[P], error) {
	if cfg.Shards == nil || cfg.Placer == nil || cfg.Name == nil {
		return nil, errors.New("rebuild: Shards, Placer and Name are required")
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Parallel <= 0 {
		cfg.Parallel = 4
	}
	if cfg.Attempts <= 0 {
		cfg.Attempts = 3
	}
	return &Rebuilder[P]{cfg: cfg}, nil
}

// Outcome is what a Run did.
type Outcome[P comparable] struct {
	// Result is what to report with repair.Machine.Finish.
	Result repair.Result[P]
	// Record is the stripe's next record: the hints of every placed slot
	// name its new holder. Nil when nothing was placed.
	Record *stripe.Record
	// Corrupt lists the sources that answered with bytes that are not
	// their shard: integrity evidence against their holders.
	Corrupt []repair.Source[P]
	// Failed lists the sources that did not answer (or said they have no
	// such shard) and the new holders that refused or failed a store.
	Failed []P
	// Read and Written are the remote bytes fetched and stored.
	Read, Written int64
}

// ErrRecord reports a plan whose record does not match the stripe record
// it is run with.
var ErrRecord = errors.New("rebuild: the plan's stripe is not the record's")

// errWrongShard marks a source that answered with bytes that are not its
// shard.
var errWrongShard = errors.New("rebuild: wrong shard")

// Run carries out plan, whose stripe's record is rec, until the plan's
// deadline or until ctx ends. The Outcome's Result has Err set when the
// repair failed; what was placed before a failure is in Placed all the
// same (those holders have their shards).
func (r *Rebuilder[P]) Run(ctx context.Context, plan repair.Plan[P], rec *stripe.Record) Outcome[P] {
	out := Outcome[P]{Result: repair.Result[P]{Stripe: plan.Record.ID, Ballot: plan.Ballot}}
	fail := func(err error) Outcome[P] {
		out.Result.Err = err
		out.Result.Moved = out.Read + out.Written
		return out
	}
	d := rec.Descriptor
	if repair.StripeID(rec.ID()) != plan.Record.ID || d.K != plan.Record.K || d.M != plan.Record.M {
		return fail(fmt.Errorf("%w: %s", ErrRecord, plan.Record.ID.Short()))
	}
	if !plan.Deadline.IsZero() {
		// The deadline is on the Machine's clock, which is Now (injected
		// in tests and the simulator), not necessarily the wall clock.
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, plan.Deadline.Sub(r.cfg.Now()))
		defer cancel()
	}
	for _, slot := range plan.Rebuild {
		if slot < 0 || slot >= len(d.Shards) || !d.Stored(slot) {
			return fail(fmt.Errorf("rebuild: stripe %s: slot %d has nothing to rebuild", plan.Record.ID.Short(), slot))
		}
	}
	if len(plan.Rebuild) == 0 {
		return fail(fmt.Errorf("rebuild: stripe %s: nothing to rebuild", plan.Record.ID.Short()))
	}

	// The new holders are chosen first, so a repair with nowhere to put
	// what it rebuilds moves no bytes.
	first, err := r.cfg.Placer.PlaceShards(plan.Record, plan.Rebuild, plan.Exclude)
	if err == nil && len(first) != len(plan.Rebuild) {
		err = fmt.Errorf("rebuild: the placer chose %d holders for %d shards", len(first), len(plan.Rebuild))
	}
	if err != nil {
		return fail(fmt.Errorf("rebuild: stripe %s: %w", plan.Record.ID.Short(), err))
	}
	shards, err := r.fetch(ctx, plan, rec, &out)
	if err != nil {
		return fail(err)
	}
	withParity := slices.ContainsFunc(plan.Rebuild, func(i int) bool { return i >= d.K })
	// fetch checked every shard against the record; erasure checks each
	// rebuilt one's length and ID, and its proof root is checked here.
	if err := erasure.ReconstructVerified(d, shards, withParity); err != nil {
		return fail(fmt.Errorf("rebuild: stripe %s: %w", plan.Record.ID.Short(), err))
	}
	for _, slot := range plan.Rebuild {
		if err := rec.CheckRoot(slot, shards[slot]); err != nil {
			// Every input was verified, so this is a bug, not a peer's lie.
			return fail(fmt.Errorf("rebuild: stripe %s: the rebuilt shard %d does not verify: %w", plan.Record.ID.Short(), slot, err))
		}
	}
	placed, next, err := r.place(ctx, plan, rec, shards, first, &out)
	out.Result.Placed, out.Record = placed, next
	if err != nil {
		return fail(err)
	}
	out.Result.Moved = out.Read + out.Written
	return out
}

// fetch returns the stripe's slots with need verified shards in them, the
// rest nil: the plan's sources first, then its spares in order.
func (r *Rebuilder[P]) fetch(ctx context.Context, plan repair.Plan[P], rec *stripe.Record, out *Outcome[P]) ([][]byte, error) {
	d := rec.Descriptor
	need := 0
	for i := 0; i < d.K; i++ {
		if d.Stored(i) {
			need++
		}
	}
	need = max(need, 1)
	queue := append(slices.Clone(plan.Fetch), plan.Spares...)
	shards := make([][]byte, len(d.Shards))
	var (
		mu   sync.Mutex
		got  int
		next int // the next source of queue to try
		busy int
		wake = make(chan struct{}, len(queue)+1)
	)
	try := func(src repair.Source[P]) {
		b, err := r.fetchOne(ctx, src, rec)
		mu.Lock()
		defer mu.Unlock()
		busy--
		switch {
		case err == nil && got < need && shards[src.Slot] == nil:
			shards[src.Slot] = b
			got++
			if src.Holder != r.cfg.Self {
				out.Read += int64(len(b))
			}
		case errors.Is(err, errWrongShard):
			out.Corrupt = append(out.Corrupt, src)
			if src.Holder != r.cfg.Self {
				out.Read += int64(len(b))
			}
		default:
			out.Failed = append(out.Failed, src.Holder)
		}
		wake <- struct{}{}
	}
	// A fetch starts only while got+busy < need, so none is running once
	// need have verified, and the loop ends with every fetch returned.
	mu.Lock()
	for {
		for got+busy < need && busy < r.cfg.Parallel && next < len(queue) && ctx.Err() == nil {
			src := queue[next]
			next++
			if src.Slot < 0 || src.Slot >= len(d.Shards) || !d.Stored(src.Slot) || shards[src.Slot] != nil {
				continue
			}
			busy++
			go try(src)
		}
		if got >= need || busy == 0 {
			break
		}
		mu.Unlock()
		<-wake
		mu.Lock()
	}
	done := got >= need
	mu.Unlock()
	if !done {
		if err := ctx.Err(); err != nil {
			return nil, fmt.Errorf("rebuild: stripe %s: fetching: %w", plan.Record.ID.Short(), err)
		}
		return nil, fmt.Errorf("rebuild: stripe %s: %d of the %d verified shards it needs: %w", plan.Record.ID.Short(), got, need, erasure.ErrTooFewShards)
	}
	return shards, nil
}

// fetchOne fetches and checks one source, pacing remote bytes: the
// shard's size before the fetch, and whatever a source sent beyond it
// after.
func (r *Rebuilder[P]) fetchOne(ctx context.Context, src repair.Source[P], rec *stripe.Record) ([]byte, error) {
	if src.Holder != r.cfg.Self {
		if err := r.pace(ctx, rec.Descriptor.Shards[src.Slot].Size); err != nil {
			return nil, err
		}
	}
	b, err := r.cfg.Shards.Fetch(ctx, src.Holder, rec, src.Slot)
	if err != nil {
		return nil, err
	}
	if extra := len(b) - rec.Descriptor.Shards[src.Slot].Size; extra > 0 && src.Holder != r.cfg.Self {
		// Paced by the size asked for; what came beyond it counts too.
		if err := r.pace(ctx, extra); err != nil {
			return nil, err
		}
	}
	if err := rec.CheckShard(src.Slot, b); err != nil {
		return b, fmt.Errorf("%w: %w", errWrongShard, err)
	}
	return b, nil
}

func (r *Rebuilder[P]) pace(ctx context.Context, n int) error {
	if r.cfg.Pacer == nil || n <= 0 {
		return ctx.Err()
	}
	return r.cfg.Pacer.WaitN(ctx, n)
}

// place stores the rebuilt slots on new holders, first (one per slot of
// plan.Rebuild) in the first round, placing a slot again (never on a
// holder that failed) when its store fails.
func (r *Rebuilder[P]) place(ctx context.Context, plan repair.Plan[P], rec *stripe.Record, shards [][]byte, first []P, out *Outcome[P]) (map[int]P, *stripe.Record, error) {
	exclude := slices.Clone(plan.Exclude)
	todo := slices.Clone(plan.Rebuild)
	placed := make(map[int]P, len(todo))
	var next *stripe.Record
	var lastErr error
	for round := 0; round < r.cfg.Attempts && len(todo) > 0 && ctx.Err() == nil; round++ {
		peers, err := first, error(nil)
		if round > 0 {
			peers, err = r.cfg.Placer.PlaceShards(plan.Record, todo, exclude)
		}
		if err != nil {
			lastErr = err
			break
		}
		if len(peers) != len(todo) {
			lastErr = fmt.Errorf("rebuild: the placer chose %d holders for %d shards", len(peers), len(todo))
			break
		}
		// The record handed to the new holders names all of this round's
		// holders and the earlier rounds'.
		cand := rec
		if next != nil {
			cand = next
		}
		now := r.cfg.Now()
		for i, slot := range todo {
			if cand, err = cand.WithHolders(slot, []string{r.cfg.Name(peers[i])}, now); err != nil {
				return placed, next, fmt.Errorf("rebuild: %w", err)
			}
		}
		errs := r.storeAll(ctx, peers, todo, cand, shards, out)
		var failed []int
		for i, slot := range todo {
			exclude = append(exclude, peers[i])
			if errs[i] != nil {
				lastErr = errs[i]
				out.Failed = append(out.Failed, peers[i])
				failed = append(failed, slot)
				continue
			}
			placed[slot] = peers[i]
		}
		next = cand
		todo = failed
	}
	if len(placed) == 0 {
		next = nil
	} else if len(todo) > 0 {
		// The record's hints for the slots still unplaced go back to what
		// they were, so the next record does not name a failed holder.
		now := r.cfg.Now()
		for _, slot := range todo {
			var err error
			if next, err = next.WithHolders(slot, holderNames(rec, slot), now); err != nil {
				return placed, nil, fmt.Errorf("rebuild: %w", err)
			}
		}
	}
	if len(todo) > 0 {
		if lastErr == nil {
			lastErr = ctx.Err()
		}
		return placed, next, fmt.Errorf("rebuild: stripe %s: %d of %d shards placed: %w", plan.Record.ID.Short(), len(placed), len(plan.Rebuild), lastErr)
	}
	return placed, next, nil
}

func holderNames(rec *stripe.Record, slot int) []string {
	if rec.Holders == nil {
		return nil
	}
	return rec.Holders[slot]
}

// storeAll stores shards[slots[i]] on peers[i], Parallel at a time, and
// returns each store's error.
func (r *Rebuilder[P]) storeAll(ctx context.Context, peers []P, slots []int, rec *stripe.Record, shards [][]byte, out *Outcome[P]) []error {
	errs := make([]error, len(slots))
	sem := make(chan struct{}, r.cfg.Parallel)
	var wg sync.WaitGroup
	var mu sync.Mutex
	for i, slot := range slots {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer func() { <-sem; wg.Done() }()
			b := shards[slot]
			if err := r.pace(ctx, len(b)); err != nil {
				errs[i] = err
				return
			}
			errs[i] = r.cfg.Shards.Store(ctx, peers[i], rec, slot, b)
			mu.Lock()
			out.Written += int64(len(b))
			mu.Unlock()
		}()
	}
	wg.Wait()
	return errs
}
