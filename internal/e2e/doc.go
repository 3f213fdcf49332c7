// Package e2e runs the real fleetlog binaries as separate processes on
// loopback, for the integration tests (test/integration) and the fault
// suite (test/chaos): processes that can be stopped or killed, certificates
// from fleetlogctl, a gateway and an agent on the shipped configs, a TCP
// relay between them that can hold, refuse or forget flows, and counts of
// what the archive holds. It is test support, not part of any binary.
package e2e // import "github.com/fleetlog/fleetlog/internal/e2e"
