package secrets

import (
	"path"
	"strings"
)

// Entry is one secret location.
//
// Glob is either home-relative ("~/.ssh": in every home directory, /root and
// /home/*), absolute ("/etc/shadow"), or a pattern anywhere ("**/.env").
// "*" matches within one path element, "**" across elements.
type Entry struct {
	Glob string
	What string
	// Dir means the location is a directory: everything below it is secret
	// too, and the sandbox hides it with an empty directory.
	Dir bool
}

// Table lists every secret location. Entries whose Glob starts with "**/"
// can sit anywhere (often in the workspace, where they are the program's
// own input), so they are rated but not masked; see Maskable.
var Table = []Entry{
	{"~/.ssh", "SSH keys", true},
	{"~/.aws", "AWS credentials", true},
	{"~/.kube", "Kubernetes credentials", true},
	{"~/.config/gcloud", "Google Cloud credentials", true},
	{"~/.azure", "Azure credentials", true},
	{"~/.docker", "Docker registry credentials", true},
	{"~/.gnupg", "GnuPG keys", true},
	{"~/.netrc", "netrc passwords", false},
	{"~/.git-credentials", "git credentials", false},
	{"~/.config/git/credentials", "git credentials", false},
	{"~/.config/gh", "GitHub CLI token", true},
	{"~/.npmrc", "npm token", false},
	{"~/.pypirc", "PyPI token", false},
	{"~/.config/pip/pip.conf", "pip index credentials", false},
	{"~/.cargo/credentials*", "crates.io token", false},
	{"~/.gem/credentials", "RubyGems token", false},
	{"~/.terraform.d/credentials.tfrc.json", "Terraform token", false},
	{"~/.vault-token", "Vault token", false},
	{"~/.password-store", "pass password store", true},
	{"~/.local/share/keyrings", "desktop keyring", true},
	{"~/.mozilla", "a browser profile", true},
	{"~/.config/google-chrome", "a browser profile", true},
	{"~/.config/chromium", "a browser profile", true},
	{"/etc/ssh/ssh_host_*key", "SSH host keys", false},
	{"/etc/shadow", "system password hashes", false},
	{"/etc/shadow-", "system password hashes", false},
	{"/etc/gshadow", "system group password hashes", false},
	{"/etc/gshadow-", "system group password hashes", false},
	{"/etc/security/opasswd", "old password hashes", false},
	{"/etc/ssl/private", "TLS private keys", true},
	{"/etc/kubernetes", "Kubernetes node credentials", true},
	{"/etc/rancher", "k3s cluster credentials", true},
	{"/var/lib/kubelet/pki", "kubelet credentials", true},
	{"/var/run/secrets", "Kubernetes service account token", true},
	{"/run/secrets", "container and Kubernetes secrets", true},
	{"/var/lib/waagent", "Azure VM agent certificates", true},
	{"/var/lib/cloud/instance", "cloud-init user data (often holds credentials)", true},
	{"/var/lib/google", "Google Cloud guest credentials", true},
	{"**/.env", "a .env file", false},
	{"**/.env.*", "a .env file", false},
	{"**/.npmrc", "npm token", false},
}

// NotSecrets are exceptions to Table: templates that hold no secret.
var NotSecrets = []string{"**/.env.example", "**/.env.sample", "**/.env.template", "**/.env.dist", "**/.env.defaults"}

// Maskable reports whether the sandbox can hide e: it names a place under a
// home directory or an absolute place, not a pattern that may match anywhere.
func (e Entry) Maskable() bool { return !strings.HasPrefix(e.Glob, "**") }

// Globs returns the path globs a read is matched against: the entry itself
// and, for a directory, everything below it.
func (e Entry) Globs() []string {
	if e.Dir {
		return []string{e.Glob, e.Glob + "/**"}
	}
	return []string{e.Glob}
}

// MaskGlobs expands the maskable entries for the given home directories
// (absolute paths such as /root and /home/alice) into absolute globs that
// may still contain "*" within a path element.
func MaskGlobs(homes []string) []string {
	var out []string
	for _, e := range Table {
		if !e.Maskable() {
			continue
		}
		if rest, ok := strings.CutPrefix(e.Glob, "~/"); ok {
			for _, h := range homes {
				out = append(out, path.Join(h, rest))
			}
			continue
		}
		out = append(out, e.Glob)
	}
	return out
}
