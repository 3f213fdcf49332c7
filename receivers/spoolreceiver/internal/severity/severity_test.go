package severity

import (
	"strings"
	"testing"
)

func TestSniff(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		line string
		want Level
	}{
		{"empty", "", Level{}},
		{"no level", "session started terminal=K-104", Level{}},
		{"iso timestamp then caps", "2026-11-24T09:00:04.900Z ERROR auth login failed", levelError},
		{"caps debug", "2026-11-24T09:00:06.442Z DEBUG config loaded", levelDebug},
		{"log4j", "2015-10-18 18:01:47,978 WARN [main] org.apache.hadoop: x", levelWarn},
		{"log4j thread first", "2024-01-02 03:04:05.678 [http-nio-8080] ERROR c.e.App - boom", levelError},
		{"hdfs", "081109 203615 148 INFO dfs.DataNode$PacketResponder: terminating", levelInfo},
		{"zookeeper", "2015-07-29 17:41:44,747 - WARN  [SendWorker:188978561024] - leaving", levelWarn},
		{"spark", "17/06/09 20:10:40 INFO executor.CoarseGrainedExecutorBackend: Registered", levelInfo},
		{"python", "WARNING:root:disk almost full", levelWarning},
		{"python critical", "CRITICAL:app.db:connection lost", levelCritical},
		{"apache", "[Sun Dec 04 04:47:44 2005] [error] mod_jk child workerEnv in error state 6", levelError},
		{"apache notice", "[Sun Dec 04 04:47:44 2005] [notice] workerEnv.init() ok", levelNotice},
		{"nginx", "2024/01/01 10:00:00 [warn] 1234#0: *5 upstream response buffered", levelWarn},
		{"angle bracket", "10:00:00 <Info> started", levelInfo},
		{"windows capitalised first word", "2016-09-28 04:30:30, Info                  CBS    Loaded Servicing Stack", levelInfo},
		{"first word lower", "error: cannot open file", levelError},
		{"first word fatal", "fatal: not a git repository", levelFatal},
		{"logfmt", "ts=2024-01-01T00:00:00Z level=warn msg=\"slow\"", levelWarn},
		{"logfmt quoted", "time=\"2024-01-01\" level=\"error\" msg=x", levelError},
		{"logfmt lvl grafana", "t=2024-01-01T00:00:00+0000 lvl=eror msg=\"failed\"", levelError},
		{"logfmt dbug", "lvl=dbug msg=x", levelDebug},
		{"severity key", "app severity=CRITICAL msg=x", levelCritical},
		{"json", `{"level":"info","ts":1700000000.1,"msg":"hello"}`, levelInfo},
		{"json spaced", `{"time": "2024", "level": "WARNING", "msg": "hello"}`, levelWarning},
		{"json levelname", `{"levelname": "ERROR", "name": "root"}`, levelError},
		{"json log.level", `{"@timestamp":"2024-01-01","log.level":"debug","message":"x"}`, levelDebug},
		{"json severity", `{"severity":"NOTICE","message":"x"}`, levelNotice},
		{"bunyan", `{"name":"app","hostname":"h","pid":1,"level":50,"msg":"x"}`, levelError},
		{"pino", `{"level":30,"time":1531171074631,"msg":"hello world"}`, levelInfo},
		{"bunyan out of range", `{"level":35,"msg":"x"}`, Level{}},
		{"level key with other value", "battery level=low charging=false", Level{}},
		{"level word in message", "battery level: low; raised an error", Level{}},
		{"pri err", "<3>kernel: disk failure", levelError},
		{"pri rfc5424", "<34>1 2003-10-11T22:14:15.003Z mymachine su - ID47 - 'su root' failed", levelCritical},
		{"pri debug", "<191>x", levelDebug},
		{"pri too big", "<192>x", Level{}},
		{"pri unterminated", "<12 x", Level{}},
		{"glog error", "E1201 10:00:00.123456    1234 main.go:12] boom", levelError},
		{"glog info", "I0101 00:00:00.000000 1 x.go:1] ok", levelInfo},
		{"glog warning", "W0101 00:00:00.000000 1 x.go:1] hm", levelWarning},
		{"android threadtime", "03-17 16:13:38.811  1702  2395 D WindowManager: printFreezing", levelDebug},
		{"android verbose", "03-17 16:13:38.811  1702  2395 V Tag: x", levelVerbose},
		{"android error", "03-17 16:13:38.811  1702  2395 E Tag: x", levelError},
		{"android brief", "W/ActivityManager(  585): Activity idle timeout", levelWarn},
		{"single letter later", "Jun 14 15:16:01 combo x E y", Level{}},
		{"lowercase in message", "Jun 14 15:16:01 combo sshd: error reading packet", Level{}},
		{"capitalised in message", "Jun 14 15:16:01 combo sshd: Error reading packet", Level{}},
		{"caps in message", "Jun 14 15:16:01 combo kernel: FATAL trap", levelFatal},
		{"java package", "at org.apache.INFO.x", Level{}},
		{"underscored", "2024 DEBUG_MODE enabled", Level{}},
		{"dotnet info", "info: Microsoft.Hosting.Lifetime[0]", levelInfo},
		{"dotnet fail", "fail: Microsoft.AspNetCore.Server.Kestrel[13]", levelError},
		{"dotnet dbug", "dbug: App[1] x", levelDebug},
		{"dotnet trce", "trce: App[1] x", levelTrace},
		{"fail as a word", "fail to open x", Level{}},
		{"fail later", "2024-01-01 sshd: fail: x", Level{}},
		{"jul severe", "Nov 1, 2024 10:00:00 AM org.x.Y main\nSEVERE: boom", levelSevere},
		{"jul fine caps only", "FINE: detail", levelFine},
		{"fine lowercase is a word", "fine tuning done", Level{}},
		{"serilog", "[10:00:00 WRN] slow request", levelWarn},
		{"serilog lowercase", "[10:00:00 wrn] slow request", Level{}},
		{"bgl", "- 1117838570 2005.06.03 R02-M1-N0-C:J12-U11 2005-06-03-15.42.50.675872 R02-M1-N0-C:J12-U11 RAS KERNEL INFO instruction cache parity error corrected", levelInfo},
		{"notice caps", "NOTICE something", levelNotice},
		{"panic", "2024-01-01 PANIC runtime", levelPanic},
		{"emerg", "[emerg] 1#1: bind() failed", levelEmergency},
		{"trace", "2024-01-01 10:00:00 TRACE enter", levelTrace},
		{"alert", "[alert] x", levelAlert},
		{"information", "Information: done", levelInfoLong},
		{"err abbreviation", "2024-01-01 ERR something", levelError},
		{"crit", "2024-01-01 CRIT something", levelCritical},
		{"level beyond window", strings.Repeat("x", Window) + " ERROR", Level{}},
		{"word cut by window", strings.Repeat(" ", Window-3) + "ERROR", Level{}},
		{"non-ascii", "\xff\xfe ERROR x", levelError},
		{"only digits", "1234567890", Level{}},
		{"leading underscore", "_x ERROR", levelError},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if got := Sniff([]byte(tt.line)); got != tt.want {
				t.Errorf("Sniff(%q) = %+v, want %+v", tt.line, got, tt.want)
			}
		})
	}
}

func TestSniffAllocates(t *testing.T) {
	lines := [][]byte{
		[]byte("2026-11-24T09:00:04.900Z ERROR auth login failed"),
		[]byte(`{"level":"info","msg":"x"}`),
		[]byte("Jun 14 15:16:01 combo sshd(pam_unix)[19939]: authentication failure; logname= uid=0 euid=0 tty=NODEVssh"),
	}
	for _, l := range lines {
		if n := testing.AllocsPerRun(100, func() { Sniff(l) }); n != 0 {
			t.Errorf("Sniff(%q) allocates %v times", l, n)
		}
	}
}

// TestSeverityRanges pins every level's number inside the OpenTelemetry
// range its name says.
func TestSeverityRanges(t *testing.T) {
	t.Parallel()
	ranges := map[string][2]uint8{
		"TRACE": {1, 4}, "VERBOSE": {1, 4}, "FINEST": {1, 4}, "FINER": {1, 4},
		"DEBUG": {5, 8}, "FINE": {5, 8},
		"INFO": {9, 12}, "INFORMATION": {9, 12}, "NOTICE": {9, 12},
		"WARN": {13, 16}, "WARNING": {13, 16},
		"ERROR": {17, 20}, "SEVERE": {17, 20}, "CRITICAL": {17, 20}, "ALERT": {17, 20},
		"FATAL": {21, 24}, "PANIC": {21, 24}, "EMERGENCY": {21, 24},
	}
	for _, w := range wordList {
		l, kind := lookup([]byte(w), new([maxWord]byte))
		if kind == kindKey {
			continue
		}
		r, ok := ranges[l.Text]
		if !ok || l.Number < r[0] || l.Number > r[1] {
			t.Errorf("%q -> %+v: outside its range", w, l)
		}
	}
}

func TestSniffTagged(t *testing.T) {
	t.Parallel()
	tests := []struct {
		line string
		want Level
	}{
		{"Dec 10 06:55:46 LabSZ sshd[24200]: error: Received disconnect", levelError},
		{"Nov 9 12:10:53 local@tbird-admin1 gmetad: Warning: we failed", levelWarning},
		{"Dec 10 06:55:46 LabSZ sshd[24200]: fatal: Write failed", levelFatal},
		{"[10.30 16:49:06] chrome.exe - proxy.cse.cuhk.edu.hk:5070 error : Could not connect", levelError},
		{"Dec 10 06:55:46 LabSZ sshd[24200]: got an error: reset", Level{}},
		{"Dec 10 06:55:46 LabSZ sshd[24200]:error: x", Level{}},
		{"x: error", Level{}},
	}
	for _, tt := range tests {
		if got := Sniff([]byte(tt.line)); got != tt.want {
			t.Errorf("Sniff(%q) = %+v, want %+v", tt.line, got, tt.want)
		}
	}
}
