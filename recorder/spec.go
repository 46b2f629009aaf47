package recorder

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/behavediff/behavediff/recorder/egress"
	"github.com/behavediff/behavediff/recorder/sandbox"
)

// SpecVersion is the format version of a stored run spec. A spec written by a
// newer behavediff is refused rather than half-understood; older ones load.
// 2 added net, allow, add_hosts, insecure_registries, disk_bytes,
// tmpfs_bytes, cpus and user: a version-1 behavediff must refuse such a spec
// (in JSON it would silently drop them and replay without the policy).
const SpecVersion = 2

// Spec is everything needed to run the same command again in a fresh
// sandbox: it is stored with every run (runs.spec) and, for named runs, in
// the repository as .behavediff/specs/NAME.yaml so CI can replay it.
type Spec struct {
	Version   int      `json:"version" yaml:"version"`
	Name      string   `json:"name,omitempty" yaml:"name,omitempty"`
	Args      []string `json:"args" yaml:"args"`
	Workspace string   `json:"workspace" yaml:"workspace"`
	// Env holds the user's extra variables (--env). Values of names that look
	// secret are stored as RedactedValue and taken from the replaying
	// environment instead, so a token never lands in a trace or a repo.
	Env    []string `json:"env,omitempty" yaml:"env,omitempty"`
	Rootfs string   `json:"rootfs,omitempty" yaml:"rootfs,omitempty"`
	// Image is the root filesystem's image: a local OCI-layout or
	// docker-save tarball (an absolute path; unpacked once, offline, and
	// cached by content digest), or a registry reference pulled through
	// containerd (cached by manifest digest).
	Image string `json:"image,omitempty" yaml:"image,omitempty"`
	// InsecureRegistries are registry hosts (host:port) reached over plain
	// HTTP when pulling Image.
	InsecureRegistries []string `json:"insecure_registries,omitempty" yaml:"insecure_registries,omitempty"`
	Timeout            Duration `json:"timeout" yaml:"timeout"`
	// Network is the old spelling of Net "host".
	Network bool `json:"network,omitempty" yaml:"network,omitempty"`
	// Net is the network mode (NetNone, NetProxy, NetHost; "" = none, or
	// proxy when Allow is set). See NetMode.
	Net string `json:"net,omitempty" yaml:"net,omitempty"`
	// Allow lists the endpoints the egress proxy dials in proxy mode
	// (name:port, *.name:port, ip:port, cidr:port).
	Allow []string `json:"allow,omitempty" yaml:"allow,omitempty"`
	// AddHosts pins names to addresses (NAME:IP) for the proxy and the
	// sandbox's resolver.
	AddHosts []string `json:"add_hosts,omitempty" yaml:"add_hosts,omitempty"`
	// Stdin is the captured standard input (capped) when -i was used.
	Stdin       []byte `json:"stdin,omitempty" yaml:"stdin,omitempty"`
	MemoryBytes int64  `json:"memory_bytes,omitempty" yaml:"memory_bytes,omitempty"`
	PidsLimit   int64  `json:"pids_limit,omitempty" yaml:"pids_limit,omitempty"`
	// DiskBytes bounds the workspace's copy-on-write layer, TmpfsBytes /tmp,
	// CPUs the CPU bandwidth; 0 = the sandbox's defaults.
	DiskBytes  int64   `json:"disk_bytes,omitempty" yaml:"disk_bytes,omitempty"`
	TmpfsBytes int64   `json:"tmpfs_bytes,omitempty" yaml:"tmpfs_bytes,omitempty"`
	CPUs       float64 `json:"cpus,omitempty" yaml:"cpus,omitempty"`
	// User is the uid[:gid] the command runs as; "" = the workspace's owner.
	// With the user namespace it is the uid inside (0-65535).
	User string `json:"user,omitempty" yaml:"user,omitempty"`
	// UserNS is "off" to run without the sandbox's user namespace (host
	// ids; uid 0 is root on the host), for workspaces on filesystems that
	// cannot be idmapped (overlayfs, NFS, FUSE). "" or "on" = the
	// namespace. An older behavediff ignores the field and uses the
	// namespace, the stricter choice, so it needs no new spec version.
	UserNS string `json:"userns,omitempty" yaml:"userns,omitempty"`
}

// UserNSOff reports whether the spec runs without the user namespace.
func (s *Spec) UserNSOff() bool { return s.UserNS == "off" }

// Network modes.
const (
	NetNone  = "none"  // a network namespace with only loopback (the default)
	NetProxy = "proxy" // no route out; an egress proxy and resolver inside decide per name:port
	NetHost  = "host"  // the host's network namespace
)

// NetMode is the effective network mode: Network means host, an allow-list
// without a mode means proxy, nothing means none.
func (s *Spec) NetMode() string {
	switch {
	case s.Network:
		return NetHost
	case s.Net != "":
		return s.Net
	case len(s.Allow) > 0:
		return NetProxy
	}
	return NetNone
}

// validateNet checks the network settings (see NetMode).
func (s *Spec) validateNet() error {
	switch s.Net {
	case "", NetNone, NetProxy, NetHost:
	default:
		return fmt.Errorf("bad --net %q: want none, proxy or host", s.Net)
	}
	if s.Network && s.Net != "" && s.Net != NetHost {
		return fmt.Errorf("--network (the host's network) conflicts with --net %s", s.Net)
	}
	mode := s.NetMode()
	if len(s.Allow) > 0 && mode != NetProxy {
		return fmt.Errorf("--allow needs --net proxy (it implies it), not --net %s", mode)
	}
	if len(s.AddHosts) > 0 && mode != NetProxy {
		return fmt.Errorf("--add-host needs --net proxy, not --net %s", mode)
	}
	if _, err := egress.NewPolicy(s.Allow, s.AddHosts); err != nil {
		return err
	}
	return nil
}

// IsImageRef reports whether an --image value names an image in a
// registry (pulled) rather than a tarball (an absolute path).
func IsImageRef(s string) bool { return sandbox.IsImageRef(s) }

// RedactedValue replaces the value of a secret-looking variable in a stored spec.
const RedactedValue = "<redacted>"

// Duration is a time.Duration that reads and writes as "10m0s" text.
type Duration time.Duration

// MarshalText implements encoding.TextMarshaler.
func (d Duration) MarshalText() ([]byte, error) { return []byte(time.Duration(d).String()), nil }

// UnmarshalText implements encoding.TextUnmarshaler.
func (d *Duration) UnmarshalText(b []byte) error {
	v, err := time.ParseDuration(string(b))
	if err != nil {
		return fmt.Errorf("bad duration %q: %w", b, err)
	}
	*d = Duration(v)
	return nil
}

// DefaultTimeout bounds a run the user did not bound.
const DefaultTimeout = 10 * time.Minute

// CheckVersion refuses a spec written by a newer behavediff rather than
// half-understanding it.
func (s *Spec) CheckVersion() error {
	if s.Version > SpecVersion {
		return fmt.Errorf("run spec has format version %d, newer than this behavediff understands (%d): upgrade behavediff", s.Version, SpecVersion)
	}
	return nil
}

func requireDir(what, path string) error {
	st, err := os.Stat(path)
	if err != nil {
		return fmt.Errorf("%s %s: %w", what, path, err)
	}
	if !st.IsDir() {
		return fmt.Errorf("%s %s is not a directory", what, path)
	}
	return nil
}

// Validate checks a spec before anything is started, so bad input fails with
// a clear message and never leaves a half-written run behind.
func (s *Spec) Validate() error {
	if err := s.CheckVersion(); err != nil {
		return err
	}
	if len(s.Args) == 0 || s.Args[0] == "" {
		return errors.New("no command given: usage: behavediff record [flags] -- CMD [ARGS...]")
	}
	if s.Workspace == "" {
		return errors.New("no workspace given")
	}
	switch s.UserNS {
	case "", "on", "off":
	default:
		return fmt.Errorf("bad --userns %q: want on or off", s.UserNS)
	}
	if !filepath.IsAbs(s.Workspace) {
		return fmt.Errorf("workspace %q is not an absolute path", s.Workspace)
	}
	if err := requireDir("workspace", s.Workspace); err != nil {
		return err
	}
	if s.Rootfs != "" {
		if err := requireDir("rootfs", s.Rootfs); err != nil {
			return err
		}
	}
	if s.Image != "" {
		if s.Rootfs != "" {
			return errors.New("--image and --rootfs exclude each other")
		}
		st, err := os.Stat(s.Image)
		if err != nil && sandbox.IsImageRef(s.Image) {
			st = nil // pulled from a registry
		} else if err != nil {
			return fmt.Errorf("image %s: %w", s.Image, err)
		}
		if st != nil && st.IsDir() {
			return fmt.Errorf("image %s is a directory: pass an image tarball, or use --rootfs for an unpacked root filesystem", s.Image)
		}
	}
	for _, kv := range s.Env {
		if k, _, ok := strings.Cut(kv, "="); !ok || k == "" {
			return fmt.Errorf("bad --env %q: want NAME=VALUE", kv)
		}
	}
	if len(s.InsecureRegistries) > 0 && !sandbox.IsImageRef(s.Image) {
		return errors.New("--insecure-registry is for pulling --image REF from a registry")
	}
	if err := s.validateNet(); err != nil {
		return err
	}
	if s.Timeout < 0 {
		return fmt.Errorf("negative timeout %s", time.Duration(s.Timeout))
	}
	return nil
}

// IsSecretName reports whether an environment variable name looks like it
// holds a credential (*TOKEN*, *KEY*, *SECRET*, *PASSWORD*, ...).
func IsSecretName(name string) bool {
	u := strings.ToUpper(name)
	for _, w := range []string{"TOKEN", "KEY", "SECRET", "PASSWORD", "PASSWD", "CREDENTIAL", "AUTH"} {
		if strings.Contains(u, w) {
			return true
		}
	}
	return false
}

// Redacted returns a copy of the spec safe to store: secret-looking env
// values replaced by RedactedValue.
func (s Spec) Redacted() Spec {
	out := s
	out.Env = make([]string, len(s.Env))
	for i, kv := range s.Env {
		k, _, _ := strings.Cut(kv, "=")
		if IsSecretName(k) {
			kv = k + "=" + RedactedValue
		}
		out.Env[i] = kv
	}
	return out
}

// Unredact fills redacted env values from lookup (normally os.LookupEnv), so
// a replay in CI gets the secret from CI's environment. A redacted variable
// that lookup does not know is an error: running without it would record a
// different behaviour and make the diff lie.
func (s Spec) Unredact(lookup func(string) (string, bool)) (Spec, error) {
	out := s
	out.Env = make([]string, len(s.Env))
	for i, kv := range s.Env {
		k, v, _ := strings.Cut(kv, "=")
		if v == RedactedValue {
			real, ok := lookup(k)
			if !ok {
				return Spec{}, fmt.Errorf("spec needs secret variable %s: set it in the environment to replay", k)
			}
			kv = k + "=" + real
		}
		out.Env[i] = kv
	}
	return out, nil
}

// MarshalSpec encodes a spec (already redacted by the caller) as JSON.
func MarshalSpec(s Spec) ([]byte, error) { return json.Marshal(s) }

// UnmarshalSpec decodes and validates the version of a stored spec.
func UnmarshalSpec(b []byte) (Spec, error) {
	var s Spec
	if err := json.Unmarshal(b, &s); err != nil {
		return Spec{}, fmt.Errorf("decode run spec: %w", err)
	}
	if err := s.CheckVersion(); err != nil {
		return Spec{}, err
	}
	return s, nil
}

// BaseEnv is the minimal environment every sandboxed command gets; the
// host's environment is never passed in, so secrets stay out.
func BaseEnv(extra []string) []string {
	env := []string{
		"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
		"HOME=/root",
		"LANG=C.UTF-8",
		"TERM=xterm",
	}
	return mergeEnv(env, extra)
}

func mergeEnv(base, extra []string) []string {
	idx := map[string]int{}
	for i, kv := range base {
		k, _, _ := strings.Cut(kv, "=")
		idx[k] = i
	}
	out := append([]string(nil), base...)
	for _, kv := range extra {
		k, _, _ := strings.Cut(kv, "=")
		if i, ok := idx[k]; ok {
			out[i] = kv
			continue
		}
		idx[k] = len(out)
		out = append(out, kv)
	}
	return out
}
