// Package baselinetest builds fake store.Trace values for tests of the
// baseline and diff packages: a Builder to describe events by hand, and
// Benign, a realistic run of a small build whose nondeterministic details
// (pids, times, temp names, uuids, ephemeral ports, resolved addresses,
// number of workers, checkout directory) all depend on a seed.
package baselinetest
