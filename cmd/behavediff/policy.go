package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"

	"github.com/behavediff/behavediff/baseline"
	"github.com/behavediff/behavediff/policy"
	"github.com/behavediff/behavediff/snapshot"
)

const policyAbout = `
Prints what --enforce would apply for spec NAME, derived from its approved
baseline (.behavediff/baselines/NAME.yaml):

  allowlist  the egress allow-list, one --allow endpoint per line (the
             baseline's successful network.egress entries; failed attempts,
             loopback and datagram entries are left out and listed on stderr)
  json       the same as {"allow": [...], "skipped": [{"entry", "reason"}]}
  seccomp    the seccomp profile (OCI/docker JSON: docker run --security-opt
             seccomp=FILE, a Kubernetes localhost profile): the baseline's
             syscalls plus what runc needs between loading the filter and the
             command's first exec (which a recording never sees), and exit and
             exit_group; anything else fails with EPERM`

func (a *app) policy(_ context.Context, args []string) (int, error) {
	fs := a.newFlags("policy", "[--format allowlist|json|seccomp] NAME", policyAbout)
	format := fs.String("format", "allowlist", "output `format`: allowlist, json or seccomp")
	pos, err := parseInterleaved(fs, args)
	if err != nil {
		return exitUsage, err
	}
	if len(pos) != 1 {
		return exitUsage, usageError("policy wants one spec NAME")
	}
	switch *format {
	case "allowlist", "json", "seccomp":
	default:
		return exitUsage, usageError("bad --format %q: want allowlist, json or seccomp", *format)
	}
	if err := snapshot.ValidName(pos[0]); err != nil {
		return exitUsage, err
	}
	p, err := project()
	if err != nil {
		return exitUsage, err
	}
	path := p.BaselinePath(pos[0])
	b, err := baseline.Load(path)
	if errors.Is(err, os.ErrNotExist) {
		return exitUsage, fmt.Errorf("%w for %s (%s): approve a run first with: behavediff approve %s", policy.ErrNoBaseline, pos[0], path, pos[0])
	}
	if err != nil {
		return exitUsage, err
	}
	if *format == "seccomp" {
		enc := json.NewEncoder(a.stdout)
		enc.SetIndent("", "  ")
		return exitOK, enc.Encode(policy.Seccomp(b))
	}
	allow, skipped := policy.Allowlist(b)
	if *format == "json" {
		type skip struct {
			Entry  string `json:"entry"`
			Reason string `json:"reason"`
		}
		out := struct {
			Allow   []string `json:"allow"`
			Skipped []skip   `json:"skipped"`
		}{Allow: append([]string{}, allow...), Skipped: []skip{}}
		for _, s := range skipped {
			out.Skipped = append(out.Skipped, skip{s.Entry, s.Reason})
		}
		enc := json.NewEncoder(a.stdout)
		enc.SetIndent("", "  ")
		return exitOK, enc.Encode(out)
	}
	for _, e := range allow {
		fmt.Fprintln(a.stdout, e)
	}
	for _, s := range skipped {
		fmt.Fprintf(a.stderr, "# not allowed: %s (%s)\n", s.Entry, s.Reason)
	}
	return exitOK, nil
}
