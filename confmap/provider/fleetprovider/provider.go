package fleetprovider // import "github.com/fleetlog/fleetlog/confmap/provider/fleetprovider"

import (
	"context"
	"fmt"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"go.opentelemetry.io/collector/confmap"
	"go.uber.org/zap"

	"github.com/fleetlog/fleetlog/internal/fleetproto"
	"github.com/fleetlog/fleetlog/internal/fleetstate"
)

const (
	schemeName = "fleet"
	// pollInterval is how often a retrieved configuration checks whether
	// the fragment to serve changed. The fleet_agent extension lives in the
	// collector's service, which a reload replaces, and the provider lives
	// outside it, so the two meet only in the state directory; reading two
	// small files a second costs nothing a device notices.
	pollInterval = time.Second
)

type provider struct {
	logger *zap.Logger
	poll   time.Duration
}

// NewFactory returns a factory for the `fleet` provider. Its URI is
// "fleet:" followed by the state directory, the `directory` of the agent's
// fleet_agent extension:
//
//	--config fleet:/var/lib/fleetlog/remote
//
// Retrieve serves the fragment that runs (an empty configuration when there
// is none). A candidate a previous process left unconfirmed (the new
// configuration failed to start and the agent was restarted) is rolled back
// first, so a restart always comes up on the last good configuration.
func NewFactory() confmap.ProviderFactory {
	return confmap.NewProviderFactory(func(s confmap.ProviderSettings) confmap.Provider {
		return &provider{logger: s.Logger, poll: pollInterval}
	})
}

func (p *provider) Retrieve(_ context.Context, uri string, watcher confmap.WatcherFunc) (*confmap.Retrieved, error) {
	dirName, ok := strings.CutPrefix(uri, schemeName+":")
	if !ok || dirName == "" {
		return nil, fmt.Errorf("%q uri is not supported by %q provider", uri, schemeName)
	}
	dir, err := fleetstate.Open(filepath.Clean(dirName))
	if err != nil {
		return nil, fmt.Errorf("open remote config state: %w", err)
	}
	before, _ := dir.State()
	served, fragment, err := dir.Serve(time.Now())
	if err != nil {
		// The local configuration needs no remote state to be right: a
		// state the agent cannot read must not keep it from starting.
		p.logger.Error("Remote configuration state unreadable; running the local configuration alone", zap.Error(err))
		served, fragment = fleetstate.Served{}, nil
	}
	if after, _ := dir.State(); after.Last != nil && after.Last.State == fleetproto.RemoteConfigRolledBack &&
		(before.Last == nil || before.Last.State != fleetproto.RemoteConfigRolledBack || before.Last.Serial != after.Last.Serial) {
		p.logger.Warn("Remote configuration rolled back", zap.Uint64("serial", after.Last.Serial),
			zap.Uint64("running_serial", served.Serial), zap.String("reason", after.Last.Error))
	}
	if served.Serial != 0 {
		p.logger.Info("Serving remote configuration", zap.Uint64("serial", served.Serial), zap.Bool("on_trial", served.Candidate))
	}
	var opts []confmap.RetrievedOption
	if watcher != nil {
		w := newWatch(dir, served, p.poll, watcher, p.logger)
		opts = append(opts, confmap.WithRetrievedClose(w.close))
	}
	return confmap.NewRetrievedFromYAML(fragment, opts...)
}

func (*provider) Scheme() string { return schemeName }

func (*provider) Shutdown(context.Context) error { return nil }

// watch calls the watcher once, when the fragment the directory says to
// serve is no longer the one served. A candidate becoming the applied
// fragment is the same fragment: promotion does not reload.
type watch struct {
	stop chan struct{}
	wg   sync.WaitGroup
	once sync.Once
}

func newWatch(dir *fleetstate.Dir, served fleetstate.Served, every time.Duration, watcher confmap.WatcherFunc, logger *zap.Logger) *watch {
	w := &watch{stop: make(chan struct{})}
	w.wg.Add(1)
	go func() {
		defer w.wg.Done()
		t := time.NewTicker(every)
		defer t.Stop()
		for {
			select {
			case <-w.stop:
				return
			case <-t.C:
			}
			now, err := dir.Decide()
			if err != nil {
				logger.Debug("Read remote config state", zap.Error(err))
				continue
			}
			if now.Serial != served.Serial {
				logger.Info("Remote configuration changed; reloading", zap.Uint64("serial", now.Serial), zap.Bool("on_trial", now.Candidate))
				watcher(&confmap.ChangeEvent{})
				return
			}
		}
	}()
	return w
}

func (w *watch) close(context.Context) error {
	w.once.Do(func() { close(w.stop) })
	w.wg.Wait()
	return nil
}
