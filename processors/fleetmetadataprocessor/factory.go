package fleetmetadataprocessor

import (
	"context"
	"os"

	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/consumer"
	"go.opentelemetry.io/collector/processor"
	"go.opentelemetry.io/collector/processor/processorhelper"

	"github.com/fleetlog/fleetlog/processors/fleetmetadataprocessor/internal/metadata"
)

// NewFactory returns the fleet_metadata processor factory.
func NewFactory() processor.Factory {
	return processor.NewFactory(
		metadata.Type,
		func() component.Config { return createDefaultConfig() },
		processor.WithLogs(createLogs, metadata.LogsStability),
	)
}

var capabilities = processorhelper.WithCapabilities(consumer.Capabilities{MutatesData: true})

func createLogs(ctx context.Context, set processor.Settings, cfg component.Config, next consumer.Logs) (processor.Logs, error) {
	c := cfg.(*Config)
	if c.Mode == ModeGateway {
		p, err := newGatewayProcessor(c, set, os.Hostname)
		if err != nil {
			return nil, err
		}
		proc, err := processorhelper.NewLogs(ctx, set, cfg, next, p.processLogs,
			capabilities, processorhelper.WithStart(p.start), processorhelper.WithShutdown(p.shutdown))
		if err != nil {
			return nil, err
		}
		p.limiter = newLimiter(proc, c.Gateway.MaxConcurrentBatches, c.Gateway.MaxPendingRecords)
		return p.limiter, nil
	}
	p := newAgentProcessor(c, set, os.LookupEnv, os.Hostname)
	return processorhelper.NewLogs(ctx, set, cfg, next, p.processLogs,
		capabilities, processorhelper.WithStart(p.start), processorhelper.WithShutdown(p.shutdown))
}
