package baseline

import (
	"errors"
	"fmt"
	"math"
	"net/netip"
	"path"
	"sort"
	"strconv"
	"strings"

	"github.com/behavediff/behavediff/internal/linux"
	"github.com/behavediff/behavediff/store"
)

// Options control normalisation.
type Options struct {
	Workspace  string      // replaced by $WORKSPACE; default the run's workspace
	Home       string      // replaced by $HOME; default DefaultHome (/root, the sandbox's HOME)
	Counts     bool        // syscalls carry order-of-magnitude counts ("read 1e3")
	Redactions []Redaction // the baseline's redact: rules, applied after the built-in ones
}

// errno values normalisation looks at.
const (
	eNOENT = 2
	eEXIST = 17
)

// Ephemeral port range (Linux default ip_local_port_range).
const ephemeralLo, ephemeralHi = 32768, 60999

// FromTrace normalises a trace into a Baseline. It is pure: the same trace
// and options always give the same baseline.
func FromTrace(t *store.Trace, o Options) (*Baseline, error) {
	if t == nil {
		return nil, errors.New("baseline: nil trace")
	}
	ws := o.Workspace
	if ws == "" {
		ws = t.Run.Workspace
	}
	home := o.Home
	if home == "" {
		home = DefaultHome
	}
	n, err := newNormaliser(ws, home, o.Redactions)
	if err != nil {
		return nil, err
	}
	// Sized up front: growing these maps was a tenth of normalising a big
	// run, whose paths are mostly distinct temp names.
	n.cache = make(map[string]string, min(len(t.Files), 1<<17)+len(t.Processes))
	createdExcl := func(f *store.FileEvent) bool {
		return f.Result >= 0 && ((f.Op == store.FileOpen && f.Flags&(linux.O_CREAT|linux.O_EXCL) == linux.O_CREAT|linux.O_EXCL) || f.Op == store.FileMkdir)
	}
	temps := 0
	for i := range t.Files {
		if createdExcl(&t.Files[i]) {
			temps++
		}
	}
	if temps > 0 {
		n.randomWords = make(map[string]bool, temps)
	}
	for i := range t.Files {
		if createdExcl(&t.Files[i]) {
			n.learnTempName(t.Files[i].Path)
		}
	}
	b := &Baseline{
		Version:   FormatVersion,
		Name:      t.Run.Name,
		Runs:      1,
		Counts:    o.Counts,
		Redact:    append([]Redaction(nil), o.Redactions...),
		workspace: n.workspace,
		home:      n.home,
	}
	if t.Run.Status == store.StatusOK || t.Run.Status == store.StatusIncomplete || t.Run.Status == store.StatusTimeout {
		exit := t.Run.ExitCode
		b.Exit = &exit
	}
	for _, a := range t.Run.Command {
		b.Command = append(b.Command, n.str(a))
	}

	pt := buildProcTable(t, n)
	for _, rep := range pt.reps {
		p := t.Processes[rep]
		argv := make([]string, len(p.Argv))
		for i, a := range p.Argv {
			argv[i] = n.str(a)
		}
		b.Processes = append(b.Processes, Process{Exe: pt.exe[rep], Argv: argv, Chain: pt.chain[rep]})
	}
	b.Processes = sortProcesses(b.Processes)

	fromEnv(b, t, n, pt)
	fromFiles(b, t, n, pt)
	fromNet(b, t, n, pt)

	for _, e := range t.Priv {
		v := e.Syscall
		if e.Args != "" {
			v += " " + n.str(e.Args)
		}
		b.Privileged = append(b.Privileged, Entry{Value: v, Failed: e.Result < 0, proc: pt.chainOf(e.Proc)})
	}
	b.Privileged = sortEntries(b.Privileged)

	fromSyscalls(b, t, pt)

	for _, c := range t.Changes {
		v := n.str(c.Path)
		if c.IsDir {
			v += "/"
		}
		e := Entry{Value: v}
		switch c.Change {
		case "created":
			b.Changes.Created = append(b.Changes.Created, e)
		case "modified":
			b.Changes.Modified = append(b.Changes.Modified, e)
		case "deleted":
			b.Changes.Deleted = append(b.Changes.Deleted, e)
		default:
			return nil, fmt.Errorf("baseline: workspace change %q of %s: unknown kind", c.Change, c.Path)
		}
	}
	b.Changes.Created = sortEntries(b.Changes.Created)
	b.Changes.Modified = sortEntries(b.Changes.Modified)
	b.Changes.Deleted = sortEntries(b.Changes.Deleted)
	return b, nil
}

// procTable maps process images to the identities they are folded into.
type procTable struct {
	rep   []int    // per image: the image whose identity it shares
	exe   []string // per image: normalised exe
	chain []string // per image: normalised chain of its representative
	reps  []int    // distinct representatives, in image order
	// image index by Idx: a slice when the Idx are small (as the recorder
	// numbers them), else a map; every file and network event looks one up.
	dense []int // -1: no image
	byIdx map[int32]int
}

func (pt *procTable) setIndex(t *store.Trace) {
	np := len(t.Processes)
	maxIdx := int32(-1)
	for _, p := range t.Processes {
		if p.Idx < 0 || int64(p.Idx) > 2*int64(np)+1024 {
			pt.byIdx = make(map[int32]int, np)
			for i, p := range t.Processes {
				pt.byIdx[p.Idx] = i
			}
			return
		}
		maxIdx = max(maxIdx, p.Idx)
	}
	pt.dense = make([]int, maxIdx+1)
	for i := range pt.dense {
		pt.dense[i] = -1
	}
	for i, p := range t.Processes {
		pt.dense[p.Idx] = i
	}
}

// index returns the image of the process with the given Idx.
func (pt *procTable) index(idx int32) (int, bool) {
	if pt.byIdx != nil {
		i, ok := pt.byIdx[idx]
		return i, ok
	}
	if idx < 0 || int(idx) >= len(pt.dense) || pt.dense[idx] < 0 {
		return 0, false
	}
	return pt.dense[idx], true
}

// buildProcTable folds a forked child that never exec'd into its parent (it
// runs the same program: a worker pool of forks is one identity) and builds
// each identity's chain of ancestor executables. When the trace has no exec
// events at all (hand-built traces), every image counts as exec'd.
func buildProcTable(t *store.Trace, n *normaliser) *procTable {
	np := len(t.Processes)
	pt := &procTable{rep: make([]int, np), exe: make([]string, np), chain: make([]string, np)}
	pt.setIndex(t)
	execd := make([]bool, np)
	anyExec := false
	for _, f := range t.Files {
		if f.Op == store.FileExec && f.Result >= 0 {
			if i, ok := pt.index(f.Proc); ok {
				execd[i] = true
				anyExec = true
			}
		}
	}
	parent := func(i int) int {
		pi := t.Processes[i].ParentIdx
		if pi < 0 {
			return -1
		}
		j, ok := pt.index(pi)
		if !ok || j == i {
			return -1
		}
		return j
	}
	for i := range t.Processes {
		pt.exe[i] = n.str(t.Processes[i].Exe)
		pt.rep[i] = -1
	}
	var repOf func(i, depth int) int
	repOf = func(i, depth int) int {
		if pt.rep[i] >= 0 {
			return pt.rep[i]
		}
		r := i
		if p := parent(i); p >= 0 && anyExec && !execd[i] && depth < 256 {
			r = repOf(p, depth+1)
		}
		pt.rep[i] = r
		return r
	}
	for i := range t.Processes {
		repOf(i, 0)
	}
	var chainOf func(i, depth int) string
	chainOf = func(i, depth int) string {
		r := pt.rep[i]
		if pt.chain[r] != "" {
			return pt.chain[r]
		}
		c := pt.exe[r]
		if p := parent(r); p >= 0 && depth < 64 {
			c = chainOf(p, depth+1) + " > " + c
		}
		pt.chain[r] = c
		return c
	}
	seen := make([]bool, np)
	for i := range t.Processes {
		chainOf(i, 0)
		r := pt.rep[i]
		pt.chain[i] = pt.chain[r]
		if !seen[r] {
			seen[r] = true
			pt.reps = append(pt.reps, r)
		}
	}
	sort.Ints(pt.reps)
	return pt
}

// chainOf returns the normalised chain of the image with the given Idx.
func (pt *procTable) chainOf(idx int32) string {
	if i, ok := pt.index(idx); ok {
		return pt.chain[i]
	}
	return ""
}

// acc accumulates one section's entries: key → entry, failed only while
// every attempt failed, the first process chain kept. Entries live in one
// slice (a map of pointers allocated each entry: ~100k per big run).
type acc struct {
	idx map[string]int // key → index into es
	es  []Entry
}

func newAcc() *acc { return &acc{idx: map[string]int{}} }

func (a *acc) add(e Entry) {
	k := e.Key()
	if i, ok := a.idx[k]; ok {
		a.es[i].Failed = a.es[i].Failed && e.Failed
		return
	}
	a.idx[k] = len(a.es)
	a.es = append(a.es, e)
}

// list returns the entries sorted (never nil, as before); the acc is done
// with.
func (a *acc) list() []Entry {
	if a.es == nil {
		return []Entry{}
	}
	return sortEntries(a.es)
}

// RacedPrefix and LatePrefix mark a file entry whose path the sensor could
// not take as the kernel's (store.PathRaced, store.PathLate): the path text
// alone would pass for a plausible absolute path and match an approved one.
// A raced path (its argument changed during the call) is never approved
// silently; a late one is rated like an unresolved path.
const (
	RacedPrefix = "raced:"
	LatePrefix  = "late:"
)

// CutPathMark splits an entry value into its path and the mark's state
// ("raced", "late", as the file_events view names them; "" when unmarked).
func CutPathMark(v string) (p, state string) {
	if r, ok := strings.CutPrefix(v, RacedPrefix); ok {
		return r, "raced"
	}
	if r, ok := strings.CutPrefix(v, LatePrefix); ok {
		return r, "late"
	}
	return v, ""
}

// pathValue is the entry value of a file event's path p.
func pathValue(n *normaliser, p string, st store.PathState) string {
	switch st {
	case store.PathRaced:
		return RacedPrefix + n.str(p)
	case store.PathLate:
		return LatePrefix + n.str(p)
	}
	return n.str(p)
}

func fromFiles(b *Baseline, t *store.Trace, n *normaliser, pt *procTable) {
	created := map[string]bool{}
	for _, c := range t.Changes {
		if c.Change == "created" {
			created[c.Path] = true
		}
	}
	read, write, create, del, chmod, rename, exec, other := newAcc(), newAcc(), newAcc(), newAcc(), newAcc(), newAcc(), newAcc(), newAcc()

	// Execs that failed with ENOENT while a program of the same name ran:
	// a PATH search (execvp tries every directory), not behaviour.
	okExecBase := map[string]bool{}
	for _, f := range t.Files {
		if f.Op == store.FileExec && f.Result >= 0 {
			okExecBase[path.Base(f.Path)] = true
		}
	}

	for _, f := range t.Files {
		failed := f.Result < 0
		proc := pt.chainOf(f.Proc)
		switch f.Op {
		case store.FileOpen:
			e := Entry{Value: pathValue(n, f.Path, f.PathState), Failed: failed, proc: proc}
			switch {
			case f.Flags&linux.O_TMPFILE == linux.O_TMPFILE:
				create.add(e)
			case f.Flags&linux.O_CREAT != 0 && (f.Flags&linux.O_EXCL != 0 || created[f.Path]):
				create.add(e)
			case f.Flags&linux.O_CREAT != 0, f.Flags&linux.O_ACCMODE != 0, f.Flags&linux.O_TRUNC != 0:
				write.add(e)
			default:
				read.add(e)
			}
		case store.FileUnlink, store.FileRmdir:
			del.add(Entry{Value: pathValue(n, f.Path, f.PathState), Failed: failed, proc: proc})
		case store.FileRename:
			rename.add(Entry{Value: pathValue(n, f.Path, f.PathState), To: pathValue(n, f.Path2, f.PathState), Failed: failed, proc: proc})
		case store.FileChmod:
			chmod.add(Entry{Value: pathValue(n, f.Path, f.PathState), Mode: fmt.Sprintf("%04o", f.Mode&0o7777), Failed: failed, proc: proc})
		case store.FileExec:
			if failed && f.Result == -eNOENT && okExecBase[path.Base(f.Path)] {
				continue
			}
			exec.add(Entry{Value: pathValue(n, f.Path, f.PathState), Failed: failed, proc: proc})
		case store.FileMkdir:
			if f.Result == -eEXIST {
				continue // the directory was already there (mkdir -p)
			}
			other.add(Entry{Op: "mkdir", Value: pathValue(n, f.Path, f.PathState), Failed: failed, proc: proc})
		case store.FileLink:
			other.add(Entry{Op: "link", Value: pathValue(n, f.Path2, f.PathState), To: pathValue(n, f.Path, f.PathState), Failed: failed, proc: proc})
		case store.FileSymlink:
			other.add(Entry{Op: "symlink", Value: pathValue(n, f.Path2, f.PathState), To: n.str(f.Path), Failed: failed, proc: proc})
		case store.FileChown:
			other.add(Entry{Op: "chown", Value: pathValue(n, f.Path, f.PathState), Failed: failed, proc: proc})
		case store.FileTruncate:
			other.add(Entry{Op: "truncate", Value: pathValue(n, f.Path, f.PathState), Failed: failed, proc: proc})
		case store.FileUtimes:
			other.add(Entry{Op: "utimes", Value: pathValue(n, f.Path, f.PathState), Failed: failed, proc: proc})
		case store.FileMknod:
			other.add(Entry{Op: "mknod", Value: pathValue(n, f.Path, f.PathState), Failed: failed, proc: proc})
		case store.FileMemfd:
			other.add(Entry{Op: "memfd", Value: pathValue(n, f.Path, f.PathState), Failed: failed, proc: proc})
		}
		// FileChdir and FileStat are not behaviour by themselves.
	}
	b.Files = Files{
		Read: read.list(), Write: write.list(), Create: create.list(), Delete: del.list(),
		Chmod: chmod.list(), Rename: rename.list(), Exec: exec.list(), Other: other.list(),
	}
}

func fromNet(b *Baseline, t *store.Trace, n *normaliser, pt *procTable) {
	egress, listen, dns, unix, sock := newAcc(), newAcc(), newAcc(), newAcc(), newAcc()

	// The name each address was last answered for, as the events go: a
	// connect to an answered address is named after the lookup, so the
	// varying addresses behind one name normalise to it. An address no
	// answer gave (a literal IP, or any connect after a failed lookup) stays
	// an address: naming it after a lookup it did not come from would hide
	// a new destination behind an approved name.
	answered := map[string]string{}
	lastBind := map[int32]store.NetEvent{}
	// In a --net proxy run the connects to the proxy are plumbing: the
	// egress is what the proxy was asked for (fromProxy).
	viaProxy := map[string]bool{}
	for _, r := range t.Proxy {
		viaProxy[r.Via] = true
	}

	for _, e := range t.Net {
		failed := e.Result < 0
		proc := pt.chainOf(e.Proc)
		switch e.Op {
		case store.NetSocket:
			if v := socketKind(e.Family, e.SockType); v != "" {
				sock.add(Entry{Value: v, Failed: failed, proc: proc})
			}
		case store.NetDNS:
			if e.Domain != "" {
				dns.add(Entry{Value: n.domain(e.Domain), Failed: failed, proc: proc})
			}
		case store.NetDNSAnswer:
			if e.Domain != "" && e.Address != "" {
				answered[e.Address] = n.domain(e.Domain)
			}
		case store.NetConnect, store.NetSend:
			switch e.Family {
			case linux.AF_UNIX:
				if e.Address != "" {
					unix.add(Entry{Value: n.str(e.Address), Failed: failed, proc: proc})
				}
			case linux.AF_INET, linux.AF_INET6:
				if e.Address == "" {
					continue
				}
				host := hostText(e.Address)
				port := portText(e.Port, false)
				if isLoopback(e.Address) && viaProxy[host+":"+port] {
					continue
				}
				if isLoopback(e.Address) && isEphemeral(e.Port) {
					port = PhAny
				}
				// Name the destination after the lookup that answered it
				// (not the resolver itself).
				if e.Port != 53 {
					if name, ok := answered[e.Address]; ok {
						host = name
					}
				}
				egress.add(Entry{Value: host + ":" + port + protoSuffix(e.SockType), Failed: failed, proc: proc})
			}
		case store.NetBind:
			switch e.Family {
			case linux.AF_UNIX:
				if e.Address != "" {
					unix.add(Entry{Value: n.str(e.Address), Failed: failed, proc: proc})
				}
			case linux.AF_INET, linux.AF_INET6:
				lastBind[e.Proc] = e
				if e.SockType == linux.SOCK_DGRAM && e.Port != 0 {
					listen.add(Entry{Value: hostText(e.Address) + ":" + portText(e.Port, true) + protoSuffix(e.SockType), Failed: failed, proc: proc})
				}
			}
		case store.NetListen:
			if e.Family == linux.AF_UNIX {
				if e.Address != "" {
					unix.add(Entry{Value: n.str(e.Address), Failed: failed, proc: proc})
				}
				continue
			}
			addr, port := e.Address, e.Port
			if (addr == "" || port == 0) && lastBind[e.Proc].Address != "" {
				addr, port = lastBind[e.Proc].Address, lastBind[e.Proc].Port
			}
			if addr == "" {
				addr = "*"
			}
			listen.add(Entry{Value: hostText(addr) + ":" + portText(port, true) + protoSuffix(e.SockType), Failed: failed, proc: proc})
		}
	}
	fromProxy(egress, t, n, pt)
	b.Network = Network{Egress: egress.list(), Listen: listen.list(), DNS: dns.list(), Unix: unix.list(), Socket: sock.list()}
}

// fromProxy adds what a --net proxy run asked its egress proxy for, by
// the name it asked (so the addresses behind a CDN name never matter), as
// failed when the proxy denied it or could not reach it.
func fromProxy(egress *acc, t *store.Trace, n *normaliser, pt *procTable) {
	for _, r := range t.Proxy {
		if r.Protocol == store.ProxyDNS || r.Host == "" || r.Port == 0 {
			continue
		}
		host := hostText(r.Host)
		if _, err := netip.ParseAddr(r.Host); err != nil {
			host = n.domain(r.Host)
		}
		egress.add(Entry{Value: host + ":" + portText(r.Port, false), Failed: !r.Allowed || r.Reason != "", proc: pt.chainOf(r.Proc)})
	}
}

func hostText(a string) string {
	if strings.Contains(a, ":") {
		return "[" + a + "]"
	}
	return a
}

func portText(p uint16, local bool) string {
	if p == 0 || (local && isEphemeral(p)) {
		return PhAny
	}
	return strconv.Itoa(int(p))
}

func isEphemeral(p uint16) bool { return p >= ephemeralLo && p <= ephemeralHi }

func protoSuffix(sockType uint16) string {
	if sockType == linux.SOCK_DGRAM {
		return "/udp"
	}
	return ""
}

func isLoopback(a string) bool {
	ip, err := netip.ParseAddr(a)
	return err == nil && ip.IsLoopback()
}

func fromSyscalls(b *Baseline, t *store.Trace, pt *procTable) {
	totals := map[string]uint64{}
	procs := map[string]string{}
	for _, s := range t.Syscalls {
		if s.Name == "" {
			continue
		}
		totals[s.Name] += s.Count
		if _, ok := procs[s.Name]; !ok {
			procs[s.Name] = pt.chainOf(s.Proc)
		}
	}
	for name, c := range totals {
		v := name
		if b.Counts {
			v += " " + Bucket(c)
		}
		b.Syscalls = append(b.Syscalls, Entry{Value: v, proc: procs[name]})
	}
	b.Syscalls = sortEntries(b.Syscalls)
}

// Bucket renders a count as its order of magnitude: 1..9 → "1e0",
// 10..99 → "1e1", 1500 → "1e3".
func Bucket(c uint64) string {
	if c == 0 {
		return "0"
	}
	return fmt.Sprintf("1e%d", int(math.Floor(math.Log10(float64(c)))))
}
