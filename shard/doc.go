// Package shard splits a project's specs between the N runners of a CI
// matrix: each spec belongs to exactly one shard, chosen by a hash of its
// name, so adding or removing a spec never moves another one (a position-
// based split would reshuffle every spec after it, and with it every
// runner's cache and timing).
package shard
