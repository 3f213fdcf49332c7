package spoolreceiver // import "github.com/fleetlog/fleetlog/receivers/spoolreceiver"

import (
	"context"

	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/consumer"
	"go.opentelemetry.io/collector/receiver"

	"github.com/fleetlog/fleetlog/receivers/spoolreceiver/internal/metadata"

	// Every agent build has this receiver; with it comes the gRPC zstd
	// compressor tuned for devices that the agent's OTLP exporter uses.
	_ "github.com/fleetlog/fleetlog/internal/grpczstd"
)

// NewFactory returns the spool receiver's factory.
func NewFactory() receiver.Factory {
	return receiver.NewFactory(
		metadata.Type,
		func() component.Config { return createDefaultConfig() },
		receiver.WithLogs(createLogs, metadata.LogsStability),
	)
}

func createLogs(_ context.Context, set receiver.Settings, cfg component.Config, next consumer.Logs) (receiver.Logs, error) {
	return newReceiver(cfg.(*Config), set, next), nil
}
