package edgeruntimeextension // import "github.com/fleetlog/fleetlog/extensions/edgeruntimeextension"

import (
	"context"
	"os"

	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/extension"

	"github.com/fleetlog/fleetlog/extensions/edgeruntimeextension/internal/metadata"
)

// NewFactory returns the edge_runtime extension factory.
func NewFactory() extension.Factory {
	return extension.NewFactory(
		metadata.Type,
		func() component.Config { return createDefaultConfig() },
		create,
		metadata.ExtensionStability,
	)
}

func create(_ context.Context, set extension.Settings, cfg component.Config) (extension.Extension, error) {
	return newEdgeRuntime(cfg.(*Config), set.Logger, os.Getenv), nil
}
