package diff

import (
	"path"
	"regexp"
	"strconv"
	"strings"

	"github.com/behavediff/behavediff/baseline"
	"github.com/behavediff/behavediff/internal/secrets"
)

// This file and tables.go are the single source of the risk policy.
// docs/risk.md shows the same tables (riskdoc.go renders them;
// TestRiskDocInSync keeps them in step: go test ./diff -update rewrites the
// generated part of the doc).

// Pattern is a path glob with a human description. Globs starting "~/" match
// in any home directory ($HOME, /root, /home/*); "**" crosses directories.
type Pattern struct {
	Glob string
	What string
}

// Secrets are files whose read (even a failed attempt) is critical. They
// come from the one secret table (internal/secrets) that also drives the
// sandbox's masks, so the sandbox never hides less than the diff flags.
var Secrets = secretPatterns()

// NotSecrets are exceptions to Secrets: templates that hold no secret.
var NotSecrets = secrets.NotSecrets

func secretPatterns() []Pattern {
	var out []Pattern
	for _, e := range secrets.Table {
		for _, g := range e.Globs() {
			out = append(out, Pattern{g, e.What})
		}
	}
	return out
}

// ProjectFiles are behavediff's own files (specs, baselines, the trace
// database): the sandbox hides them and a run has no business changing them.
var ProjectFiles = []string{"**/.behavediff", "**/.behavediff/**"}

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
	ID       string // stable rule id (BD-...), for SARIF and suppressions
	Kind     string
	Level    Level
	Sections []string
	When     string   // the condition, for docs/risk.md
	Reason   string   // the finding's reason; cond may add detail
	Peers    []string // the peer rules it corresponds to: "falco:RULE NAME", "tracee:TRC-N"
	cond     func(f *fact) (ok bool, detail string)
}

// Rules is the risk table, most severe first.
var Rules = []Rule{
	{ID: "BD-RACED-PATH", Kind: "raced-path", Level: Critical, Sections: append([]string{"files.read", "files.exec"}, allFileWrites...),
		When:   "a path argument that changed while the kernel was using it (`raced:` before the path): another thread or process rewrote the caller's memory during the call, which honest code never does; the path shown is the kernel's copy (else the one from syscall entry)",
		Reason: "rewrites a path argument while the kernel uses it (an attempt to fool the trace)",
		cond:   func(f *fact) (bool, string) { return f.raced(), "" }},
	{ID: "BD-SECRET-READ", Kind: "secret-read", Level: Critical, Sections: []string{"files.read"},
		When:   "path is a secret or a directory of secrets (tables below); also when the attempt failed",
		Reason: "reads a secret",
		Peers:  []string{"falco:Read sensitive file untrusted", "falco:Read ssh information", "falco:Find AWS Credentials", "tracee:TRC-108", "tracee:TRC-1018"},
		cond:   isSecret},
	{ID: "BD-LINK-SENSITIVE", Kind: "link-sensitive", Level: Critical, Sections: []string{"files.other"},
		When:   "a link or symlink whose target is a secret, a persistence location or a sensitive file (relative targets resolved both ways)",
		Reason: "links to a secret or a place that makes code run later",
		Peers:  []string{"falco:Create Symlink Over Sensitive Files", "falco:Create Hardlink Over Sensitive Files"},
		cond:   linkSensitive},
	{ID: "BD-BEHAVEDIFF-FILES", Kind: "behavediff-files", Level: Critical, Sections: allFileWrites,
		When:   "path is in a .behavediff directory (behavediff's specs, baselines, trace database), attempted or done",
		Reason: "tries to change behavediff's own files (baselines, traces)",
		cond:   func(f *fact) (bool, string) { return f.matchGlobs(projectFileSet), "" }},
	{ID: "BD-PERSISTENCE", Kind: "persistence", Level: Critical, Sections: writeSections,
		When:   "path is a persistence location (table below)",
		Reason: "writes a place that makes code run later or grants access",
		Peers:  []string{"falco:Modify Shell Configuration File", "falco:Schedule Cron Jobs", "falco:Adding ssh keys to authorized_keys", "tracee:TRC-1026", "tracee:TRC-1027", "tracee:TRC-1028"},
		cond:   func(f *fact) (bool, string) { return f.matchTable(persistenceSet) }},
	{ID: "BD-KERNEL-TAMPER", Kind: "kernel-tamper", Level: Critical, Sections: writeSections,
		When:   "path is a kernel or loader control file (table below): core_pattern, release_agent, sysrq, another process's memory, the dynamic loader",
		Reason: "changes how the kernel or the dynamic loader behaves (container escape, code injection)",
		Peers:  []string{"falco:Detect release_agent File Container Escapes", "tracee:TRC-1010", "tracee:TRC-106", "tracee:TRC-1011", "tracee:TRC-1031", "tracee:TRC-1024", "tracee:TRC-1012"},
		cond:   func(f *fact) (bool, string) { return f.matchTable(kernelTamperSet) }},
	{ID: "BD-SETUID", Kind: "setuid", Level: Critical, Sections: []string{"files.chmod"},
		When:   "mode has setuid or setgid",
		Reason: "makes a file setuid/setgid",
		Peers:  []string{"falco:Set Setuid or Setgid bit"},
		cond:   func(f *fact) (bool, string) { return f.setuid(), "" }},
	{ID: "BD-RAW-DEVICE", Kind: "raw-device", Level: Critical, Sections: append([]string{"files.read"}, writeSections...),
		When:   "a raw memory or disk device (/dev/mem, /dev/kmem, /dev/sd*, /dev/nvme*, ...) or /proc/kcore",
		Reason: "opens raw memory or a raw disk",
		Peers:  []string{"falco:Privileged Container Device Access", "tracee:TRC-1021"},
		cond:   func(f *fact) (bool, string) { return f.matchGlobs(rawDeviceSet), "" }},
	{ID: "BD-DOWNLOAD-EXEC", Kind: "download-exec", Level: Critical, Sections: []string{"files.exec"},
		When:   "the program was written, created, renamed or linked into place by the same run",
		Reason: "runs a file this run wrote (download and execute)",
		Peers:  []string{"falco:Drop and execute new binary in container", "tracee:TRC-1022"},
		cond:   func(f *fact) (bool, string) { return f.cur.written[f.entry.Value], "" }},
	{ID: "BD-FILELESS-EXEC", Kind: "fileless-exec", Level: Critical, Sections: []string{"files.exec"},
		When:   "the program is an in-memory file or a file descriptor (memfd:..., /dev/fd/N, /proc/self/fd/N, /proc/PID/fd/N)",
		Reason: "runs an in-memory file or a file descriptor (fileless execution)",
		Peers:  []string{"falco:Fileless execution via memfd_create", "tracee:TRC-105"},
		cond:   func(f *fact) (bool, string) { return isFileless(f.entry.Value), "" }},
	{ID: "BD-PIPE-EXEC", Kind: "download-exec", Level: Critical, Sections: []string{"processes"},
		When:   "a shell or interpreter reading its code from stdin or -c, beside a downloader or decoder started by the same parent (curl ... | sh, base64 -d | python3 -, sh -c \"$(curl ...)\")",
		Reason: "runs code fed by a downloader or decoder (download and execute)",
		Peers:  []string{"falco:Decoding Payload in Container", "falco:Netcat Remote Code Execution in Container"},
		cond:   pipeExec},
	{ID: "BD-REVERSE-SHELL", Kind: "reverse-shell", Level: Critical, Sections: []string{"processes"},
		When:   "a network tool told to run a program for its peer (nc -e, ncat --exec, socat EXEC:/SYSTEM:)",
		Reason: "gives a network peer a program to talk to (reverse shell)",
		Peers:  []string{"falco:Netcat Remote Code Execution in Container", "falco:Netcat/Socat Remote Code Execution on Host", "tracee:TRC-101"},
		cond:   reverseShell},
	{ID: "BD-ENV-INJECT", Kind: "env", Level: Critical, Sections: []string{"env"},
		When:   "a loader variable that injects code into every program (LD_PRELOAD, LD_AUDIT, GLIBC_TUNABLES, ...)",
		Reason: "sets a loader variable that injects code into programs",
		Peers:  []string{"tracee:TRC-107", "falco:Potential Local Privilege Escalation via Environment Variables Misuse"},
		cond:   func(f *fact) (bool, string) { return f.envIn(InjectEnv) }},
	{ID: "BD-UNRESOLVED-PATH", Kind: "unresolved-path", Level: Critical, Sections: append([]string{"files.exec"}, allFileWrites...),
		When:   "the path is not the kernel's: a `..` after a component that may be a symlink, relative, cut at the top (`...`), or read only when the call returned (`late:`); it could be any file",
		Reason: "changes or runs a file whose real path is unknown (could be any file)",
		cond:   func(f *fact) (bool, string) { return f.unresolved(), "" }},
	{ID: "BD-COMPAT-SYSCALL", Kind: "compat-syscall", Level: Critical, Sections: []string{"privileged"},
		When:   "a syscall through a non-native ABI (`compat:NAME`: i386 `int $0x80`, x32), refused by the sandbox or not",
		Reason: "makes a syscall through a non-native ABI, a way around syscall monitoring",
		cond:   func(f *fact) (bool, string) { return strings.HasPrefix(f.entry.Value, "compat:"), "" }},
	{ID: "BD-PRIV-DROP", Kind: "priv", Level: Low, Sections: []string{"privileged"},
		When:   "prctl that only gives up privileges (PR_SET_NO_NEW_PRIVS, PR_CAPBSET_DROP)",
		Reason: "gives up privileges",
		cond: func(f *fact) (bool, string) {
			v := f.entry.Value
			return strings.HasPrefix(v, "prctl option=PR_SET_NO_NEW_PRIVS") || strings.HasPrefix(v, "prctl option=PR_CAPBSET_DROP"), ""
		}},
	{ID: "BD-PRIV", Kind: "priv", Level: Critical, Sections: []string{"privileged"},
		When:   "any other privilege or namespace syscall (setuid, unshare, setns, mount, ptrace, bpf, init_module, ...), attempted or done",
		Reason: "makes a privilege or namespace syscall",
		Peers:  []string{"falco:Change thread namespace", "falco:Change namespace privileges via unshare", "falco:PTRACE attached to process", "falco:Linux Kernel Module Injection Detected", "falco:Non sudo setuid", "tracee:TRC-102", "tracee:TRC-103", "tracee:TRC-1014", "tracee:TRC-1017", "tracee:TRC-1025"}},
	{ID: "BD-METADATA", Kind: "metadata", Level: Critical, Sections: []string{"network.egress", "network.dns"},
		When:   "a cloud metadata service (169.254.169.254, fd00:ec2::254, metadata.google.internal, ...)",
		Reason: "contacts a cloud metadata service (instance credentials)",
		Peers:  []string{"falco:Contact EC2 Instance Metadata Service From Container", "falco:Contact cloud metadata service from container"},
		cond:   func(f *fact) (bool, string) { return isMetadata(f.entry.Value), "" }},
	{ID: "BD-EXFIL", Kind: "egress", Level: Critical, Sections: []string{"network.egress"},
		When:   "not loopback, and the same run read a secret (even if that read failed)",
		Reason: "connects to a new destination in a run that read a secret, possible exfiltration",
		cond:   afterSecret},
	{ID: "BD-EXFIL-DNS", Kind: "dns", Level: Critical, Sections: []string{"network.dns"},
		When:   "the same run read a secret (even if that read failed)",
		Reason: "looks up a new name in a run that read a secret, possible exfiltration",
		cond:   afterSecret},
	{ID: "BD-MINER-PORT", Kind: "egress", Level: Critical, Sections: []string{"network.egress"},
		When:   "a mining pool port (3333, 4444, 5555, 14444, 45700, ...) off the machine",
		Reason: "connects to a mining pool port",
		Peers:  []string{"falco:Detect outbound connections to common miner pool ports"},
		cond:   minerPort},
	{ID: "BD-RUNTIME-SOCKET", Kind: "runtime-socket", Level: Critical, Sections: []string{"network.unix"},
		When:   "a container runtime socket (docker.sock, containerd.sock, ...)",
		Reason: "talks to a container runtime socket (control of the host)",
		Peers:  []string{"tracee:TRC-1019"},
		cond:   func(f *fact) (bool, string) { return f.matchGlobs(runtimeSocketSet), "" }},
	{ID: "BD-PACKET-SOCKET", Kind: "socket", Level: High, Sections: []string{"network.socket"},
		When:   "a packet socket or a raw IP socket (sniffing, spoofing)",
		Reason: "opens a packet or raw socket",
		Peers:  []string{"falco:Packet socket created in container"},
		cond: func(f *fact) (bool, string) {
			v := f.entry.Value
			return strings.HasPrefix(v, "packet ") || v == "inet raw" || v == "inet6 raw", ""
		}},
	{ID: "BD-SENSITIVE-READ", Kind: "sensitive-read", Level: High, Sections: []string{"files.read"},
		When:   "path is sensitive system configuration (sudoers, PAM; table below)",
		Reason: "reads sensitive system configuration",
		Peers:  []string{"falco:Read sensitive file untrusted"},
		cond:   func(f *fact) (bool, string) { return f.matchTable(sensitiveReadSet) }},
	{ID: "BD-RECON", Kind: "recon", Level: High, Sections: []string{"files.read"},
		When:   "kernel or other-process reconnaissance (table below): /proc/PID/environ|mem|maps, /proc/kallsyms, /proc/sched_debug, /sys/kernel/debug, ...",
		Reason: "inspects the kernel or other processes",
		Peers:  []string{"falco:Read environment variable from /proc files", "tracee:TRC-1023", "tracee:TRC-1029", "tracee:TRC-109"},
		cond:   func(f *fact) (bool, string) { return f.matchTable(reconSet) }},
	{ID: "BD-ENV-RUNTIME", Kind: "env", Level: High, Sections: []string{"env"},
		When:   "a variable that changes what code a runtime or shell loads (LD_LIBRARY_PATH, PYTHONPATH, NODE_OPTIONS, BASH_ENV, ...)",
		Reason: "sets a variable that changes what code a program loads",
		Peers:  []string{"tracee:TRC-107"},
		cond:   func(f *fact) (bool, string) { return f.envIn(RuntimeEnv) }},
	{ID: "BD-EGRESS-LOCAL", Kind: "egress", Level: Low, Sections: []string{"network.egress"},
		When:   "loopback destination (127.0.0.0/8, ::1)",
		Reason: "connects to a new local service",
		cond:   func(f *fact) (bool, string) { return isLocal(f.entry.Value), "" }},
	{ID: "BD-UNRESOLVED-READ", Kind: "unresolved-path", Level: High, Sections: []string{"files.read"},
		When:   "a read of a path that is not the kernel's (`..` after a possible symlink, relative, `...`, `late:`); a secret-looking one is critical above",
		Reason: "reads a file whose real path is unknown (could be any file)",
		cond:   func(f *fact) (bool, string) { return f.unresolved(), "" }},
	{ID: "BD-EGRESS", Kind: "egress", Level: High, Sections: []string{"network.egress"},
		When:   "any other destination",
		Reason: "connects to a new destination",
		Peers:  []string{"falco:Network Connection outside Local Subnet", "falco:Unexpected UDP Traffic"}},
	{ID: "BD-DNS", Kind: "dns", Level: High, Sections: []string{"network.dns"},
		When:   "any name",
		Reason: "looks up a new DNS name"},
	{ID: "BD-EXEC-DOWNLOADER", Kind: "exec", Level: High, Sections: []string{"files.exec"},
		When:   "a downloader (curl, wget, nc, socat, scp, ...)",
		Reason: "runs a downloader, which can fetch code or data from the network or send it out",
		Peers:  []string{"falco:Launch Suspicious Network Tool in Container", "falco:Launch Remote File Copy Tools in Container"},
		cond:   func(f *fact) (bool, string) { return in(Downloaders, path.Base(f.entry.Value)), "" }},
	{ID: "BD-INTERP-SHELL", Kind: "exec", Level: High, Sections: []string{"files.exec"},
		When:   "a shell started by an interpreter (python, node, ruby, perl → sh, bash)",
		Reason: "an interpreter starts a shell",
		Peers:  []string{"falco:Run shell untrusted", "tracee:TRC-1016"},
		cond: func(f *fact) (bool, string) {
			p := f.cur.interpParent[f.entry.Value]
			return p != "" && in(Shells, path.Base(f.entry.Value)), "started by " + p
		}},
	{ID: "BD-EXEC-TOOL", Kind: "exec", Level: Low, Sections: []string{"files.exec"},
		When:   "a system program that only transforms files and text (table below), from /usr/bin, /bin, /usr/sbin or /sbin: what it does to files is rated on its own",
		Reason: "runs a new file and text tool (its file, network and privilege effects are rated separately)",
		cond:   func(f *fact) (bool, string) { return isTextTool(f.entry.Value), "" }},
	{ID: "BD-EXEC", Kind: "exec", Level: High, Sections: []string{"files.exec"},
		When:   "any other program: interpreters, shells, network and privilege tools (table below), unknown binaries",
		Reason: "runs a program the baseline never ran",
		Peers:  []string{"falco:Kubernetes Client Tool Launched in Container", "falco:Launch Package Management Process in Container", "falco:User mgmt binaries", "falco:Sudo Potential Privilege Escalation"},
		cond: func(f *fact) (bool, string) {
			if what := capability(f.entry.Value); what != "" {
				return true, what
			}
			return true, ""
		}},
	{ID: "BD-SHELL", Kind: "shell", Level: High, Sections: []string{"processes"},
		When:   "a known shell newly started by an interpreter",
		Reason: "an interpreter starts a shell",
		Peers:  []string{"falco:Run shell untrusted", "tracee:TRC-1016"},
		cond: func(f *fact) (bool, string) {
			pa := path.Base(f.proc.Parent())
			return isInterpreter(pa) && in(Shells, path.Base(f.proc.Exe)) && !f.base.pairs[f.proc.Parent()+" > "+f.proc.Exe], ""
		}},
	{ID: "BD-KEY-SEARCH", Kind: "key-search", Level: High, Sections: []string{"processes"},
		When:   "a search (grep, find, locate, ...) for private keys or passwords in its arguments",
		Reason: "searches for private keys or passwords",
		Peers:  []string{"falco:Search Private Keys or Passwords"},
		cond:   keySearch},
	{ID: "BD-LISTEN", Kind: "listen", Level: High, Sections: []string{"network.listen"},
		When:   "any address",
		Reason: "listens for connections",
		Peers:  []string{"falco:Unexpected inbound connection source"}},
	{ID: "BD-MEMFD", Kind: "memfd", Level: Medium, Sections: []string{"files.other"},
		When:   "memfd_create",
		Reason: "creates an in-memory file (used by JITs, and for fileless execution)",
		cond:   func(f *fact) (bool, string) { return f.entry.Op == "memfd", "" }},
	{ID: "BD-WRITE-OUTSIDE", Kind: "write-outside", Level: High, Sections: allFileWrites,
		When:   "outside the workspace, temp directories and terminals/null devices",
		Reason: "changes files outside the workspace and temp directories",
		Peers:  []string{"falco:Write below etc", "falco:Write below binary dir", "falco:Write below root", "falco:Create files below dev", "falco:Clear Log Activities", "falco:Delete or rename shell history"},
		cond:   func(f *fact) (bool, string) { return !f.matchAll(scratchSet), "" }},
	{ID: "BD-SOCKET", Kind: "socket", Level: Medium, Sections: []string{"network.socket"},
		When:   "any other unusual socket family or type (not netlink; ordinary unix, IPv4 and IPv6 sockets are not listed)",
		Reason: "opens an unusual kind of socket",
		cond:   func(f *fact) (bool, string) { return !strings.HasPrefix(f.entry.Value, "netlink "), "" }},
	{ID: "BD-UNIX-RESOLVER", Kind: "unix-socket", Level: None, Sections: []string{"network.unix"},
		When:   "a name-service socket (nscd, systemd-resolved, systemd userdb): glibc tries them on every lookup",
		Reason: "asks the local name service",
		cond:   func(f *fact) (bool, string) { return f.matchGlobs(resolverSocketSet), "" }},
	{ID: "BD-UNIX-SOCKET", Kind: "unix-socket", Level: Medium, Sections: []string{"network.unix"},
		When:   "any other unix socket",
		Reason: "talks to a local service over a unix socket"},
	{ID: "BD-READ-OUTSIDE", Kind: "read-outside", Level: Medium, Sections: []string{"files.read"},
		When:   "outside system paths (/usr /lib* /bin /sbin /etc /proc /sys /dev /opt), the workspace and temp directories",
		Reason: "reads outside system paths, the workspace and temp directories",
		Peers:  []string{"falco:Directory traversal monitored file read"},
		cond: func(f *fact) (bool, string) {
			return !f.matchAll(systemSet) && !f.matchAll(scratchSet), ""
		}},
	{ID: "BD-ENV-PROXY", Kind: "env", Level: Medium, Sections: []string{"env"},
		When:   "a proxy variable (http_proxy, HTTPS_PROXY, ALL_PROXY, ...): redirects a program's traffic",
		Reason: "sets a proxy variable",
		Peers:  []string{"falco:Program run with disallowed http proxy env"},
		cond:   func(f *fact) (bool, string) { return f.envIn(ProxyEnv) }},
	{ID: "BD-PROCESS-DOWNLOADER", Kind: "process", Level: Medium, Sections: []string{"processes"},
		When:   "a known downloader with new arguments",
		Reason: "runs a downloader with new arguments",
		cond:   func(f *fact) (bool, string) { return in(Downloaders, path.Base(f.proc.Exe)), "" }},
	{ID: "BD-SOCKET-NETLINK", Kind: "socket", Level: Low, Sections: []string{"network.socket"},
		When:   "a netlink socket (glibc uses one to list interfaces)",
		Reason: "opens a netlink socket"},
	{ID: "BD-PROCESS", Kind: "process", Level: Low, Sections: []string{"processes"},
		When:   "a known program with new arguments or a new parent",
		Reason: "runs a known program with new arguments or from a new parent"},
	{ID: "BD-EXPLOIT-SYSCALL", Kind: "syscall", Level: High, Sections: []string{"syscalls"},
		When:   "a syscall kernel exploits lean on (userfaultfd, kexec_load, ...; table below)",
		Reason: "makes a syscall kernel exploits lean on",
		Peers:  []string{"falco:Unprivileged Delegation of Page Faults Handling to a Userspace Process"},
		cond: func(f *fact) (bool, string) {
			name, _, _ := strings.Cut(f.entry.Value, " ")
			return in(ExploitSyscalls, name), ""
		}},
	{ID: "BD-SYSCALL", Kind: "syscall", Level: Low, Sections: []string{"syscalls"},
		When:   "any syscall (or, with counts, a new order of magnitude); all of a run's new syscalls are one finding",
		Reason: "makes new kinds of syscall"},
	{ID: "BD-ENV-OTHER", Kind: "env", Level: None, Sections: []string{"env"},
		When:   "any other variable name",
		Reason: "runs a program with a new environment variable"},
	{ID: "BD-WRITE", Kind: "write", Level: None, Sections: allFileWrites,
		When:   "inside the workspace or temp directories",
		Reason: "changes files inside the workspace or temp directories"},
	{ID: "BD-READ", Kind: "read", Level: None, Sections: []string{"files.read"},
		When:   "system paths, the workspace, temp directories",
		Reason: "reads a system, workspace or temp file"},
}

// isSecret matches the secret tables; a directory read counts when the
// directory holds secrets (grep -r ~/.aws lists it before reading inside).
func isSecret(f *fact) (bool, string) {
	if f.matchGlobs(notSecretSet) {
		return false, ""
	}
	for _, t := range []*pathSet{secretSet, clusterSecretSet} {
		if ok, what := f.matchTable(t); ok {
			return true, what
		}
		for _, v := range f.targets() {
			if !strings.HasSuffix(v, "/") {
				if ok, what := t.matchDir(v); ok {
					return true, what
				}
			}
		}
	}
	return false, ""
}

func afterSecret(f *fact) (bool, string) {
	if isLocal(f.entry.Value) {
		return false, ""
	}
	s := f.cur.readSecret()
	if s == "" {
		return false, ""
	}
	return true, "this run read " + s
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

// rawTargets are the entry's paths as written in the baseline: both names
// of a rename or link, the path otherwise.
func (f *fact) rawTargets() []string {
	if f.entry.To != "" && (f.section == "files.rename" || f.entry.Op == "link") {
		return []string{f.entry.Value, f.entry.To}
	}
	return []string{f.entry.Value}
}

// targets are the paths a rule's globs are tested against: rawTargets
// without the sensor's raced/late marks, so a secret stays a secret.
func (f *fact) targets() []string {
	t := f.rawTargets()
	for i, v := range t {
		t[i], _ = baseline.CutPathMark(v)
	}
	return t
}

// raced reports whether a path argument changed while the kernel used it.
func (f *fact) raced() bool {
	for _, v := range f.rawTargets() {
		if strings.HasPrefix(v, baseline.RacedPrefix) {
			return true
		}
	}
	return false
}

// unresolved reports whether a target is not a path the kernel resolved
// (see store.PathState): the recorder keeps such a path as written, so it
// holds a ".." component, is relative, or starts with "..." (cut at the top).
// Globs must not rate it as the plausible absolute path it looks like.
func (f *fact) unresolved() bool {
	// For a symlink, targets is the new link's path (Value): its text (To)
	// is not a path the kernel used now, and relative texts are normal.
	for _, v := range f.rawTargets() {
		if strings.HasPrefix(v, baseline.LatePrefix) {
			return true // read when the call returned (store.PathLate)
		}
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

func (f *fact) matchTable(t *pathSet) (bool, string) {
	for _, v := range f.targets() {
		if ok, what := t.match(v); ok {
			return true, what
		}
	}
	return false, ""
}

func (f *fact) matchGlobs(gs *pathSet) bool {
	ok, _ := f.matchTable(gs)
	return ok
}

// matchAll reports whether every target matches one of gs.
func (f *fact) matchAll(gs *pathSet) bool {
	for _, v := range f.targets() {
		if ok, _ := gs.match(v); !ok {
			return false
		}
	}
	return true
}

func (f *fact) setuid() bool {
	m, err := strconv.ParseUint(f.entry.Mode, 8, 32)
	return err == nil && m&0o6000 != 0
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
