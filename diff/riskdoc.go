package diff

import (
	"fmt"
	"sort"
	"strings"
)

// RiskTableMarkdown renders the rules and pattern tables as Markdown, as
// included in docs/risk.md.
func RiskTableMarkdown() string {
	var b strings.Builder
	b.WriteString("| level | rule | kind | section(s) | when | peers |\n|---|---|---|---|---|---|\n")
	for _, r := range Rules {
		cell := strings.NewReplacer("|", "\\|").Replace
		fmt.Fprintf(&b, "| %s | `%s` | `%s` | %s | %s | %s |\n", r.Level, r.ID, r.Kind, strings.Join(r.Sections, ", "), cell(r.When), cell(strings.Join(r.Peers, "; ")))
	}
	fmt.Fprintf(&b, "| %s | `%s` | `removed` | any | behaviour in the baseline (not optional) that the run no longer shows | |\n", RemovedLevel, RemovedRule)
	table := func(title string, t []Pattern) {
		b.WriteString("\n" + title + "\n\n| glob | what |\n|---|---|\n")
		for _, p := range t {
			fmt.Fprintf(&b, "| `%s` | %s |\n", p.Glob, p.What)
		}
	}
	table("Secrets (reading any of these, or trying to, is critical; `~/` is any home directory):", Secrets)
	fmt.Fprintf(&b, "\nNot secrets (templates): `%s`\n", strings.Join(NotSecrets, "` `"))
	fmt.Fprintf(&b, "\nbehavediff's own files (any change, even attempted, is critical): `%s`\n", strings.Join(ProjectFiles, "` `"))
	table("Workload secrets (as critical as the secrets above):", ClusterSecrets)
	table("Persistence locations (a write, create, chmod, rename or link there is critical):", Persistence)
	table("Kernel and loader control files (a write there is critical):", KernelTamper)
	table("Sensitive system configuration (a read is high):", SensitiveReads)
	table("Reconnaissance (a read is high; `$PID` is another process, not `self`):", Recon)
	fmt.Fprintf(&b, "\nRaw memory and disk devices (critical): `%s`\n", strings.Join(RawDevices, "` `"))
	fmt.Fprintf(&b, "\nSystem paths (reads are informational): `%s`\n", strings.Join(SystemPaths, "` `"))
	fmt.Fprintf(&b, "\nScratch paths (writes are informational): `%s`\n", strings.Join(ScratchPaths, "` `"))
	fmt.Fprintf(&b, "\nDownloaders: %s\n", strings.Join(Downloaders, ", "))
	fmt.Fprintf(&b, "\nInterpreters: %s (also versioned, e.g. python3.12)\n", strings.Join(Interpreters, ", "))
	fmt.Fprintf(&b, "\nShells: %s\n", strings.Join(Shells, ", "))
	fmt.Fprintf(&b, "\nFile and text tools (a new one is low when it runs from %s): %s\n", strings.Join(ToolDirs, ", "), strings.Join(TextTools, ", "))
	b.WriteString("\nNetwork, privilege, package, container and build programs (a new one is high, and the finding says why):\n\n| can | programs |\n|---|---|\n")
	var whats []string
	progs := map[string][]string{}
	for _, p := range Capable {
		if progs[p.What] == nil {
			whats = append(whats, p.What)
		}
		progs[p.What] = append(progs[p.What], p.Glob)
	}
	for _, w := range whats {
		fmt.Fprintf(&b, "| %s | %s |\n", w, strings.Join(progs[w], ", "))
	}
	dec := make([]string, 0, len(Decoders))
	for k, v := range Decoders {
		dec = append(dec, strings.TrimSpace(k+" "+strings.Trim(strings.Join(v, "|"), "|")))
	}
	sort.Strings(dec)
	fmt.Fprintf(&b, "\nDecoders (feeding a shell or interpreter is download-and-execute): `%s`\n", strings.Join(dec, "` `"))
	fmt.Fprintf(&b, "\nKey searches (%s with any of): `%s`\n", strings.Join(KeySearchers, ", "), strings.Join(KeySearchWords, "` `"))
	fmt.Fprintf(&b, "\nCloud metadata services: `%s`\n", strings.Join(MetadataHosts, "` `"))
	fmt.Fprintf(&b, "\nMining pool ports: %s\n", strings.Join(MinerPorts, ", "))
	fmt.Fprintf(&b, "\nExploit syscalls: %s\n", strings.Join(ExploitSyscalls, ", "))
	fmt.Fprintf(&b, "\nCode-injecting loader variables: `%s`\n", strings.Join(InjectEnv, "` `"))
	fmt.Fprintf(&b, "\nRuntime variables: `%s`\n", strings.Join(RuntimeEnv, "` `"))
	fmt.Fprintf(&b, "\nProxy variables: `%s`\n", strings.Join(ProxyEnv, "` `"))
	fmt.Fprintf(&b, "\nName-service sockets (expected): `%s`\n", strings.Join(ResolverSockets, "` `"))
	fmt.Fprintf(&b, "\nContainer runtime sockets: `%s`\n", strings.Join(RuntimeSockets, "` `"))
	return b.String()
}

// RuleByID returns the risk table row with the given id, for reports that
// describe rules (SARIF): its level, kind, condition and peers.
func RuleByID(id string) (Rule, bool) {
	for _, r := range Rules {
		if r.ID == id {
			return r, true
		}
	}
	return Rule{}, false
}
