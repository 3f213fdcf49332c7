// Package fleetprovider provides the `fleet` confmap provider: it serves the
// remote configuration fragment the agent runs, from the state directory the
// fleet_agent extension keeps, and tells the collector to reload when that
// fragment changes. Passed last, `--config fleet:DIR` merges the fragment
// over the local configuration files.
//
//go:generate mdatagen metadata.yaml
package fleetprovider // import "github.com/fleetlog/fleetlog/confmap/provider/fleetprovider"
