package main

import (
	"flag"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/murmur-cloud/murmur/cmd/murmur/internal/cli"
)

// TestFlagKindsAgree: a flag given before a subcommand (murmur drive --dir
// X list) is told to take a value or not by the flags of the subtree, so a
// name must be a boolean everywhere below a command, or nowhere.
func TestFlagKindsAgree(t *testing.T) {
	type use struct {
		path   string
		isBool bool
	}
	var visit func(c *cli.Command, path string, seen map[string]use)
	visit = func(c *cli.Command, path string, seen map[string]use) {
		c.FlagSet().VisitAll(func(f *flag.Flag) {
			b, ok := f.Value.(interface{ IsBoolFlag() bool })
			isBool := ok && b.IsBoolFlag()
			if prev, ok := seen[f.Name]; ok && prev.isBool != isBool {
				t.Errorf("-%s is a boolean in one of %q and %q and takes a value in the other", f.Name, prev.path, path)
			}
			seen[f.Name] = use{path, isBool}
		})
		for _, s := range c.Sub {
			visit(s, path+" "+s.Name, seen)
		}
	}
	// The root is a parent too (murmur --dir X drive list): one name, one
	// kind, in the whole tree.
	visit(root(), "murmur", map[string]use{})
}

// completionCases are words typed and what <TAB> after them must offer,
// in any order; a trailing space means a new, empty word. FILES stands for
// the test folder's files (photo.jpg and the folder docs).
var completionCases = []struct{ line, want string }{
	{"murmur dr", "drive"},
	{"murmur drive ", "create list"},
	{"murmur drive l", "list"},
	{"murmur put --", "--dir --json"},
	{"murmur put --j", "--json"},
	{"murmur put ph", "photo.jpg"},
	{"murmur put --dir d", "docs"}, // a flag's value: a path
	{"murmur drive --dir /tmp li", "list"},
	{"murmur --dir /tmp drive ", "create list"},
	{"murmur backup --set s ", "init key schedule FILES"}, // a subcommand or a path to back up
	{"murmur job run --arg x ", "FILES"},
	{"murmur ls ", ""},
	{"murmur completion ", "bash zsh"},
}

// TestCompletion sources the scripts of murmur completion bash and zsh in
// the real shells and drives their completion functions as the shells do
// on <TAB> (bash: COMP_WORDS, COMP_CWORD, then COMPREPLY; zsh: words and
// CURRENT, with compadd and _files, which only exist inside the line
// editor, standing in to record what is offered, filtered by the word
// typed as zsh filters it).
func TestCompletion(t *testing.T) {
	work := t.TempDir()
	if err := os.WriteFile(filepath.Join(work, "photo.jpg"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Mkdir(filepath.Join(work, "docs"), 0o755); err != nil {
		t.Fatal(err)
	}
	for _, sh := range []struct {
		name, harness string
	}{
		{"bash", `source "$SCRIPT"
read -ra COMP_WORDS <<<"$LINE"
[[ $LINE == *" " ]] && COMP_WORDS+=("")
COMP_CWORD=$((${#COMP_WORDS[@]} - 1))
_murmur
echo "${COMPREPLY[*]}"`},
		{"zsh", `compdef() { :; }
compset() { :; }
compadd() {
	[[ $1 == -- ]] && shift
	local w
	for w in "$@"; do [[ $w == ${words[CURRENT]}* ]] && offered+=("$w"); done
}
_files() {
	local f
	for f in ${words[CURRENT]}*(N); do offered+=("$f"); done
}
source "$SCRIPT"
words=(${=LINE})
[[ $LINE == *" " ]] && words+=("")
CURRENT=${#words}
offered=()
_murmur
print -r -- "${offered[*]}"`},
	} {
		t.Run(sh.name, func(t *testing.T) {
			bin, err := exec.LookPath(sh.name)
			if err != nil {
				t.Skipf("%s is not installed (apt-get install %s): its completion script is not checked", sh.name, sh.name)
			}
			script, err := run(t, "completion", sh.name)
			if err != nil {
				t.Fatal(err)
			}
			file := filepath.Join(t.TempDir(), "murmur."+sh.name)
			if err := os.WriteFile(file, []byte(script), 0o644); err != nil {
				t.Fatal(err)
			}
			if out, err := exec.Command(bin, "-n", file).CombinedOutput(); err != nil {
				t.Fatalf("%s -n: the script does not parse: %v\n%s", sh.name, err, out)
			}
			for _, tc := range completionCases {
				args := []string{"-c", sh.harness}
				if sh.name == "zsh" {
					args = append([]string{"-f"}, args...) // no user start-up files
				}
				cmd := exec.Command(bin, args...)
				cmd.Dir = work
				cmd.Env = append(os.Environ(), "SCRIPT="+file, "LINE="+tc.line)
				out, err := cmd.CombinedOutput()
				if err != nil {
					t.Fatalf("%q: %v\n%s", tc.line, err, out)
				}
				got := strings.Fields(string(out))
				want := strings.Fields(strings.ReplaceAll(tc.want, "FILES", "photo.jpg docs"))
				if strings.Join(sortedCopy(got), " ") != strings.Join(sortedCopy(want), " ") {
					t.Errorf("%s: %q<TAB> offers %q, want %q", sh.name, tc.line, got, want)
				}
			}
		})
	}
}

func sortedCopy(s []string) []string {
	c := slices.Clone(s)
	slices.Sort(c)
	return c
}
