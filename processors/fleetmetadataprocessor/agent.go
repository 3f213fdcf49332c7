package fleetmetadataprocessor

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"sync/atomic"

	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/pdata/plog"
	"go.opentelemetry.io/collector/processor"
	"go.uber.org/zap"

	"github.com/fleetlog/fleetlog/internal/filewatch"
	"github.com/fleetlog/fleetlog/internal/fleetattr"
	"github.com/fleetlog/fleetlog/processors/fleetmetadataprocessor/internal/detect"
	"github.com/fleetlog/fleetlog/processors/fleetmetadataprocessor/internal/devicefile"
)

// envLabels holds labels as comma-separated key=value pairs.
const envLabels = "FLEETLOG_LABELS"

var (
	// ErrNoDeviceID is returned by Start when no source gives a device.id.
	ErrNoDeviceID = errors.New("no device.id: set 'device.id', FLEETLOG_DEVICE_ID or the device file's id, or make /etc/machine-id readable")
	// ErrEnvLabels is returned for a malformed FLEETLOG_LABELS.
	ErrEnvLabels = errors.New(envLabels + " must be comma-separated key=value pairs")
)

// field is one device attribute and where each source keeps it.
type field struct {
	attr   string
	env    string
	static func(*DeviceConfig) string
	file   func(*devicefile.Device) string
}

var fields = []field{
	{fleetattr.DeviceID, "FLEETLOG_DEVICE_ID", func(d *DeviceConfig) string { return d.ID }, func(d *devicefile.Device) string { return d.ID }},
	{fleetattr.FleetName, "FLEETLOG_FLEET", func(d *DeviceConfig) string { return d.Fleet }, func(d *devicefile.Device) string { return d.Fleet }},
	{fleetattr.FleetSite, "FLEETLOG_SITE", func(d *DeviceConfig) string { return d.Site }, func(d *devicefile.Device) string { return d.Site }},
	{fleetattr.FleetRegion, "FLEETLOG_REGION", func(d *DeviceConfig) string { return d.Region }, func(d *devicefile.Device) string { return d.Region }},
	{fleetattr.DeploymentEnvironment, "FLEETLOG_ENVIRONMENT", func(d *DeviceConfig) string { return d.Environment }, func(d *devicefile.Device) string { return d.Environment }},
	{fleetattr.DeviceModel, "FLEETLOG_DEVICE_MODEL", func(d *DeviceConfig) string { return d.Model }, func(d *devicefile.Device) string { return d.Model }},
	{fleetattr.DeviceFirmwareVersion, "FLEETLOG_FIRMWARE_VERSION", func(d *DeviceConfig) string { return d.FirmwareVersion }, func(d *devicefile.Device) string { return d.FirmwareVersion }},
}

// layer is what one source says: attribute values and labels. Empty values
// are absent.
type layer struct {
	name   string
	attrs  map[string]string
	labels map[string]string
}

func staticLayer(cfg *Config) layer {
	l := layer{name: "config", attrs: map[string]string{}, labels: cfg.Labels}
	for _, f := range fields {
		l.attrs[f.attr] = f.static(&cfg.Device)
	}
	return l
}

func envLayer(lookup func(string) (string, bool)) (layer, error) {
	l := layer{name: "environment", attrs: map[string]string{}, labels: map[string]string{}}
	for _, f := range fields {
		v, _ := lookup(f.env)
		l.attrs[f.attr] = strings.TrimSpace(v)
	}
	v, _ := lookup(envLabels)
	for pair := range strings.SplitSeq(v, ",") {
		if strings.TrimSpace(pair) == "" {
			continue
		}
		k, val, ok := strings.Cut(pair, "=")
		k = strings.TrimSpace(k)
		if !ok || k == "" {
			return layer{}, fmt.Errorf("%w, got %q", ErrEnvLabels, pair)
		}
		l.labels[k] = strings.TrimSpace(val)
	}
	return l, nil
}

func fileLayer(d devicefile.Device) layer {
	l := layer{name: "device file", attrs: map[string]string{}, labels: d.Labels}
	for _, f := range fields {
		l.attrs[f.attr] = strings.TrimSpace(f.file(&d))
	}
	return l
}

func detectedLayer(r detect.Result, version string) layer {
	return layer{name: "detection (" + r.DeviceIDSource + ")", attrs: map[string]string{
		fleetattr.DeviceID:     r.DeviceID,
		fleetattr.HostName:     r.HostName,
		fleetattr.OSType:       r.OSType,
		fleetattr.OSVersion:    r.OSVersion,
		fleetattr.AgentVersion: version,
	}}
}

// stamp is one resource attribute the agent sets.
type stamp struct{ key, value string }

// resolution is the merged result of every source.
type resolution struct {
	stamps         []stamp
	deviceIDSource string
}

// resolve merges layers, earlier ones winning, key by key.
func resolve(layers ...layer) (resolution, error) {
	var res resolution
	attrs, labels := map[string]string{}, map[string]string{}
	for _, l := range slices.Backward(layers) {
		for k, v := range l.attrs {
			if v != "" {
				attrs[k] = v
				if k == fleetattr.DeviceID {
					res.deviceIDSource = l.name
				}
			}
		}
		maps.Copy(labels, l.labels)
	}
	if attrs[fleetattr.DeviceID] == "" {
		return res, ErrNoDeviceID
	}
	for _, k := range slices.Sorted(maps.Keys(attrs)) {
		res.stamps = append(res.stamps, stamp{k, attrs[k]})
	}
	for _, k := range slices.Sorted(maps.Keys(labels)) {
		res.stamps = append(res.stamps, stamp{fleetattr.LabelPrefix + k, labels[k]})
	}
	return res, nil
}

// agentProcessor stamps the device's description on every resource.
type agentProcessor struct {
	cfg       *Config
	logger    *zap.Logger
	version   string
	lookupEnv func(string) (string, bool)
	hostname  func() (string, error)

	// Set in start: the sources that do not change while the agent runs.
	static, env, detected layer

	stamps  atomic.Pointer[[]stamp]
	watcher *filewatch.Watcher
}

func newAgentProcessor(cfg *Config, set processor.Settings, lookupEnv func(string) (string, bool), hostname func() (string, error)) *agentProcessor {
	return &agentProcessor{
		cfg:       cfg,
		logger:    set.Logger,
		version:   set.BuildInfo.Version,
		lookupEnv: lookupEnv,
		hostname:  hostname,
	}
}

func (p *agentProcessor) start(context.Context, component.Host) error {
	var err error
	p.static = staticLayer(p.cfg)
	if p.env, err = envLayer(p.lookupEnv); err != nil {
		return err
	}
	found := detect.Detect(p.cfg.detectPaths(), p.hostname)
	p.detected = detectedLayer(found, p.version)
	file, err := p.loadDeviceFile()
	if err != nil {
		return err
	}
	res, err := resolve(p.static, p.env, file, p.detected)
	if err != nil {
		return fmt.Errorf("%w (detection: %w)", err, errors.Join(found.Problems...))
	}
	p.stamps.Store(&res.stamps)
	p.logger.Info("Device identity resolved",
		zap.String("device.id", valueOf(res.stamps, fleetattr.DeviceID)),
		zap.String("source", res.deviceIDSource))
	if len(found.Problems) > 0 {
		p.logger.Debug("Some detection sources were unavailable", zap.Errors("problems", found.Problems))
	}
	if p.cfg.DeviceFile.Path != "" {
		p.watcher = filewatch.New(p.cfg.DeviceFile.Path, p.cfg.DeviceFile.CheckInterval, p.reload)
		p.watcher.Start()
	}
	return nil
}

func (p *agentProcessor) loadDeviceFile() (layer, error) {
	if p.cfg.DeviceFile.Path == "" {
		return layer{}, nil
	}
	d, _, err := devicefile.Load(p.cfg.DeviceFile.Path)
	if err != nil {
		return layer{}, err
	}
	return fileLayer(d), nil
}

// reload applies a changed device file. A file that does not parse keeps
// the previous values: records keep their attribution while provisioning
// rewrites the file.
func (p *agentProcessor) reload() {
	file, err := p.loadDeviceFile()
	if err == nil {
		var res resolution
		if res, err = resolve(p.static, p.env, file, p.detected); err == nil {
			p.stamps.Store(&res.stamps)
			p.logger.Info("Device file reloaded",
				zap.String("path", p.cfg.DeviceFile.Path),
				zap.String("device.id", valueOf(res.stamps, fleetattr.DeviceID)),
				zap.String("source", res.deviceIDSource))
			return
		}
	}
	p.logger.Error("Device file not applied; the previous values stay in force", zap.Error(err))
}

func (p *agentProcessor) shutdown(context.Context) error {
	if p.watcher != nil {
		p.watcher.Stop()
	}
	return nil
}

func (p *agentProcessor) processLogs(_ context.Context, ld plog.Logs) (plog.Logs, error) {
	stamps := *p.stamps.Load()
	rls := ld.ResourceLogs()
	for i := range rls.Len() {
		attrs := rls.At(i).Resource().Attributes()
		for _, s := range stamps {
			if !p.cfg.Override {
				if _, ok := attrs.Get(s.key); ok {
					continue
				}
			}
			attrs.PutStr(s.key, s.value)
		}
	}
	return ld, nil
}

func valueOf(stamps []stamp, key string) string {
	for _, s := range stamps {
		if s.key == key {
			return s.value
		}
	}
	return ""
}
