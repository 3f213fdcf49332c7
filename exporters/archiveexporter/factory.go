package archiveexporter // import "github.com/fleetlog/fleetlog/exporters/archiveexporter"

import (
	"context"

	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/config/configoptional"
	"go.opentelemetry.io/collector/config/configretry"
	"go.opentelemetry.io/collector/consumer"
	"go.opentelemetry.io/collector/exporter"
	"go.opentelemetry.io/collector/exporter/exporterhelper"

	"github.com/fleetlog/fleetlog/exporters/archiveexporter/internal/metadata"
)

// NewFactory returns the factory of the archive exporter.
func NewFactory() exporter.Factory {
	return exporter.NewFactory(metadata.Type, createDefaultConfig,
		exporter.WithLogs(createLogs, metadata.LogsStability))
}

func createDefaultConfig() component.Config {
	return &Config{
		MaxSegmentSize:         defaultMaxSegmentSize,
		MaxSegmentAge:          defaultMaxSegmentAge,
		Fsync:                  FsyncAlways,
		RetentionCheckInterval: defaultRetentionCheckInterval,
		KeyEpoch:               defaultKeyEpoch,
		CheckpointInterval:     defaultCheckpointInterval,
		TimeoutConfig:          exporterhelper.TimeoutConfig{},
		RetryConfig:            configretry.NewDefaultBackOffConfig(),
		QueueConfig:            configoptional.Default(exporterhelper.NewDefaultQueueConfig()),
	}
}

func createLogs(ctx context.Context, set exporter.Settings, cfg component.Config) (exporter.Logs, error) {
	c := cfg.(*Config)
	e, err := newArchiveExporter(c, set)
	if err != nil {
		return nil, err
	}
	return exporterhelper.NewLogs(ctx, set, cfg, e.pushLogs,
		exporterhelper.WithCapabilities(consumer.Capabilities{MutatesData: false}),
		exporterhelper.WithStart(e.start),
		exporterhelper.WithShutdown(e.shutdown),
		exporterhelper.WithTimeout(c.TimeoutConfig),
		exporterhelper.WithRetry(c.RetryConfig),
		exporterhelper.WithQueue(c.QueueConfig),
	)
}
