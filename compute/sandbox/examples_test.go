package sandbox_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"os/exec"
	"regexp"
	"slices"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/murmur-cloud/murmur/compute/examples"
	"github.com/murmur-cloud/murmur/compute/sandbox"
	"github.com/tetratelabs/wazero"
	"github.com/tetratelabs/wazero/imports/wasi_snapshot_preview1"
)

var vocabulary = []string{
	"the", "a", "murmur", "foo", "foobar", "FOO", "Foo", "bar", "baz", "x",
	"héllo", "naïve", "日本語", "Ωmega", "straße", "😀", "ﬁne", "a\xffb", "\xfe",
	"hello,", "(world)", "1234", "--", "é",
}

var spaces = []string{" ", " ", " ", "  ", "\t", "\u00a0", "\u3000", "\u2003", "\r", "\v"}

// genText returns about size bytes of text: lines of a few words with
// assorted (Unicode) white space, empty lines, invalid UTF-8, long lines
// of longLine bytes each, and no '\n' at the end.
func genText(seed uint64, size, longLines, longLine int) []byte {
	rng := rand.New(rand.NewPCG(seed, 1))
	var b bytes.Buffer
	long := map[int]bool{}
	for range longLines {
		long[rng.IntN(1000)] = true
	}
	for line := 0; b.Len() < size; line++ {
		n := rng.IntN(16)
		limit := b.Len() + 200
		if long[line] {
			limit = b.Len() + longLine
			n = 1 << 30
		}
		for i := 0; i < n && b.Len() < limit; i++ {
			if i > 0 || rng.IntN(8) == 0 {
				b.WriteString(spaces[rng.IntN(len(spaces))])
			}
			b.WriteString(vocabulary[rng.IntN(len(vocabulary))])
		}
		b.WriteByte('\n')
	}
	out := b.Bytes()
	return append(out[:len(out)-1], "tail without newline"...)
}

// splitLines cuts text after random '\n's into pieces (some may be empty).
func splitLines(rng *rand.Rand, text []byte, n int) [][]byte {
	var ends []int
	for i, c := range text {
		if c == '\n' {
			ends = append(ends, i+1)
		}
	}
	cuts := []int{0}
	for range n - 1 {
		cuts = append(cuts, ends[rng.IntN(len(ends))])
	}
	cuts = append(cuts, len(text))
	slices.Sort(cuts)
	var pieces [][]byte
	for i := 1; i < len(cuts); i++ {
		pieces = append(pieces, text[cuts[i-1]:cuts[i]])
	}
	return pieces
}

// job runs the example name with args, env and stdin in r.
func job(t testing.TB, r *sandbox.Runtime, name string, env map[string]string, stdin []byte, args ...string) []byte {
	t.Helper()
	out, err := r.Run(context.Background(), sandbox.Task{
		Module: compile(t, r, name), Args: args, Env: env, Stdin: bytes.NewReader(stdin),
	})
	if err != nil {
		t.Fatalf("%s %v: %v", name, args, err)
	}
	return out.Stdout
}

// refWordcount is wordcount's output computed here.
func refWordcount(text []byte) []byte {
	counts := map[string]int{}
	for _, w := range bytes.Fields(text) {
		counts[string(w)]++
	}
	keys := slices.Sorted(func(yield func(string) bool) {
		for k := range counts {
			if !yield(k) {
				return
			}
		}
	})
	var b bytes.Buffer
	for _, k := range keys {
		fmt.Fprintf(&b, "%s\t%d\n", k, counts[k])
	}
	return b.Bytes()
}

func refGrep(text []byte, re *regexp.Regexp) []byte {
	var b bytes.Buffer
	for _, l := range bytes.SplitAfter(text, []byte{'\n'}) {
		l = bytes.TrimSuffix(l, []byte{'\n'})
		if re.Match(l) {
			b.Write(l)
			b.WriteByte('\n')
		}
	}
	return b.Bytes()
}

// TestExamplesMapReduce: for every example, reduce of the maps of a
// line-aligned split equals reduce of the map of the whole, and both are
// right.
func TestExamplesMapReduce(t *testing.T) {
	r := shared(t)
	text := genText(1, 4<<20, 2, 3<<20) // ~7 MiB with two 3 MiB lines
	const pattern = `(?i)fo+\b|日本|ß`
	want := map[string][]byte{
		"linecount": []byte(strconv.Itoa(bytes.Count(text, []byte{'\n'})+1) + "\n"),
		"wordcount": refWordcount(text),
		"grep":      refGrep(text, regexp.MustCompile(pattern)),
	}
	args := map[string][]string{"grep": {pattern}}
	for _, name := range []string{"linecount", "wordcount", "grep"} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			mapArgs := append([]string{"map"}, args[name]...)
			whole := job(t, r, name, nil, job(t, r, name, nil, text, mapArgs...), "reduce")
			if !bytes.Equal(whole, want[name]) {
				t.Fatalf("reduce(map(whole)) is wrong: %d bytes, want %d", len(whole), len(want[name]))
			}
			rng := rand.New(rand.NewPCG(2, uint64(len(name))))
			for _, n := range []int{2, 7} {
				var maps []byte
				for _, p := range splitLines(rng, text, n) {
					maps = append(maps, job(t, r, name, nil, p, mapArgs...)...)
				}
				if got := job(t, r, name, nil, maps, "reduce"); !bytes.Equal(got, whole) {
					t.Fatalf("split in %d: reduce(maps) differs from reduce(map(whole)): %d bytes vs %d", n, len(got), len(whole))
				}
			}
		})
	}
}

// TestSha256sumFold: folding over chunks cut anywhere gives the hash of
// the whole, as does map.
func TestSha256sumFold(t *testing.T) {
	r := shared(t)
	text := genText(3, 4<<20, 1, 1<<20)
	want := fmt.Sprintf("%x  some file\n", sha256.Sum256(text))
	if got := job(t, r, "sha256sum", map[string]string{"MURMUR_NAME": "some file"}, text, "map"); string(got) != want {
		t.Fatalf("map: %q, want %q", got, want)
	}
	rng := rand.New(rand.NewPCG(4, 4))
	cuts := []int{0, rng.IntN(10), 1 + rng.IntN(len(text)-1), rng.IntN(len(text)), len(text) - 1, len(text)}
	slices.Sort(cuts)
	var state []byte
	for i := 1; i < len(cuts); i++ {
		env := map[string]string{"MURMUR_NAME": "some file"}
		if i > 1 {
			env["MURMUR_STATE"] = string(bytes.TrimSpace(state))
		}
		if i == len(cuts)-1 {
			env["MURMUR_FINAL"] = "1"
		}
		state = job(t, r, "sha256sum", env, text[cuts[i-1]:cuts[i]], "fold")
	}
	if string(state) != want {
		t.Fatalf("fold over %v: %q, want %q", cuts, state, want)
	}
}

// TestConcurrentRuns: eight wordcount runs at once on different inputs,
// each right.
func TestConcurrentRuns(t *testing.T) {
	r := shared(t)
	id := compile(t, r, "wordcount")
	var wg sync.WaitGroup
	for i := range 8 {
		wg.Go(func() {
			text := genText(uint64(100+i), 256<<10, 0, 0)
			out, err := r.Run(context.Background(), sandbox.Task{Module: id, Args: []string{"map"}, Stdin: bytes.NewReader(text)})
			if err != nil {
				t.Errorf("run %d: %v", i, err)
				return
			}
			if !bytes.Equal(out.Stdout, refWordcount(text)) {
				t.Errorf("run %d: wrong counts", i)
			}
		})
	}
	wg.Wait()
}

var (
	nativeOnce sync.Once
	nativeWC   string
	nativeErr  error
)

// BenchmarkWordcountMap runs wordcount map over 16 MiB in the sandbox,
// then the same program built natively on the same input, and reports
// the ratio of their times (wasm/native).
func BenchmarkWordcountMap(b *testing.B) {
	nativeOnce.Do(func() { nativeWC, nativeErr = examples.BuildNative(context.Background(), "wordcount", wasmDir) })
	if nativeErr != nil {
		b.Fatal(nativeErr)
	}
	r := shared(b)
	id := compile(b, r, "wordcount")
	text := genText(5, 16<<20, 1, 1<<20)
	var out *sandbox.Output
	b.SetBytes(int64(len(text)))
	b.ResetTimer()
	start := time.Now()
	for range b.N {
		var err error
		out, err = r.Run(context.Background(), sandbox.Task{Module: id, Args: []string{"map"}, Stdin: bytes.NewReader(text)})
		if err != nil {
			b.Fatal(err)
		}
	}
	wasm := time.Since(start)
	b.StopTimer()
	start = time.Now()
	for range b.N {
		cmd := exec.Command(nativeWC, "map")
		cmd.Stdin = bytes.NewReader(text)
		cmd.Stderr = os.Stderr
		got, err := cmd.Output()
		if err != nil {
			b.Fatal(err)
		}
		if !bytes.Equal(got, out.Stdout) {
			b.Fatal("native and wasm wordcount differ")
		}
	}
	native := time.Since(start)
	b.ReportMetric(wasm.Seconds()/native.Seconds(), "wasm/native")
	b.ReportMetric(float64(len(text))*float64(b.N)/native.Seconds()/1e6, "native-MB/s")
}

// BenchmarkStartup is the cost of one run of a module that does nothing:
// instantiation and the Go runtime's start.
func BenchmarkStartup(b *testing.B) {
	r := shared(b)
	id := compile(b, r, "exit")
	for b.Loop() {
		if _, err := r.Run(context.Background(), sandbox.Task{Module: id, Args: []string{"0", ""}}); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkCompile is the compilation of the wordcount module.
func BenchmarkCompile(b *testing.B) {
	wasm := wasmBytes["wordcount"]
	b.SetBytes(int64(len(wasm)))
	for b.Loop() {
		r, err := sandbox.New(context.Background(), sandbox.Config{})
		if err != nil {
			b.Fatal(err)
		}
		if _, err := r.Compile(context.Background(), wasm); err != nil {
			b.Fatal(err)
		}
		r.Close(context.Background())
	}
}

// BenchmarkWordcountMapUnchecked is BenchmarkWordcountMap's sandbox run on
// plain wazero without WithCloseOnContextDone, to show what the deadline
// checks cost (the sandbox cannot run without them).
func BenchmarkWordcountMapUnchecked(b *testing.B) {
	ctx := context.Background()
	rt := wazero.NewRuntime(ctx)
	defer rt.Close(ctx)
	wasi_snapshot_preview1.MustInstantiate(ctx, rt)
	cm, err := rt.CompileModule(ctx, wasmBytes["wordcount"])
	if err != nil {
		b.Fatal(err)
	}
	text := genText(5, 16<<20, 1, 1<<20)
	b.SetBytes(int64(len(text)))
	for b.Loop() {
		mc := wazero.NewModuleConfig().WithName("").WithArgs("job", "map").
			WithStdin(bytes.NewReader(text)).WithStdout(io.Discard)
		if _, err := rt.InstantiateModule(ctx, cm, mc); err != nil {
			b.Fatal(err)
		}
	}
}
