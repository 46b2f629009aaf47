package diff

import (
	"fmt"
	"path"
	"regexp"
	"strconv"
	"strings"

	"github.com/behavediff/behavediff/baseline"
)

// This file is the single source of the risk policy. docs/risk.md shows the
// same tables (TestRiskDocInSync keeps them in step: go test ./diff -update
// rewrites the generated part of the doc).

// Pattern is a path glob with a human description. Globs starting "~/" match
// in any home directory ($HOME, /root, /home/*); "**" crosses directories.
type Pattern struct {
	Glob string
	What string
}

// Secrets are files whose read (even a failed attempt) is critical.
var Secrets = []Pattern{
	{"~/.ssh", "SSH keys"},
	{"~/.ssh/**", "SSH keys"},
	{"/etc/ssh/ssh_host_*key", "SSH host keys"},
	{"~/.aws/**", "AWS credentials"},
	{"~/.config/gcloud/**", "Google Cloud credentials"},
	{"~/.azure/**", "Azure credentials"},
	{"~/.kube/**", "Kubernetes credentials"},
	{"~/.docker/config.json", "Docker registry credentials"},
	{"**/.env", "a .env file"},
	{"**/.env.*", "a .env file"},
	{"/etc/shadow", "system password hashes"},
	{"/etc/shadow-", "system password hashes"},
	{"/etc/gshadow", "system group password hashes"},
	{"/etc/gshadow-", "system group password hashes"},
	{"~/.git-credentials", "git credentials"},
	{"~/.config/git/credentials", "git credentials"},
	{"~/.config/gh/hosts.yml", "GitHub CLI token"},
	{"~/.netrc", "netrc passwords"},
	{"~/.mozilla/**", "a browser profile"},
	{"~/.config/google-chrome/**", "a browser profile"},
	{"~/.config/chromium/**", "a browser profile"},
	{"~/.gnupg", "GnuPG keys"},
	{"~/.gnupg/**", "GnuPG keys"},
	{"~/.npmrc", "npm token"},
	{"**/.npmrc", "npm token"},
	{"~/.pypirc", "PyPI token"},
	{"~/.config/pip/pip.conf", "pip index credentials"},
	{"~/.cargo/credentials", "crates.io token"},
	{"~/.cargo/credentials.toml", "crates.io token"},
	{"~/.gem/credentials", "RubyGems token"},
	{"~/.terraform.d/credentials.tfrc.json", "Terraform token"},
	{"~/.vault-token", "Vault token"},
	{"~/.password-store/**", "pass password store"},
	{"~/.local/share/keyrings/**", "desktop keyring"},
}

// NotSecrets are exceptions to Secrets: templates that hold no secret.
var NotSecrets = []string{"**/.env.example", "**/.env.sample", "**/.env.template", "**/.env.dist", "**/.env.defaults"}

// Persistence are places where a write makes code run later (at login, on
// a schedule, on git operations, at every process start) or grants access.
var Persistence = []Pattern{
	{"~/.bashrc", "a shell profile"},
	{"~/.bash_profile", "a shell profile"},
	{"~/.bash_login", "a shell profile"},
	{"~/.bash_logout", "a shell profile"},
	{"~/.profile", "a shell profile"},
	{"~/.zshrc", "a shell profile"},
	{"~/.zprofile", "a shell profile"},
	{"~/.zshenv", "a shell profile"},
	{"~/.zlogin", "a shell profile"},
	{"~/.config/fish/**", "a shell profile"},
	{"/etc/profile", "a system shell profile"},
	{"/etc/profile.d/**", "a system shell profile"},
	{"/etc/bash.bashrc", "a system shell profile"},
	{"/etc/zsh/**", "a system shell profile"},
	{"/etc/environment", "the system environment"},
	{"/etc/cron*", "cron"},
	{"/etc/cron*/**", "cron"},
	{"/var/spool/cron/**", "cron"},
	{"/etc/anacrontab", "cron"},
	{"**/.git/hooks/**", "a git hook"},
	{"~/.config/git/hooks/**", "a git hook"},
	{"~/.gitconfig", "git configuration (hooks path, credential helper)"},
	{"~/.ssh/authorized_keys*", "SSH authorized keys"},
	{"/etc/ssh/sshd_config*", "the SSH server configuration"},
	{"/etc/systemd/**", "a systemd unit"},
	{"/lib/systemd/**", "a systemd unit"},
	{"/usr/lib/systemd/**", "a systemd unit"},
	{"~/.config/systemd/**", "a systemd unit"},
	{"/etc/init.d/**", "an init script"},
	{"/etc/rc.local", "an init script"},
	{"~/.config/autostart/**", "a desktop autostart entry"},
	{"/etc/ld.so.preload", "the dynamic loader preload list"},
	{"/etc/ld.so.conf*", "the dynamic loader configuration"},
	{"/etc/sudoers", "sudo rules"},
	{"/etc/sudoers.d/**", "sudo rules"},
	{"/etc/passwd", "the user database"},
	{"/etc/group", "the group database"},
	{"/etc/shadow", "the password database"},
	{"/etc/pam.d/**", "PAM authentication"},
	{"/etc/udev/rules.d/**", "udev rules"},
}

// SystemPaths are where reading is expected of any program (libraries,
// configuration, kernel interfaces); new reads elsewhere are medium.
var SystemPaths = []string{
	"/usr/**", "/lib/**", "/lib32/**", "/lib64/**", "/libx32/**", "/bin/**", "/sbin/**",
	"/etc/**", "/proc/**", "/sys/**", "/dev/**", "/opt/**", "/usr", "/etc", "/proc", "/sys", "/dev",
}

// ScratchPaths are the run's own places: writing, creating and deleting
// there is informational.
var ScratchPaths = []string{
	"$WORKSPACE", "$WORKSPACE/**", "/tmp/**", "/var/tmp/**", "/dev/shm/**",
	"/dev/null", "/dev/zero", "/dev/full", "/dev/tty", "/dev/stdout", "/dev/stderr",
	"/dev/pts/**", "/dev/fd/**", "/proc/self/fd/**", "/proc/$PID/fd/**",
}

// Downloaders are programs whose main job is moving data over the network.
var Downloaders = []string{"curl", "wget", "nc", "ncat", "netcat", "socat", "scp", "sftp", "ftp", "tftp", "rsync", "aria2c", "telnet"}

// Interpreters and Shells: an interpreter that spawns a shell is a classic
// way for generated code to run arbitrary commands.
var (
	Interpreters = []string{"python", "python2", "python3", "node", "nodejs", "ruby", "perl", "php", "deno", "bun", "lua", "Rscript"}
	Shells       = []string{"sh", "bash", "dash", "zsh", "ksh", "mksh", "fish", "ash", "busybox", "csh", "tcsh"}
)

// RuntimeSockets give control of the host to whoever talks to them.
var RuntimeSockets = []string{"**/docker.sock", "**/containerd.sock", "**/podman.sock", "**/crio.sock", "**/buildkitd.sock"}

// Section groups used by rules.
var (
	writeSections  = []string{"files.write", "files.create", "files.chmod", "files.rename", "files.other", "changes.created", "changes.modified"}
	deleteSections = []string{"files.delete", "changes.deleted"}
	allFileWrites  = append(append([]string{}, writeSections...), deleteSections...)
)

// Rule is one row of the risk table. For a new entry the first rule whose
// section list contains the entry's section and whose condition holds
// decides the finding's kind, level and reason.
type Rule struct {
	Kind     string
	Level    Level
	Sections []string
	When     string // the condition, for docs/risk.md
	Reason   string // the finding's reason; cond may add detail
	cond     func(f *fact) (ok bool, detail string)
}

// Rules is the risk table, most severe first.
var Rules = []Rule{
	{Kind: "secret-read", Level: Critical, Sections: []string{"files.read"},
		When:   "path is a secret (table below); also when the attempt failed",
		Reason: "reads a secret",
		cond:   isSecret},
	{Kind: "persistence", Level: Critical, Sections: writeSections,
		When:   "path is a persistence location (table below)",
		Reason: "writes a place that makes code run later or grants access",
		cond:   func(f *fact) (bool, string) { return f.matchTable(Persistence) }},
	{Kind: "setuid", Level: Critical, Sections: []string{"files.chmod"},
		When:   "mode has setuid or setgid",
		Reason: "makes a file setuid/setgid",
		cond:   func(f *fact) (bool, string) { return f.setuid(), "" }},
	{Kind: "download-exec", Level: Critical, Sections: []string{"files.exec"},
		When:   "the program was written, created, renamed or linked into place by the same run",
		Reason: "runs a file this run wrote (download and execute)",
		cond:   func(f *fact) (bool, string) { return f.cur.written[f.entry.Value], "" }},
	{Kind: "fileless-exec", Level: Critical, Sections: []string{"files.exec"},
		When:   "the program is an in-memory file (memfd)",
		Reason: "runs an in-memory file (fileless execution)",
		cond: func(f *fact) (bool, string) {
			return strings.HasPrefix(f.entry.Value, "memfd:") || strings.Contains(f.entry.Value, "/memfd:"), ""
		}},
	{Kind: "unresolved-path", Level: Critical, Sections: append([]string{"files.exec"}, allFileWrites...),
		When:   "the path is not the kernel's: a `..` after a component that may be a symlink, relative, or cut at the top (`...`); it could be any file",
		Reason: "changes or runs a file whose real path is unknown (could be any file)",
		cond:   func(f *fact) (bool, string) { return f.unresolved(), "" }},
	{Kind: "compat-syscall", Level: Critical, Sections: []string{"privileged"},
		When:   "a syscall through a non-native ABI (`compat:NAME`: i386 `int $0x80`, x32), refused by the sandbox or not",
		Reason: "makes a syscall through a non-native ABI, a way around syscall monitoring",
		cond:   func(f *fact) (bool, string) { return strings.HasPrefix(f.entry.Value, "compat:"), "" }},
	{Kind: "priv", Level: Low, Sections: []string{"privileged"},
		When:   "prctl that only gives up privileges (PR_SET_NO_NEW_PRIVS, PR_CAPBSET_DROP)",
		Reason: "gives up privileges",
		cond: func(f *fact) (bool, string) {
			v := f.entry.Value
			return strings.HasPrefix(v, "prctl option=PR_SET_NO_NEW_PRIVS") || strings.HasPrefix(v, "prctl option=PR_CAPBSET_DROP"), ""
		}},
	{Kind: "priv", Level: Critical, Sections: []string{"privileged"},
		When:   "any other privilege or namespace syscall (setuid, unshare, setns, mount, ptrace, bpf, ...), attempted or done",
		Reason: "makes a privilege or namespace syscall"},
	{Kind: "egress", Level: Critical, Sections: []string{"network.egress"},
		When:   "not loopback, and the same run read a secret (even if that read failed)",
		Reason: "connects to a new destination in a run that read a secret, possible exfiltration",
		cond:   afterSecret},
	{Kind: "dns", Level: Critical, Sections: []string{"network.dns"},
		When:   "the same run read a secret (even if that read failed)",
		Reason: "looks up a new name in a run that read a secret, possible exfiltration",
		cond:   afterSecret},
	{Kind: "runtime-socket", Level: Critical, Sections: []string{"network.unix"},
		When:   "a container runtime socket (docker.sock, containerd.sock, ...)",
		Reason: "talks to a container runtime socket (control of the host)",
		cond:   func(f *fact) (bool, string) { return f.matchGlobs(RuntimeSockets), "" }},
	{Kind: "egress", Level: Low, Sections: []string{"network.egress"},
		When:   "loopback destination (127.0.0.0/8, ::1)",
		Reason: "connects to a new local service",
		cond:   func(f *fact) (bool, string) { return isLocal(f.entry.Value), "" }},
	{Kind: "unresolved-path", Level: High, Sections: []string{"files.read"},
		When:   "a read of a path that is not the kernel's (`..` after a possible symlink, relative, `...`); a secret-looking one is critical above",
		Reason: "reads a file whose real path is unknown (could be any file)",
		cond:   func(f *fact) (bool, string) { return f.unresolved(), "" }},
	{Kind: "egress", Level: High, Sections: []string{"network.egress"},
		When:   "any other destination",
		Reason: "connects to a new destination"},
	{Kind: "dns", Level: High, Sections: []string{"network.dns"},
		When:   "any name",
		Reason: "looks up a new DNS name"},
	{Kind: "exec", Level: High, Sections: []string{"files.exec"},
		When:   "a downloader (curl, wget, nc, socat, scp, ...)",
		Reason: "runs a downloader, which can fetch code or data from the network or send it out",
		cond:   func(f *fact) (bool, string) { return in(Downloaders, path.Base(f.entry.Value)), "" }},
	{Kind: "exec", Level: High, Sections: []string{"files.exec"},
		When:   "a shell started by an interpreter (python, node, ruby, perl → sh, bash)",
		Reason: "an interpreter starts a shell",
		cond: func(f *fact) (bool, string) {
			p := f.cur.interpParent[f.entry.Value]
			return p != "" && in(Shells, path.Base(f.entry.Value)), "started by " + p
		}},
	{Kind: "exec", Level: High, Sections: []string{"files.exec"},
		When:   "any other program",
		Reason: "runs a program the baseline never ran"},
	{Kind: "shell", Level: High, Sections: []string{"processes"},
		When:   "a known shell newly started by an interpreter",
		Reason: "an interpreter starts a shell",
		cond: func(f *fact) (bool, string) {
			pa := path.Base(f.proc.Parent())
			return isInterpreter(pa) && in(Shells, path.Base(f.proc.Exe)) && !f.base.pairs[f.proc.Parent()+" > "+f.proc.Exe], ""
		}},
	{Kind: "listen", Level: High, Sections: []string{"network.listen"},
		When:   "any address",
		Reason: "listens for connections"},
	{Kind: "write-outside", Level: High, Sections: allFileWrites,
		When:   "outside the workspace, temp directories and terminals/null devices",
		Reason: "changes files outside the workspace and temp directories",
		cond:   func(f *fact) (bool, string) { return !f.matchAll(ScratchPaths), "" }},
	{Kind: "unix-socket", Level: Medium, Sections: []string{"network.unix"},
		When:   "any other unix socket",
		Reason: "talks to a local service over a unix socket"},
	{Kind: "read-outside", Level: Medium, Sections: []string{"files.read"},
		When:   "outside system paths (/usr /lib* /bin /sbin /etc /proc /sys /dev /opt), the workspace and temp directories",
		Reason: "reads outside system paths, the workspace and temp directories",
		cond: func(f *fact) (bool, string) {
			return !f.matchAll(SystemPaths) && !f.matchAll(ScratchPaths), ""
		}},
	{Kind: "memfd", Level: Medium, Sections: []string{"files.other"},
		When:   "memfd_create",
		Reason: "creates an in-memory file (used by JITs, and for fileless execution)",
		cond:   func(f *fact) (bool, string) { return f.entry.Op == "memfd", "" }},
	{Kind: "process", Level: Medium, Sections: []string{"processes"},
		When:   "a known downloader with new arguments",
		Reason: "runs a downloader with new arguments",
		cond:   func(f *fact) (bool, string) { return in(Downloaders, path.Base(f.proc.Exe)), "" }},
	{Kind: "process", Level: Low, Sections: []string{"processes"},
		When:   "a known program with new arguments or a new parent",
		Reason: "runs a known program with new arguments or from a new parent"},
	{Kind: "syscall", Level: Low, Sections: []string{"syscalls"},
		When:   "any syscall (or, with counts, a new order of magnitude)",
		Reason: "makes a new kind of syscall"},
	{Kind: "write", Level: None, Sections: allFileWrites,
		When:   "inside the workspace or temp directories",
		Reason: "changes files inside the workspace or temp directories"},
	{Kind: "read", Level: None, Sections: []string{"files.read"},
		When:   "system paths, the workspace, temp directories",
		Reason: "reads a system, workspace or temp file"},
}

func isSecret(f *fact) (bool, string) {
	if f.matchGlobs(NotSecrets) {
		return false, ""
	}
	return f.matchTable(Secrets)
}

func afterSecret(f *fact) (bool, string) {
	if f.cur.secret == "" || isLocal(f.entry.Value) {
		return false, ""
	}
	return true, "this run read " + f.cur.secret
}

// RemovedLevel is the level of behaviour that the baseline has and the run
// no longer shows.
const RemovedLevel = Low

// fact is what rules look at for one new entry.
type fact struct {
	section string
	entry   baseline.Entry
	proc    baseline.Process // processes section only
	cur     *view
	base    *view
}

// targets are the paths a rule's globs are tested against: both names of
// a rename or link, the path otherwise.
func (f *fact) targets() []string {
	if f.entry.To != "" && (f.section == "files.rename" || f.entry.Op == "link") {
		return []string{f.entry.Value, f.entry.To}
	}
	return []string{f.entry.Value}
}

// unresolved reports whether a target is not a path the kernel resolved
// (see store.PathState): the recorder keeps such a path as written, so it
// holds a ".." component, is relative, or starts with "..." (cut at the top).
// Globs must not rate it as the plausible absolute path it looks like.
func (f *fact) unresolved() bool {
	ts := f.targets()
	if f.entry.Op == "symlink" {
		ts = []string{f.entry.To} // Value is the link's text, not a path used now
	}
	for _, v := range ts {
		if strings.Contains(v, "/../") || strings.HasSuffix(v, "/..") || strings.HasPrefix(v, "...") || strings.HasPrefix(v, "../") {
			return true
		}
		// relative: not "/...", a placeholder ($WORKSPACE/...) or a kernel
		// name of a pseudo file (pipe:[*], memfd:x, anon_inode:...)
		if v != "" && !strings.HasPrefix(v, "/") && !strings.HasPrefix(v, "$") && !pseudoFile.MatchString(v) {
			return true
		}
	}
	return false
}

var pseudoFile = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*:`)

func (f *fact) matchTable(t []Pattern) (bool, string) {
	for _, v := range f.targets() {
		for _, p := range t {
			if matchPath(p.Glob, v) {
				return true, p.What
			}
		}
	}
	return false, ""
}

func (f *fact) matchGlobs(gs []string) bool {
	for _, v := range f.targets() {
		for _, g := range gs {
			if matchPath(g, v) {
				return true
			}
		}
	}
	return false
}

// matchAll reports whether every target matches one of gs.
func (f *fact) matchAll(gs []string) bool {
	for _, v := range f.targets() {
		ok := false
		for _, g := range gs {
			if matchPath(g, v) {
				ok = true
				break
			}
		}
		if !ok {
			return false
		}
	}
	return true
}

func (f *fact) setuid() bool {
	m, err := strconv.ParseUint(f.entry.Mode, 8, 32)
	return err == nil && m&0o6000 != 0
}

// matchPath matches a risk glob; "~/" stands for any home directory.
func matchPath(glob, v string) bool {
	if rest, ok := strings.CutPrefix(glob, "~/"); ok {
		return baseline.Match("$HOME/"+rest, v) || baseline.Match("/root/"+rest, v) || baseline.Match("/home/*/"+rest, v)
	}
	return baseline.Match(glob, v)
}

func in(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// isInterpreter accepts versioned names too (python3.12, perl5.36).
func isInterpreter(base string) bool {
	if in(Interpreters, base) {
		return true
	}
	return in(Interpreters, strings.TrimRight(base, "0123456789.*"))
}

// isLocal reports whether an egress entry ("host:port[/udp]") is loopback.
func isLocal(v string) bool {
	host := v
	if i := strings.LastIndex(v, ":"); i > 0 {
		host = v[:i]
	}
	host = strings.Trim(host, "[]")
	return strings.HasPrefix(host, "127.") || host == "::1" || host == "localhost"
}

// classify finds the rule for a new entry.
func classify(f *fact) (Rule, string, bool) {
	for _, r := range Rules {
		if !in(r.Sections, f.section) {
			continue
		}
		detail := ""
		if r.cond != nil {
			ok, d := r.cond(f)
			if !ok {
				continue
			}
			detail = d
		}
		return r, detail, true
	}
	return Rule{}, "", false
}

// RiskTableMarkdown renders the rules and pattern tables as Markdown, as
// included in docs/risk.md.
func RiskTableMarkdown() string {
	var b strings.Builder
	b.WriteString("| level | kind | section(s) | when |\n|---|---|---|---|\n")
	for _, r := range Rules {
		fmt.Fprintf(&b, "| %s | `%s` | %s | %s |\n", r.Level, r.Kind, strings.Join(r.Sections, ", "), r.When)
	}
	fmt.Fprintf(&b, "| %s | `removed` | any | behaviour in the baseline (not optional) that the run no longer shows |\n", RemovedLevel)
	b.WriteString("\nSecrets (reading any of these, or trying to, is critical; `~/` is any home directory):\n\n| glob | what |\n|---|---|\n")
	for _, p := range Secrets {
		fmt.Fprintf(&b, "| `%s` | %s |\n", p.Glob, p.What)
	}
	fmt.Fprintf(&b, "\nNot secrets (templates): `%s`\n", strings.Join(NotSecrets, "` `"))
	b.WriteString("\nPersistence locations (a write, create, chmod, rename or link there is critical):\n\n| glob | what |\n|---|---|\n")
	for _, p := range Persistence {
		fmt.Fprintf(&b, "| `%s` | %s |\n", p.Glob, p.What)
	}
	fmt.Fprintf(&b, "\nSystem paths (reads are informational): `%s`\n", strings.Join(SystemPaths, "` `"))
	fmt.Fprintf(&b, "\nScratch paths (writes are informational): `%s`\n", strings.Join(ScratchPaths, "` `"))
	fmt.Fprintf(&b, "\nDownloaders: %s\n", strings.Join(Downloaders, ", "))
	fmt.Fprintf(&b, "\nInterpreters: %s (also versioned, e.g. python3.12)\n", strings.Join(Interpreters, ", "))
	fmt.Fprintf(&b, "\nShells: %s\n", strings.Join(Shells, ", "))
	fmt.Fprintf(&b, "\nContainer runtime sockets: `%s`\n", strings.Join(RuntimeSockets, "` `"))
	return b.String()
}
