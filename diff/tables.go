package diff

import (
	"path"
	"strings"
)

// Tables the rules of risk.go look things up in, beside the secret and
// persistence tables there. docs/risk.md shows every one of them.

// ClusterSecrets are credentials a container or cloud host mounts for its
// workload: reading any of them is as critical as reading Secrets.
var ClusterSecrets = []Pattern{
	{"/var/run/secrets/**", "a mounted workload secret (Kubernetes service-account token)"},
	{"/run/secrets/**", "a mounted workload secret (Kubernetes service-account token)"},
	{"/etc/kubernetes/pki/**", "Kubernetes cluster certificates and keys"},
	{"/etc/kubernetes/*.conf", "a Kubernetes kubeconfig"},
	{"/var/lib/kubelet/pki/**", "kubelet certificates and keys"},
}

// SensitiveReads are system files that hold no secret of the workload but
// tell an attacker how to gain privilege (sudo rules, PAM).
var SensitiveReads = []Pattern{
	{"/etc/sudoers", "sudo rules"},
	{"/etc/sudoers.d", "sudo rules"},
	{"/etc/sudoers.d/**", "sudo rules"},
	{"/etc/pam.conf", "PAM configuration"},
	{"/etc/security/opasswd", "old password hashes"},
	{"/etc/security/pwquality.conf", "the password policy"},
}

// Recon are kernel interfaces and other processes' internals that ordinary
// programs have no reason to read. $PID matches any process id but "self".
var Recon = []Pattern{
	{"/proc/$PID/environ", "another process's environment"},
	{"/proc/$PID/task/$TID/environ", "another process's environment"},
	{"/proc/$PID/mem", "another process's memory"},
	{"/proc/$PID/task/$TID/mem", "another process's memory"},
	{"/proc/$PID/maps", "another process's memory map"},
	{"/proc/$PID/smaps", "another process's memory map"},
	{"/proc/kallsyms", "kernel symbol addresses"},
	{"/proc/sched_debug", "the scheduler's view of every task"},
	{"/proc/timer_list", "kernel timers"},
	{"/proc/modules", "loaded kernel modules"},
	{"/proc/sys/kernel/randomize_va_space", "the ASLR setting"},
	{"/sys/kernel/debug", "kernel debugfs"},
	{"/sys/kernel/debug/**", "kernel debugfs"},
	{"/sys/kernel/tracing/**", "kernel tracing"},
	{"/sys/kernel/security/**", "kernel security modules"},
	{"/sys/fs/bpf/**", "pinned eBPF objects"},
	{"/boot/System.map*", "kernel symbol addresses"},
}

// KernelTamper are files whose change alters how the kernel or the
// dynamic loader treats every process: container escapes and code injection.
var KernelTamper = []Pattern{
	{"/proc/sys/kernel/core_pattern", "the core dump handler (runs a program as root)"},
	{"/proc/sys/kernel/modprobe", "the module loader helper (runs a program as root)"},
	{"/proc/sys/kernel/hotplug", "the hotplug helper (runs a program as root)"},
	{"/proc/sys/kernel/sysrq", "the magic SysRq key"},
	{"/proc/sysrq-trigger", "the magic SysRq key"},
	{"/proc/sys/kernel/randomize_va_space", "ASLR"},
	{"**/release_agent", "a cgroup release agent (runs a program as root)"},
	{"**/notify_on_release", "cgroup release notification"},
	{"/proc/$PID/mem", "another process's memory (code injection)"},
	{"/proc/$PID/task/$TID/mem", "another process's memory (code injection)"},
	{"/proc/self/mem", "its own memory through /proc (code injection)"},
	{"/proc/self/exe", "the running program's binary (runc CVE-2019-5736)"},
	{"/proc/$PID/exe", "a running program's binary (runc CVE-2019-5736)"},
	{"/lib*/ld-linux*", "the dynamic loader"},
	{"/lib/*/ld-linux*", "the dynamic loader"},
	{"/usr/lib*/ld-linux*", "the dynamic loader"},
	{"/usr/lib/*/ld-linux*", "the dynamic loader"},
	{"/lib*/ld-musl*", "the dynamic loader"},
	{"/sys/kernel/**", "kernel settings"},
	{"/sys/fs/cgroup/**", "cgroup settings"},
}

// RawDevices give raw access to memory or disks.
var RawDevices = []string{
	"/dev/mem", "/dev/kmem", "/dev/port", "/proc/kcore", "/dev/sd*", "/dev/hd*", "/dev/vd*", "/dev/xvd*",
	"/dev/nvme*", "/dev/mmcblk*", "/dev/dm-*", "/dev/mapper/**", "/dev/md*", "/dev/loop*", "/dev/disk/**",
}

// MetadataHosts are cloud instance metadata services: they hand out the
// instance's credentials to anyone who asks.
var MetadataHosts = []string{
	"169.254.169.254", "fd00:ec2::254", "169.254.170.2", "100.100.100.200",
	"metadata.google.internal", "metadata.goog", "metadata", "instance-data", "instance-data.ec2.internal",
	"metadata.azure.com",
}

// ExploitSyscalls are syscalls ordinary programs do not make and kernel
// exploits lean on.
var ExploitSyscalls = []string{"userfaultfd", "kexec_load", "kexec_file_load"}

// MinerPorts are ports of common cryptocurrency mining pools.
var MinerPorts = []string{"3333", "3334", "3335", "3336", "3357", "4444", "5555", "5556", "5588", "5730", "6099", "6666", "7777", "7778", "14433", "14444", "45560", "45700"}

// InjectEnv are loader variables that put code into every program started
// with them.
var InjectEnv = []string{"LD_PRELOAD", "LD_AUDIT", "GLIBC_TUNABLES", "LD_DEBUG_OUTPUT", "LD_PROFILE", "DYLD_INSERT_LIBRARIES"}

// RuntimeEnv are variables that change which code a runtime, shell or tool
// loads or runs.
var RuntimeEnv = []string{
	"LD_LIBRARY_PATH", "LD_BIND_NOW", "PYTHONPATH", "PYTHONSTARTUP", "PYTHONHOME", "PYTHONINSPECT", "PYTHONUSERBASE",
	"NODE_OPTIONS", "NODE_PATH", "PERL5OPT", "PERL5LIB", "PERLLIB", "RUBYOPT", "RUBYLIB", "BASH_ENV", "ENV",
	"PROMPT_COMMAND", "SHELLOPTS", "PS4", "JAVA_TOOL_OPTIONS", "_JAVA_OPTIONS", "JDK_JAVA_OPTIONS", "CLASSPATH",
	"GIT_SSH", "GIT_SSH_COMMAND", "GIT_EXEC_PATH", "GIT_ASKPASS", "SSH_ASKPASS", "GCONV_PATH", "LOCPATH",
	"HOSTALIASES", "RESOLV_HOST_CONF", "MALLOC_CHECK_", "LUA_INIT", "LUA_PATH", "LUA_CPATH", "PHPRC", "PHP_INI_SCAN_DIR",
}

// ProxyEnv redirect a program's network traffic.
var ProxyEnv = []string{"http_proxy", "https_proxy", "HTTP_PROXY", "HTTPS_PROXY", "all_proxy", "ALL_PROXY", "ftp_proxy", "FTP_PROXY"}

// ResolverSockets are the local name services glibc asks on every lookup.
var ResolverSockets = []string{
	"/var/run/nscd/socket", "/run/nscd/socket", "/run/systemd/resolve/**", "/var/run/systemd/resolve/**",
	"/run/systemd/userdb/**",
}

// ToolDirs are where a text tool must live to be rated as one: a program
// of the same name anywhere else (the workspace, /tmp) is unknown.
var ToolDirs = []string{"/usr/bin", "/bin", "/usr/sbin", "/sbin"}

// TextTools only transform files and text. Everything they do to files, the
// network and privilege is traced and rated on its own, so running one for
// the first time is low. Programs they start (find -exec, xargs, env) are
// new programs of their own.
var TextTools = []string{
	"[", "awk", "b2sum", "base32", "base64", "basename", "basenc", "bunzip2", "bzcat", "bzip2", "cat", "chmod",
	"cksum", "cmp", "column", "comm", "cp", "cpio", "csplit", "cut", "date", "dd", "df", "diff", "diff3", "dirname",
	"du", "echo", "egrep", "env", "expand", "expr", "false", "fgrep", "file", "find", "fmt", "fold", "gawk",
	"getconf", "grep", "gunzip", "gzip", "head", "hexdump", "iconv", "id", "install", "jq", "join", "ln", "locale",
	"ls", "lz4", "mawk", "md5sum", "mkdir", "mkfifo", "mktemp", "mv", "nawk", "nice", "nl", "nohup", "nproc",
	"numfmt", "od", "paste", "patch", "pr", "printenv", "printf", "pwd", "readlink", "realpath", "rev", "rm",
	"rmdir", "sdiff", "sed", "seq", "sha1sum", "sha224sum", "sha256sum", "sha384sum", "sha512sum", "shuf",
	"sleep", "sort", "split", "stat", "stdbuf", "strings", "sum", "sync", "tac", "tail", "tar", "tee", "test",
	"timeout", "touch", "tr", "true", "truncate", "tsort", "uname", "unexpand", "uniq", "unxz", "unzip",
	"unzstd", "wc", "which", "whoami", "xargs", "xxd", "xz", "xzcat", "yes", "zcat", "zip", "zstd",
}

// Capable are programs that reach the network, change privilege, install
// software, control containers or build executables: new ones stay high
// even though their effects are traced too, and the finding says why.
var Capable = []Pattern{
	{"ssh", "reaches the network"}, {"git", "reaches the network"}, {"rsync", "reaches the network"},
	{"nmap", "reaches the network"}, {"tcpdump", "reaches the network"}, {"dig", "reaches the network"},
	{"nslookup", "reaches the network"}, {"ping", "reaches the network"},
	{"pip", "installs packages"}, {"pip3", "installs packages"}, {"pipx", "installs packages"}, {"uv", "installs packages"},
	{"npm", "installs packages"}, {"npx", "installs packages"}, {"yarn", "installs packages"}, {"pnpm", "installs packages"},
	{"gem", "installs packages"}, {"bundle", "installs packages"}, {"cargo", "installs packages"},
	{"apt", "installs packages"}, {"apt-get", "installs packages"}, {"dpkg", "installs packages"},
	{"yum", "installs packages"}, {"dnf", "installs packages"}, {"rpm", "installs packages"}, {"apk", "installs packages"},
	{"sudo", "changes privilege"}, {"su", "changes privilege"}, {"doas", "changes privilege"}, {"pkexec", "changes privilege"},
	{"runuser", "changes privilege"}, {"setpriv", "changes privilege"}, {"chroot", "changes privilege"},
	{"nsenter", "changes privilege"}, {"unshare", "changes privilege"}, {"capsh", "changes privilege"},
	{"setcap", "changes privilege"}, {"chown", "changes privilege"}, {"mount", "changes privilege"},
	{"insmod", "changes privilege"}, {"modprobe", "changes privilege"}, {"useradd", "changes privilege"},
	{"usermod", "changes privilege"}, {"passwd", "changes privilege"}, {"chpasswd", "changes privilege"},
	{"crontab", "changes privilege"}, {"systemctl", "changes privilege"},
	{"docker", "controls containers or clusters"}, {"podman", "controls containers or clusters"},
	{"kubectl", "controls containers or clusters"}, {"helm", "controls containers or clusters"},
	{"crictl", "controls containers or clusters"}, {"ctr", "controls containers or clusters"},
	{"nerdctl", "controls containers or clusters"},
	{"gcc", "builds executables"}, {"cc", "builds executables"}, {"g++", "builds executables"}, {"c++", "builds executables"},
	{"clang", "builds executables"}, {"clang++", "builds executables"}, {"ld", "builds executables"},
	{"as", "builds executables"}, {"rustc", "builds executables"}, {"go", "builds executables"}, {"tcc", "builds executables"},
}

// Decoders turn encoded text back into a payload when given these
// arguments (program → any of the arguments; "" means always).
var Decoders = map[string][]string{
	"base64": {"-d", "--decode", "-D"}, "base32": {"-d", "--decode"}, "basenc": {"-d", "--decode"},
	"xxd": {"-r", "-revert"}, "openssl": {"-d", "-decode"}, "uudecode": {""},
}

// KeySearchWords in a search program's arguments mean it looks for keys.
var KeySearchWords = []string{
	"id_rsa", "id_dsa", "id_ecdsa", "id_ed25519", "BEGIN PRIVATE", "BEGIN RSA PRIVATE", "BEGIN OPENSSH PRIVATE",
	"BEGIN DSA PRIVATE", "BEGIN EC PRIVATE", "aws_secret_access_key", "aws_access_key_id", ".pem", "authorized_keys",
}

// KeySearchers are the programs KeySearchWords apply to.
var KeySearchers = []string{"grep", "egrep", "fgrep", "rg", "ag", "ack", "find", "locate", "mlocate", "plocate"}

func isTextTool(exe string) bool {
	return in(ToolDirs, path.Dir(exe)) && in(TextTools, path.Base(exe))
}

// capability names what a Capable program can do ("" when not listed).
func capability(exe string) string {
	b := path.Base(exe)
	for _, p := range Capable {
		if p.Glob == b {
			return p.What
		}
	}
	if isInterpreter(b) {
		return "runs arbitrary code"
	}
	return ""
}

// filelessPaths name a program by file descriptor.
var filelessPaths = []string{"/dev/fd/*", "/proc/self/fd/*", "/proc/thread-self/fd/*", "/proc/$PID/fd/*", "/proc/$PID/task/$TID/fd/*"}

func isFileless(v string) bool {
	if strings.HasPrefix(v, "memfd:") || strings.Contains(v, "/memfd:") {
		return true
	}
	ok, _ := filelessSet.match(v)
	return ok
}

func isMetadata(v string) bool {
	host := strings.TrimSuffix(v, "/udp")
	switch {
	case strings.HasPrefix(host, "["):
		host = host[1:strings.IndexByte(host+"]", ']')]
	case strings.Contains(host, ":"):
		host = host[:strings.LastIndexByte(host, ':')]
	}
	host = strings.TrimPrefix(strings.ToLower(host), "::ffff:") // IPv4-mapped IPv6 reaches the IPv4 service
	return in(MetadataHosts, strings.TrimSuffix(host, "."))
}

func minerPort(f *fact) (bool, string) {
	if isLocal(f.entry.Value) {
		return false, ""
	}
	_, port := splitHostPort(f.entry.Value)
	return in(MinerPorts, port), ""
}

// envName splits an env entry "EXE NAME" into its program and name.
func envName(v string) (exe, name string) {
	i := strings.LastIndexByte(v, ' ')
	if i < 0 {
		return "", v
	}
	return v[:i], v[i+1:]
}

func (f *fact) envIn(names []string) (bool, string) {
	exe, name := envName(f.entry.Value)
	if !in(names, name) {
		return false, ""
	}
	if f.base.exes[exe] {
		return true, "on " + exe + ", which the baseline runs without it"
	}
	return true, "on " + exe
}

// linkSensitive reports a link or symlink whose target is a secret, a
// persistence location or a sensitive file. A relative target is tried
// joined to the link's directory and, since a normalised directory
// ($WORKSPACE) cannot be resolved, also with its leading "../" stripped and
// read from the root: "../../../etc/shadow" is /etc/shadow.
func linkSensitive(f *fact) (bool, string) {
	if f.entry.Op != "link" && f.entry.Op != "symlink" || f.entry.To == "" {
		return false, ""
	}
	ts := linkTargets(f.entry.Value, f.entry.To)
	// A link to a directory that holds secrets or persistence locations
	// ("/", "/etc", "/root") makes every file below it reachable through
	// an innocent-looking workspace path, which the trace then records.
	for _, t := range ts[:1] {
		if what := holdsSensitive(t); what != "" {
			return true, t + " (a directory holding " + what + ")"
		}
	}
	for _, t := range ts {
		g := &fact{section: "files.read", entry: f.entry, cur: f.cur, base: f.base}
		g.entry.Value, g.entry.To, g.entry.Op = t, "", ""
		if ok, what := isSecret(g); ok {
			return true, t + " (" + what + ")"
		}
		for _, tbl := range []*pathSet{persistenceSet, sensitiveReadSet, kernelTamperSet} {
			if ok, what := g.matchTable(tbl); ok {
				return true, t + " (" + what + ")"
			}
		}
	}
	return false, ""
}

// holdsSensitive names a table entry below directory dir ("" if none).
func holdsSensitive(dir string) string {
	dir = strings.TrimSuffix(dir, "/")
	if dir == "" {
		return "every file"
	}
	for _, p := range sensitiveParents {
		if p.glob.Match(dir) {
			return p.what
		}
	}
	return ""
}

// expandHome spells a "~/" glob for every home directory.
func expandHome(g string) []string {
	rest, ok := strings.CutPrefix(g, "~/")
	if !ok {
		return []string{g}
	}
	return []string{"$HOME/" + rest, "/root/" + rest, "/home/*/" + rest}
}

// linkTargets lists where a link points: the first element is the target
// as given (absolute) or joined to the link's directory (relative).
func linkTargets(link, to string) []string {
	if strings.HasPrefix(to, "/") || strings.HasPrefix(to, "$") {
		return []string{path.Clean(to)}
	}
	out := []string{path.Join(path.Dir(link), to)}
	t := path.Clean(to)
	for strings.HasPrefix(t, "../") {
		t = t[3:]
	}
	return append(out, "/"+t)
}

// parentChain is the chain of a process's parent ("" for the root).
func parentChain(chain string) string {
	if i := strings.LastIndex(chain, " > "); i >= 0 {
		return chain[:i]
	}
	return ""
}

// readsCode reports how a shell or interpreter gets its code: "stdin"
// (no script operand, "-", "-s"), "arg" (-c, -e, ...) or "" (a script file).
func readsCode(exe string, argv []string) string {
	b := path.Base(exe)
	shell := in(Shells, b)
	if !shell && !isInterpreter(b) {
		return ""
	}
	args := argv
	if len(args) > 0 {
		args = args[1:]
	}
	for _, a := range args {
		switch {
		case a == "-" || a == "-s":
			return "stdin"
		case a == "-c" || (shell && strings.HasPrefix(a, "-") && !strings.HasPrefix(a, "--") && strings.Contains(a, "c")):
			return "arg"
		case !shell && (a == "-e" || a == "-E" || a == "--eval" || a == "-p" || a == "--print" || (a == "-r" && strings.HasPrefix(b, "php"))):
			return "arg"
		case a == "--":
			continue
		case a == "/dev/stdin" || a == "/dev/fd/0" || a == "/proc/self/fd/0":
			return "stdin"
		case !strings.HasPrefix(a, "-"):
			return "" // a script file
		}
	}
	return "stdin"
}

// feedsStdout reports whether a process is a downloader writing what it
// fetched to standard output, or a decoder: something whose output a pipe
// or a command substitution can hand to a shell.
func feedsStdout(p processView) bool {
	b := path.Base(p.exe)
	args := p.argv
	if len(args) > 0 {
		args = args[1:]
	}
	if flags, ok := Decoders[b]; ok {
		for _, a := range args {
			for _, fl := range flags {
				if fl == "" || a == fl {
					return true
				}
			}
		}
		return len(flags) == 1 && flags[0] == ""
	}
	switch b {
	case "curl":
		for _, a := range args {
			if a == "--output" || a == "--remote-name" || a == "--remote-name-all" || strings.HasPrefix(a, "--output=") {
				return false
			}
			if strings.HasPrefix(a, "-") && !strings.HasPrefix(a, "--") && strings.ContainsAny(a, "oO") {
				return false
			}
		}
		return true
	case "wget":
		for i, a := range args {
			if a == "--output-document=-" || a == "-O-" || (strings.HasPrefix(a, "-") && !strings.HasPrefix(a, "--") && strings.HasSuffix(a, "O-")) {
				return true
			}
			if (a == "-O" || a == "--output-document" || (strings.HasPrefix(a, "-") && !strings.HasPrefix(a, "--") && strings.HasSuffix(a, "O"))) && i+1 < len(args) && args[i+1] == "-" {
				return true
			}
		}
		return false
	case "nc", "ncat", "netcat", "socat", "telnet":
		return true
	}
	return false
}

type processView struct {
	exe  string
	argv []string
}

// pipeExec: a shell or interpreter taking code from stdin or an argument,
// with a sibling (same parent chain) that fed it downloaded or decoded text;
// or, seen from the other side, a new feeder beside an approved code reader
// (curl added in front of an approved "python3 -"). The baseline keeps no
// pipe or timing, so siblings stand in for the pipe: an unrelated
// "curl | jq" beside a heredoc "python3 -" is rated critical too (it is a
// new downloader, high, either way).
func pipeExec(f *fact) (bool, string) {
	pc := parentChain(f.proc.Chain)
	how := readsCode(f.proc.Exe, f.proc.Argv)
	feeds := feedsStdout(processView{f.proc.Exe, f.proc.Argv})
	if how == "" && !feeds {
		return false, ""
	}
	for _, q := range f.cur.b.Processes {
		if q.Key() == f.proc.Key() || parentChain(q.Chain) != pc {
			continue
		}
		if how != "" && feedsStdout(processView{q.Exe, q.Argv}) {
			return true, "code from " + how + ", fed by " + strings.Join(q.Argv, " ")
		}
		if feeds && how == "" {
			if h := readsCode(q.Exe, q.Argv); h == "stdin" {
				return true, "feeds " + strings.Join(q.Argv, " ") + ", which reads code from stdin"
			}
		}
	}
	return false, ""
}

func reverseShell(f *fact) (bool, string) {
	b := path.Base(f.proc.Exe)
	for _, a := range f.proc.Argv[min(1, len(f.proc.Argv)):] {
		switch b {
		case "nc", "ncat", "netcat":
			if a == "-e" || a == "-c" || a == "--exec" || a == "--sh-exec" || a == "--lua-exec" || strings.HasPrefix(a, "--exec=") || strings.HasPrefix(a, "--sh-exec=") {
				return true, a
			}
		case "socat":
			u := strings.ToUpper(a)
			if strings.Contains(u, "EXEC:") || strings.Contains(u, "SYSTEM:") {
				return true, a
			}
		}
	}
	return false, ""
}

func keySearch(f *fact) (bool, string) {
	if !in(KeySearchers, path.Base(f.proc.Exe)) {
		return false, ""
	}
	for _, a := range f.proc.Argv {
		for _, w := range KeySearchWords {
			if strings.Contains(strings.ToLower(a), strings.ToLower(w)) {
				return true, "looks for " + w
			}
		}
	}
	return false, ""
}
