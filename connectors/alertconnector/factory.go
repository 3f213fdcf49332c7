package alertconnector // import "github.com/fleetlog/fleetlog/connectors/alertconnector"

import (
	"context"

	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/config/configoptional"
	"go.opentelemetry.io/collector/connector"
	"go.opentelemetry.io/collector/consumer"

	"github.com/fleetlog/fleetlog/connectors/alertconnector/internal/metadata"
)

// NewFactory returns the alert connector's factory.
func NewFactory() connector.Factory {
	return connector.NewFactory(metadata.Type, createDefaultConfig,
		connector.WithLogsToLogs(createLogsToLogs, metadata.LogsToLogsStability))
}

func createDefaultConfig() component.Config {
	return &Config{
		ReloadInterval: defaultReloadInterval,
		TickInterval:   defaultTickInterval,
		ArchiveDir:     defaultArchiveDir,
		Notify: NotifyConfig{
			Outbox:         OutboxConfig{MaxEntries: defaultMaxEntries},
			QueueSize:      defaultQueueSize,
			RepeatInterval: defaultRepeatInterval,
			Webhook:        configoptional.Default(defaultHTTPOutput()),
			Slack:          configoptional.Default(defaultHTTPOutput()),
			Alertmanager:   configoptional.Default(defaultHTTPOutput()),
			Syslog:         configoptional.Default(defaultSyslogOutput()),
		},
	}
}

func createLogsToLogs(_ context.Context, set connector.Settings, cfg component.Config, next consumer.Logs) (connector.Logs, error) {
	return newAlertConnector(set, cfg.(*Config), next)
}
