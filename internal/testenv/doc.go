// Package testenv decides whether a privileged test can run here. Locally a
// missing prerequisite skips with the reason; in CI (CI=true) it fails, so a
// missing install step can never turn the end-to-end suite into skips.
package testenv
