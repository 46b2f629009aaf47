package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"path/filepath"

	"github.com/behavediff/behavediff/snapshot"
)

const initAbout = `
Creates .behavediff/ at the root of the git work tree (or here, outside git)
with specs/, baselines/, a .gitignore for traces and pending files, and a
commented config.yaml: the default --fail-on, project-wide allow: globs and
redactions, and defaults for record (image, network, timeout, limits).
An existing config.yaml is kept.`

func (a *app) init(ctx context.Context, args []string) (int, error) {
	fs := a.newFlags("init", "", initAbout)
	pos, err := parseInterleaved(fs, args)
	if err != nil {
		return exitUsage, err
	}
	if len(pos) > 0 {
		return exitUsage, usageError("init takes no arguments")
	}
	p, err := project()
	if err != nil {
		return exitUsage, err
	}
	err = p.Init()
	if errors.Is(err, snapshot.ErrExists) {
		fmt.Fprintf(a.stderr, "init: %s already exists; kept it\n", p.ConfigPath())
		return exitOK, nil
	}
	if err != nil {
		return exitUsage, err
	}
	fmt.Fprintf(a.stderr, "init: created %s (edit %s, commit the folder)\nnext: behavediff record --name NAME -- CMD\n", p.Dir(), p.ConfigPath())
	return exitOK, nil
}

// config reads the project's config.yaml (zero when there is none).
func (a *app) config() (snapshot.Config, error) {
	p, err := project()
	if err != nil {
		return snapshot.Config{}, err
	}
	return p.LoadConfig()
}

// recordDefaults fills record flags the user did not give from the
// project's config.yaml (record: section).
func (a *app) recordDefaults(fs *flag.FlagSet, f *recordFlags) error {
	cfg, err := a.config()
	if err != nil {
		return err
	}
	set := map[string]bool{}
	fs.Visit(func(fl *flag.Flag) { set[fl.Name] = true })
	d := cfg.Record
	if !set["image"] && !set["rootfs"] && d.Image != "" {
		p, _ := project()
		f.image = d.Image
		if !filepath.IsAbs(f.image) {
			f.image = filepath.Join(p.Root, f.image)
		}
	}
	if !set["network"] && d.Network {
		f.network = true
	}
	if !set["timeout"] && d.Timeout > 0 {
		f.timeout = d.Timeout
	}
	if !set["memory"] && d.Memory > 0 {
		f.memory = d.Memory
	}
	if !set["pids"] && d.Pids > 0 {
		f.pids = d.Pids
	}
	return nil
}
