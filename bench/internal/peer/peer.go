// Package peer runs the benchmark's peers, rsyslog and syslog-ng from their
// Debian packages, doing the agent's job: it finds their daemons, renders
// their configs from templates, checks them with the daemons' own syntax
// checks and starts them in the foreground with every file they keep under
// one scratch directory.
package peer

import (
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"text/template"

	"github.com/fleetlog/fleetlog/bench/internal/agentproc"
)

// ErrAbsent is returned when a peer's daemon is not installed.
var ErrAbsent = errors.New("peer not installed")

// SyslogNGRoot is where .ci/run unpacks syslog-ng's Debian package: the
// package conflicts with rsyslog's (both are the system's log daemon), so it
// is unpacked beside it rather than installed.
const SyslogNGRoot = "/opt/syslog-ng"

// Peer is one peer daemon.
type Peer struct {
	// Name is the daemon's name, "rsyslog" or "syslog-ng".
	Name string
	// Bin is the daemon's executable.
	Bin string
	// Template is the file name of the peer's config template.
	Template string
	// env and args are what the daemon needs to run from where it is (an
	// unpacked package's library and module paths).
	env, args []string
	syntax    func(conf string) []string
	run       func(conf, dir string) []string
}

// Params fill a peer's config template.
type Params struct {
	// LogFile is the workload file the peer tails.
	LogFile string
	// Port is the receiver's port on 127.0.0.1.
	Port int
	// CAFile, CertFile and KeyFile are the device's TLS files.
	CAFile, CertFile, KeyFile string
	// DeviceID is the host name the peer puts in its messages.
	DeviceID string
	// WorkDir is the peer's state directory, QueueDir its queue's.
	WorkDir, QueueDir string
}

// Rsyslog finds rsyslogd: bin if not empty, else on PATH or in /usr/sbin.
// Its gtls driver must be installed too (rsyslog-gnutls).
func Rsyslog(bin string) (*Peer, error) {
	bin, err := find(bin, "rsyslogd", "/usr/sbin/rsyslogd")
	if err != nil {
		return nil, fmt.Errorf("%w: rsyslog (Debian package rsyslog): %w", ErrAbsent, err)
	}
	if drivers, _ := filepath.Glob("/usr/lib/*/rsyslog/lmnsd_gtls.so"); len(drivers) == 0 {
		if drivers, _ = filepath.Glob("/usr/lib/rsyslog/lmnsd_gtls.so"); len(drivers) == 0 {
			return nil, fmt.Errorf("%w: rsyslog's gtls driver lmnsd_gtls.so (Debian package rsyslog-gnutls)", ErrAbsent)
		}
	}
	return &Peer{
		Name: "rsyslog", Bin: bin, Template: "rsyslog.conf.tmpl",
		syntax: func(conf string) []string { return []string{"-N1", "-f", conf} },
		run: func(conf, dir string) []string {
			return []string{"-n", "-f", conf, "-i", filepath.Join(dir, "rsyslogd.pid")}
		},
	}, nil
}

// SyslogNG finds syslog-ng: bin if not empty, else on PATH, in /usr/sbin or
// unpacked under SyslogNGRoot. An unpacked daemon gets its library and
// module paths.
func SyslogNG(bin string) (*Peer, error) {
	bin, err := find(bin, "syslog-ng", "/usr/sbin/syslog-ng", filepath.Join(SyslogNGRoot, "usr/sbin/syslog-ng"))
	if err != nil {
		return nil, fmt.Errorf("%w: syslog-ng (Debian package syslog-ng-core, unpacked under %s by .ci/run): %w", ErrAbsent, SyslogNGRoot, err)
	}
	p := &Peer{
		Name: "syslog-ng", Bin: bin, Template: "syslog-ng.conf.tmpl",
		syntax: func(conf string) []string { return []string{"--syntax-only", "-f", conf} },
		run: func(conf, dir string) []string {
			return []string{"-F", "--stderr", "-f", conf,
				"--persist-file", filepath.Join(dir, "syslog-ng.persist"),
				"--pidfile", filepath.Join(dir, "syslog-ng.pid"),
				"--control", filepath.Join(dir, "syslog-ng.ctl")}
		},
	}
	// An unpacked package: the daemon's RUNPATH and module path name
	// /usr/lib/syslog-ng, which holds nothing here.
	if root := filepath.Dir(filepath.Dir(filepath.Dir(bin))); root != "/" {
		lib := filepath.Join(root, "usr/lib/syslog-ng")
		if mods, _ := filepath.Glob(filepath.Join(lib, "[0-9]*.[0-9]*")); len(mods) > 0 {
			p.env = []string{"LD_LIBRARY_PATH=" + lib}
			p.args = []string{"--module-path=" + mods[len(mods)-1]}
		}
	}
	return p, nil
}

func find(bin, name string, fallbacks ...string) (string, error) {
	if bin != "" {
		return exec.LookPath(bin)
	}
	if path, err := exec.LookPath(name); err == nil {
		return path, nil
	}
	for _, f := range fallbacks {
		if fi, err := os.Stat(f); err == nil && !fi.IsDir() && fi.Mode()&0o111 != 0 {
			return f, nil
		}
	}
	return "", fmt.Errorf("no %s on PATH nor at %s", name, strings.Join(fallbacks, ", "))
}

// Render writes the peer's config, from the template in configDir, to conf.
func (p *Peer) Render(configDir, conf string, params Params) error {
	tmpl, err := template.ParseFiles(filepath.Join(configDir, p.Template))
	if err != nil {
		return fmt.Errorf("read %s config template: %w", p.Name, err)
	}
	f, err := os.OpenFile(conf, os.O_CREATE|os.O_TRUNC|os.O_WRONLY, 0o600)
	if err != nil {
		return fmt.Errorf("write %s config: %w", p.Name, err)
	}
	err = tmpl.Option("missingkey=error").Execute(f, params)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("render %s config: %w", p.Name, err)
	}
	return nil
}

// Check runs the daemon's own syntax check on conf and returns its verdict
// with what it printed.
func (p *Peer) Check(conf string) error {
	cmd := exec.Command(p.Bin, append(p.args, p.syntax(conf)...)...)
	cmd.Env = append(os.Environ(), p.env...)
	out, err := cmd.CombinedOutput()
	if err != nil {
		return fmt.Errorf("%s rejects %s: %w\n%s", p.Name, conf, err, out)
	}
	return nil
}

// Version is the first line the daemon prints of its version, or "".
func (p *Peer) Version() string {
	flag := "-v"
	if p.Name == "syslog-ng" {
		flag = "-V"
	}
	cmd := exec.Command(p.Bin, append(p.args, flag)...)
	cmd.Env = append(os.Environ(), p.env...)
	out, _ := cmd.Output()
	line, _, _ := strings.Cut(string(out), "\n")
	// rsyslogd -v: "rsyslogd  8.2302.0 (aka 2023.02) compiled with:".
	line, _, _ = strings.Cut(line, " compiled with")
	return strings.Join(strings.Fields(line), " ")
}

// Start runs the daemon in the foreground on conf, with its pid, persist
// and control files in dir, writing its output to out.
func (p *Peer) Start(conf, dir string, out io.Writer) (*agentproc.Proc, error) {
	return agentproc.Start(p.Bin, append(p.args, p.run(conf, dir)...), p.env, out)
}
