// Package replay re-executes a stored run spec through the recorder, so CI
// on another machine can run exactly what a developer approved. Where specs
// live in a repository is the snapshot package's business.
package replay
