//go:build !amd64 && !arm64

package bpf

// syscallNames is empty on architectures the sensor does not support.
var syscallNames = map[int]string{}
