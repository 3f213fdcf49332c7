// Command fleetsim puts a simulated fleet in front of the real gateway
// (bin/fleetlog with the shipped gateway config) on the loopback, in one of
// two modes:
//
//   - devices (the default): N devices, each with its own certificate from
//     the fleet's issuing path (internal/pki), each an OTLP/gRPC mutual-TLS
//     client sending the benchmark workload's lines as an agent does
//     (stamped by its spool, batched, zstd), at per-device rates drawn from
//     a heavy-tailed distribution, with bursts and reconnects. It reports
//     the gateway's records per second into the archive, its CPU-seconds
//     per million records and RSS (from /proc), the time from send to
//     acknowledgement, the connections it holds, the errors, and the
//     simulator's own CPU; it writes bench/results/fleet.md and fleet.svg.
//
//   - control: N agents speaking OpAMP to the gateway's fleet_control
//     (see control.go).
//
//     go run ./bench/fleetsim -bin bin/fleetlog                  # 2,000 devices
//     go run ./bench/fleetsim -bin bin/fleetlog -full            # 10,000 devices
//     go run ./bench/fleetsim -mode control -agents 1000 -window 2m
package main

import (
	"flag"
	"fmt"
	"log"
	"os"
	"time"
)

func main() {
	var (
		mode     = flag.String("mode", "devices", "devices (OTLP data path) or control (OpAMP control plane)")
		bin      = flag.String("bin", "bin/fleetlog", "gateway binary")
		root     = flag.String("root", ".", "repository root (for distributions/gateway/config.yaml)")
		keep     = flag.Bool("keep", false, "keep the working directory")
		overlay  = flag.String("config", "", "an extra gateway config overlay")
		agents   = flag.Int("agents", 1000, "control: simulated agents")
		interval = flag.Duration("interval", 30*time.Second, "control: each agent's report and poll interval")
		idle     = flag.Duration("idle", 20*time.Second, "control: idle baseline before the agents start")
		window   = flag.Duration("window", 2*time.Minute, "control: measurement window once every agent has reported")
	)
	o := defaultDeviceOptions()
	flag.IntVar(&o.devices, "devices", o.devices, "devices: simulated devices")
	full := flag.Bool("full", false, "devices: the full-size fleet (10,000 devices); -devices wins when both are given")
	flag.Float64Var(&o.rate, "rate", o.rate, "devices: records per second the whole fleet offers, before bursts")
	flag.DurationVar(&o.ramp, "ramp", o.ramp, "devices: the devices connect spread over this long")
	flag.DurationVar(&o.warmup, "warmup", o.warmup, "devices: settling time after the ramp, before the window")
	flag.DurationVar(&o.window, "duration", o.window, "devices: measurement window")
	flag.Float64Var(&o.alpha, "alpha", o.alpha, "devices: Pareto shape of the per-device rates (smaller: heavier tail)")
	flag.Float64Var(&o.maxRate, "max-device-rate", o.maxRate, "devices: cap of one device's steady rate, records/s")
	flag.IntVar(&o.maxRecords, "batch", o.maxRecords, "devices: records per request at most (the spool's batch::max_records)")
	flag.DurationVar(&o.flush, "flush", o.flush, "devices: a request at least this often while records wait (batch::timeout)")
	flag.DurationVar(&o.burstEvery, "burst-every", o.burstEvery, "devices: mean time between a device's bursts (0: none)")
	flag.DurationVar(&o.burstFor, "burst-for", o.burstFor, "devices: length of a burst")
	flag.Float64Var(&o.burstFactor, "burst-factor", o.burstFactor, "devices: a burst multiplies the device's rate by this")
	flag.DurationVar(&o.reconnectEvery, "reconnect-every", o.reconnectEvery, "devices: mean time between a device's reconnects (0: never)")
	flag.StringVar(&o.compression, "compression", o.compression, "devices: gRPC compression, zstd as the agent or none")
	flag.StringVar(&o.out, "out", o.out, "devices: Markdown report ('' for none)")
	flag.StringVar(&o.chart, "chart", o.chart, "devices: SVG chart ('' for none)")
	flag.StringVar(&o.profile, "profile", "", "devices: save the gateway's CPU and heap profiles over the window into this directory")
	flag.StringVar(&o.simProfile, "sim-cpuprofile", "", "devices: write the simulator's own CPU profile over the window to this file")
	flag.Parse()

	var err error
	switch *mode {
	case "devices":
		if *full && !isSet("devices") {
			o.devices = fullDevices
		}
		o.bin, o.root, o.overlay, o.keep = *bin, *root, *overlay, *keep
		_, err = runDevices(o, os.Stdout)
	case "control":
		err = runControl(*bin, *root, *overlay, *agents, *interval, *idle, *window, *keep)
	default:
		err = fmt.Errorf("-mode %q: use devices or control", *mode)
	}
	if err != nil {
		log.Fatal(err)
	}
}

func isSet(name string) bool {
	set := false
	flag.Visit(func(f *flag.Flag) { set = set || f.Name == name })
	return set
}
