package egress

import (
	"bufio"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"

	"github.com/moby/sys/mountinfo"
)

func readlink(p string) (string, error) { return os.Readlink(p) }

// peerPid finds the host pid of the sandbox process that owns the client
// end of a connection (or the UDP socket a query came from): the socket's
// inode from the namespace's /proc/net table, then the process of that
// namespace holding a descriptor for it. 0 when not found (the process
// already exited, or closed the socket).
func (s *Server) peerPid(proto string, client net.Addr) int32 {
	ap, err := netip.ParseAddrPort(client.String())
	if err != nil {
		return 0
	}
	ap = netip.AddrPortFrom(ap.Addr().Unmap(), ap.Port())
	table := proto
	if ap.Addr().Is6() {
		table += "6"
	}
	inode := socketInode(fmt.Sprintf("/proc/%d/net/%s", s.cfg.NetnsPid, table), ap)
	if inode == "" {
		return 0
	}
	return s.pidOfSocket(inode)
}

// peerPidAsync starts peerPid beside the request (it scans /proc, which
// costs milliseconds); the result is waited for when the request is
// recorded — the client holds its socket until the answer, so it is found.
func (s *Server) peerPidAsync(proto string, client net.Addr) func() int32 {
	c := make(chan int32, 1)
	go func() { c <- s.peerPid(proto, client) }()
	var pid int32
	var once sync.Once
	return func() int32 {
		once.Do(func() { pid = <-c })
		return pid
	}
}

// socketInode returns the inode of the socket whose local address is local
// in a /proc/net/{tcp,udp}[6] table.
func socketInode(table string, local netip.AddrPort) string {
	f, err := os.Open(table)
	if err != nil {
		return ""
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	sc.Scan() // header
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) < 10 {
			continue
		}
		if a, ok := parseProcAddr(fields[1]); ok && a == local {
			return fields[9]
		}
	}
	return ""
}

// parseProcAddr decodes "0100007F:1F90": the address as 32-bit words in
// host byte order, the port big-endian hex.
func parseProcAddr(s string) (netip.AddrPort, bool) {
	h, p, ok := strings.Cut(s, ":")
	if !ok {
		return netip.AddrPort{}, false
	}
	port, err := strconv.ParseUint(p, 16, 16)
	if err != nil {
		return netip.AddrPort{}, false
	}
	raw, err := hex.DecodeString(h)
	if err != nil || (len(raw) != 4 && len(raw) != 16) {
		return netip.AddrPort{}, false
	}
	b := make([]byte, len(raw))
	for i := 0; i < len(raw); i += 4 {
		binary.BigEndian.PutUint32(b[i:], binary.NativeEndian.Uint32(raw[i:]))
	}
	a, _ := netip.AddrFromSlice(b)
	return netip.AddrPortFrom(a.Unmap(), uint16(port)), true
}

// candidates lists the pids that may hold a sandbox socket: the sandbox's
// cgroup members when its cgroup.procs is known (a handful), else every
// process of the host (a scan that costs milliseconds on a busy machine).
func (s *Server) candidates() []string {
	if s.procsFile != "" {
		if b, err := os.ReadFile(s.procsFile); err == nil {
			return strings.Fields(string(b))
		}
	}
	ents, err := os.ReadDir("/proc")
	if err != nil {
		return nil
	}
	names := make([]string, 0, len(ents))
	for _, e := range ents {
		names = append(names, e.Name())
	}
	return names
}

// cgroupProcs returns the cgroup.procs file of pid's cgroup v2, or "".
func cgroupProcs(pid uint32) string {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/cgroup", pid))
	if err != nil {
		return ""
	}
	rel := ""
	for _, l := range strings.Split(string(b), "\n") {
		if r, ok := strings.CutPrefix(l, "0::"); ok {
			rel = r
		}
	}
	if rel == "" {
		return ""
	}
	mounts, err := mountinfo.GetMounts(mountinfo.FSTypeFilter("cgroup2"))
	if err != nil {
		return ""
	}
	for _, m := range mounts {
		if m.Root != "/" {
			continue
		}
		p := filepath.Join(m.Mountpoint, rel, "cgroup.procs")
		if _, err := os.Stat(p); err == nil {
			return p
		}
	}
	return ""
}

// pidOfSocket looks through the processes in the sandbox's network
// namespace for a descriptor of socket inode.
func (s *Server) pidOfSocket(inode string) int32 {
	want := "socket:[" + inode + "]"
	for _, name := range s.candidates() {
		pid, err := strconv.Atoi(name)
		if err != nil {
			continue
		}
		dir := filepath.Join("/proc", name)
		if l, err := os.Readlink(dir + "/ns/net"); err != nil || l != s.nsLink {
			continue
		}
		fds, err := os.ReadDir(dir + "/fd")
		if err != nil {
			continue
		}
		for _, fd := range fds {
			if l, err := os.Readlink(dir + "/fd/" + fd.Name()); err == nil && l == want {
				return int32(pid)
			}
		}
	}
	return 0
}
