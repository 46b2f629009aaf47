// Package socktest gives tests a unix socket on the host that counts what
// reaches it: the target the sandbox's host-socket policy and the sensor's
// peer checks are tested against, in every package that needs one.
package socktest
