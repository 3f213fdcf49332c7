# fleetlog: an OpenTelemetry Collector distribution for remote fleet logging.
#
#   make run     build, then start a gateway and an agent on loopback over mTLS
#   make test    unit and integration tests (builds first)
#   make build   bin/fleetlog and bin/fleetlog-agent (via the Collector Builder), bin/fleetlogctl
#   make lint    gofmt, go vet, staticcheck
#   make bench   benchmarks, then the end-to-end agent benchmark
#   make agent   bin/fleetlog-agent, the slim agent-only build
#   make bench-e2e        fleetlog's agent pipeline against the stock contrib one, rsyslog and syslog-ng
#   make bench-footprint  agent RSS idle and under load, binary sizes
#   make bench-alerts     gateway CPU per line with the alert rule pack on and off
#   make bench-fleet      one gateway under 2,000 simulated OTLP devices (FLEETFLAGS=-full: 10,000)
#   make bench-fleet-control  the gateway's control plane under 1,000 simulated OpAMP agents
#   make bench-archive    archive query on a generated archive (10M records; ARCHIVEFLAGS='-records 100000000' for the full size)
#   make chaos   the fault suite at full size (kills, outages, NAT, full disks, torn spool)
#   make generate  component metadata (mdatagen)

SHELL        := bash
GO           ?= go
BUILDER_VER  := v0.160.0
TOOLS        := $(CURDIR)/.tools
BUILDER      := $(TOOLS)/builder
STATICCHECK  := $(TOOLS)/staticcheck
MDATAGEN     := $(TOOLS)/mdatagen
VERSION      ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
# fleetlogctl: no symbol table or DWARF. The builder already strips bin/fleetlog.
LDFLAGS      := -s -w
GOTESTFLAGS  ?= -race -count=1 -timeout 20m

.PHONY: all build run test unit lint bench bench-e2e bench-footprint bench-alerts bench-fleet bench-fleet-control bench-archive chaos agent generate clean

all: build

build: bin/fleetlog bin/fleetlog-agent bin/fleetlogctl

$(BUILDER):
	GOBIN=$(TOOLS) $(GO) install go.opentelemetry.io/collector/cmd/builder@$(BUILDER_VER)

$(STATICCHECK):
	GOBIN=$(TOOLS) $(GO) install honnef.co/go/tools/cmd/staticcheck@v0.8.2

# mdatagen is pinned by its own module in internal/tools/mdatagen.
$(MDATAGEN): internal/tools/mdatagen/go.mod
	cd internal/tools/mdatagen && GOBIN=$(TOOLS) $(GO) install go.opentelemetry.io/collector/cmd/mdatagen

# Regenerates every component's internal/metadata from its metadata.yaml.
generate: $(MDATAGEN)
	PATH="$(TOOLS):$$PATH" $(GO) generate ./receivers/... ./processors/... ./exporters/... ./extensions/... ./connectors/... ./confmap/...

# The builder regenerates build/fleetlog (sources, go.mod) and compiles it; the
# Go build cache makes an unchanged rebuild take seconds.
# It links edge_runtime's memory_limit default of 32MiB (the agent build's
# is 18MiB: see extensions/edgeruntimeextension/README.md).
FLEETLOG_LDFLAGS := -s -w -X github.com/fleetlog/fleetlog/extensions/edgeruntimeextension.buildMemoryLimitMiB=32

bin/fleetlog: $(BUILDER) builder-config.yaml go.mod $(shell find receivers processors exporters extensions connectors confmap internal -name '*.go' 2>/dev/null)
	@mkdir -p build bin
	$(BUILDER) --config builder-config.yaml --ldflags '$(FLEETLOG_LDFLAGS)'
	cp build/fleetlog/fleetlog $@

# The agent-only build: the components the agent role config uses, nothing
# else. As the build for small devices it links edge_runtime's gc_percent
# default of 50 and memory_limit default of 18MiB (see
# extensions/edgeruntimeextension/README.md); -s -w are the
# builder's own defaults, which --ldflags replaces.
agent: bin/fleetlog-agent

AGENT_LDFLAGS := -s -w -X github.com/fleetlog/fleetlog/extensions/edgeruntimeextension.buildGCPercent=50 -X github.com/fleetlog/fleetlog/extensions/edgeruntimeextension.buildMemoryLimitMiB=18

bin/fleetlog-agent: $(BUILDER) distributions/agent/builder-config.yaml go.mod $(shell find receivers processors exporters extensions confmap internal -name '*.go' 2>/dev/null)
	@mkdir -p build bin
	$(BUILDER) --config distributions/agent/builder-config.yaml --ldflags '$(AGENT_LDFLAGS)'
	cp build/fleetlog-agent/fleetlog-agent $@

bin/fleetlogctl: go.mod $(shell find cmd internal -name '*.go' 2>/dev/null)
	@mkdir -p bin
	$(GO) build -trimpath -ldflags "$(LDFLAGS) -X main.version=$(VERSION)" -o $@ ./cmd/fleetlogctl

run: build
	./scripts/demo.sh

test: build
	FLEETLOG_BIN_DIR=$(CURDIR)/bin $(GO) test $(GOTESTFLAGS) ./...

unit:
	$(GO) test $(GOTESTFLAGS) -short ./...

lint:
	@out=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi
	$(GO) vet ./...
	@if $(MAKE) -s $(STATICCHECK) >/dev/null 2>&1; then $(STATICCHECK) ./...; else echo "staticcheck unavailable from the module proxy; skipped"; fi

bench: bench-e2e
	$(GO) test -run '^$$' -bench . -benchmem ./...

# Flags for the end-to-end run, e.g. E2EFLAGS='-lines 200000 -rounds 1'.
E2EFLAGS ?=
bench-e2e: bin/fleetlog bin/fleetlog-agent
	$(GO) run ./bench/e2e -bin bin/fleetlog -agent-bin bin/fleetlog-agent $(E2EFLAGS)

FOOTPRINTFLAGS ?=
bench-footprint: bin/fleetlog bin/fleetlog-agent
	$(GO) run ./bench/footprint -bin bin/fleetlog,bin/fleetlog-agent $(FOOTPRINTFLAGS)

# Flags for the alert cost run, e.g. ALERTFLAGS='-lines 1000000 -rounds 5'.
ALERTFLAGS ?=
bench-alerts: bin/fleetlog
	$(GO) run ./bench/alertcost -bin bin/fleetlog $(ALERTFLAGS)

# Flags for the fleet simulator, e.g. FLEETFLAGS='-full' (10,000 devices) or
# FLEETFLAGS='-devices 500 -duration 30s'; for the control plane run, e.g.
# FLEETFLAGS='-agents 200 -window 1m'.
FLEETFLAGS ?=
bench-fleet: bin/fleetlog
	$(GO) run ./bench/fleetsim -bin bin/fleetlog $(FLEETFLAGS)

bench-fleet-control: bin/fleetlog
	$(GO) run ./bench/fleetsim -mode control -bin bin/fleetlog $(FLEETFLAGS)

# Flags for the archive query benchmark, e.g. ARCHIVEFLAGS='-records 100000000 -out bench/results/archive.md'
# (the full size: about 5 GB in the temporary directory, 10 to 15 minutes).
ARCHIVEFLAGS ?=
bench-archive: bin/fleetlogctl
	$(GO) run ./bench/archivequery -ctl bin/fleetlogctl $(ARCHIVEFLAGS)

# The fault suite at full size (test/chaos/README.md): about 15 minutes; the
# disk-full scenarios need root. Flags, e.g. CHAOSFLAGS='-scenarios agent-kill'.
CHAOSFLAGS ?=
chaos: bin/fleetlog bin/fleetlog-agent bin/fleetlogctl
	$(GO) run ./test/chaos -root $(CURDIR) -results bench/results/chaos.md $(CHAOSFLAGS)

clean:
	rm -rf bin build run
