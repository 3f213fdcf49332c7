package fleetcontrolextension

import (
	"context"

	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/extension"

	"github.com/fleetlog/fleetlog/extensions/fleetcontrolextension/internal/metadata"
)

// NewFactory returns the fleet_control extension factory.
func NewFactory() extension.Factory {
	return extension.NewFactory(
		metadata.Type,
		func() component.Config { return createDefaultConfig() },
		create,
		metadata.ExtensionStability,
	)
}

func create(_ context.Context, set extension.Settings, cfg component.Config) (extension.Extension, error) {
	return newFleetControl(cfg.(*Config), set.TelemetrySettings)
}
