//go:build tools

// Package tools pins the mdatagen version that generates the components'
// internal/metadata packages. It is its own module so that the tool's
// dependencies stay out of the distribution's go.mod. v0.159.0 is the newest
// mdatagen the module proxy serves; its output targets the same component and
// telemetry APIs as collector v0.160.0.
package tools

import _ "go.opentelemetry.io/collector/cmd/mdatagen"
