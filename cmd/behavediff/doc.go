// Command behavediff records what a program does in a sandbox and fails like
// a snapshot test when its behaviour changes in a risky way.
//
// This package only wires flags to the recorder, store, snapshot, baseline
// and diff packages and renders their results; workflows live in snapshot.
package main
