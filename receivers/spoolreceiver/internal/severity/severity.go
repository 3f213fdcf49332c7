// Package severity finds the level a log line states about itself, so that a
// file line gets a severity before it is spooled and eviction can keep errors
// over debug chatter.
//
// Sniff looks at the first Window bytes of a line once, without regular
// expressions or allocations, for the spellings most logs use:
//
//   - a syslog PRI prefix (`<3>`, `<34>1 2024-...`): its severity (PRI mod 8);
//   - a key and its value: `level=warn`, `lvl=eror`, `severity=ERROR`,
//     `"level":"info"`, `"levelname": "WARNING"`, `log.level=debug`, and
//     bunyan/pino's numeric `"level":30`;
//   - a level word in upper case standing alone (`2024-01-01 10:00:00,123
//     ERROR [main] ...`, `081109 203615 148 INFO dfs...`, `WARNING:root:...`,
//     `- WARN  [...]`), in brackets in any case (`[error]`, `<Warn>`,
//     `(info)`), or in any case as the first word after a timestamp
//     (`2016-09-28 04:30:30, Info  CBS ...`, `error: ...`);
//   - .NET's console logger: `info: ...`, `warn: ...`, `fail: ...`,
//     `crit: ...`, `dbug: ...`, `trce: ...`;
//   - glog's `E1201 10:00:00.000000 ...` prefix and Android logcat's
//     single-letter level after the pid and tid (`... 1702  2395 D Tag: ...`,
//     `D/Tag( 123): ...`).
//
// The first match wins: the level of a line is stated in its header, before
// its message, and words later in the message ("connection error") are not
// levels. Lowercase words in the message never count, only upper-case ones,
// bracketed ones and the first word. The level words and their severity
// numbers follow stanza's severity parser and its syslog mapping:
// TRACE/VERBOSE/FINEST, DEBUG/FINE, INFO/INFORMATION, NOTICE (INFO2),
// WARN/WARNING, ERROR/ERR/SEVERE, CRIT/CRITICAL (ERROR2), ALERT (ERROR3),
// FATAL/PANIC/EMERG.
package severity // import "github.com/fleetlog/fleetlog/receivers/spoolreceiver/internal/severity"

// Window is how many bytes at the start of a line Sniff looks at. Loghub's
// BGL lines, the longest headers seen, state their level at byte 109.
const Window = 128

// Severity numbers (plog.SeverityNumber), named here so that the package does
// not depend on pdata.
const (
	Unspecified uint8 = 0
	Trace       uint8 = 1
	Trace2      uint8 = 2
	Debug       uint8 = 5
	Info        uint8 = 9
	Info2       uint8 = 10
	Warn        uint8 = 13
	Error       uint8 = 17
	Error2      uint8 = 18
	Error3      uint8 = 19
	Fatal       uint8 = 21
)

// Level is what Sniff found. The zero Level means the line states none.
type Level struct {
	// Number is the OpenTelemetry severity number (plog.SeverityNumber).
	Number uint8
	// Text is the level's name in upper case, spelled out ("ERROR" for
	// `err`, `E` and `<3>`). It is a constant: Sniff never allocates.
	Text string
}

// Found reports whether the line stated a level.
func (l Level) Found() bool { return l.Number != Unspecified }

// Levels Sniff returns.
var (
	levelTrace     = Level{Trace, "TRACE"}
	levelVerbose   = Level{Trace, "VERBOSE"}
	levelFinest    = Level{Trace, "FINEST"}
	levelFiner     = Level{Trace2, "FINER"}
	levelFine      = Level{Debug, "FINE"}
	levelDebug     = Level{Debug, "DEBUG"}
	levelInfo      = Level{Info, "INFO"}
	levelInfoLong  = Level{Info, "INFORMATION"}
	levelNotice    = Level{Info2, "NOTICE"}
	levelWarn      = Level{Warn, "WARN"}
	levelWarning   = Level{Warn, "WARNING"}
	levelError     = Level{Error, "ERROR"}
	levelSevere    = Level{Error, "SEVERE"}
	levelCritical  = Level{Error2, "CRITICAL"}
	levelAlert     = Level{Error3, "ALERT"}
	levelFatal     = Level{Fatal, "FATAL"}
	levelPanic     = Level{Fatal, "PANIC"}
	levelEmergency = Level{Fatal, "EMERGENCY"}
)

// byPRI is the level of each syslog severity (PRI mod 8), as stanza's
// syslog parser maps them.
var byPRI = [8]Level{
	0: levelEmergency,
	1: levelAlert,
	2: levelCritical,
	3: levelError,
	4: levelWarning,
	5: levelNotice,
	6: levelInfo,
	7: levelDebug,
}

// Byte classes, as bits so that a word's classes can be or-ed together.
const (
	clsOther  uint8 = 0
	clsLower  uint8 = 1
	clsUpper  uint8 = 2
	clsDigit  uint8 = 4
	clsUscore uint8 = 8
)

var class = func() (t [256]uint8) {
	for c := 'a'; c <= 'z'; c++ {
		t[c] = clsLower
	}
	for c := 'A'; c <= 'Z'; c++ {
		t[c] = clsUpper
	}
	for c := '0'; c <= '9'; c++ {
		t[c] = clsDigit
	}
	t['_'] = clsUscore
	return t
}()

// maxWord is the longest word looked up ("informational").
const maxWord = 13

// candidate says, per word length and lower-cased first letter, whether any
// level word or key has that shape: most words of a line are rejected by
// this one lookup.
var candidate = func() (t [maxWord + 1][32]bool) {
	for _, w := range wordList {
		t[len(w)][firstIndex(w[0])] = true
	}
	return t
}()

// firstIndex maps a word's first byte (a letter or '_') to its candidate
// column: letters of either case to 0..25, '_' to 30.
func firstIndex(c byte) byte { return ((c | 0x20) - 'a') & 31 }

// wordList holds every word lookup knows, lower case.
var wordList = []string{
	"trace", "verbose", "finest", "finer", "fine", "debug", "dbug",
	"info", "information", "informational", "notice",
	"warn", "warning", "error", "err", "eror", "severe",
	"crit", "critical", "alert", "fatal", "panic", "dpanic", "emerg", "emergency",
	"vrb", "dbg", "inf", "wrn", "ftl", "trce", "fail",
	"level", "lvl", "severity", "loglevel", "log_level", "levelname",
}

// word kinds lookup returns besides the level.
const (
	kindNone  = iota
	kindLevel // a level word in any case
	kindCaps  // a level word only in upper case (JUL's FINE, Serilog's INF)
	kindKey   // a key whose value is a level
	kindLead  // a level only as the line's first word before ':' (.NET's "fail:")
)

// lookup returns what the word w (letters and underscores, at most maxWord
// bytes) is. lower is scratch space the caller owns.
func lookup(w []byte, lower *[maxWord]byte) (Level, int) {
	for i, c := range w {
		if class[c] == clsUpper {
			c |= 0x20
		}
		lower[i] = c
	}
	switch string(lower[:len(w)]) { // no allocation: the compiler compares in place
	case "trace", "trce":
		return levelTrace, kindLevel
	case "fail":
		return levelError, kindLead
	case "verbose":
		return levelVerbose, kindLevel
	case "finest":
		return levelFinest, kindCaps
	case "finer":
		return levelFiner, kindCaps
	case "fine":
		return levelFine, kindCaps
	case "debug", "dbug":
		return levelDebug, kindLevel
	case "dbg":
		return levelDebug, kindCaps
	case "vrb":
		return levelVerbose, kindCaps
	case "info":
		return levelInfo, kindLevel
	case "inf":
		return levelInfo, kindCaps
	case "information", "informational":
		return levelInfoLong, kindLevel
	case "notice":
		return levelNotice, kindLevel
	case "warn":
		return levelWarn, kindLevel
	case "wrn":
		return levelWarn, kindCaps
	case "warning":
		return levelWarning, kindLevel
	case "error", "err", "eror":
		return levelError, kindLevel
	case "severe":
		return levelSevere, kindLevel
	case "crit", "critical":
		return levelCritical, kindLevel
	case "alert":
		return levelAlert, kindLevel
	case "fatal":
		return levelFatal, kindLevel
	case "ftl":
		return levelFatal, kindCaps
	case "panic", "dpanic":
		return levelPanic, kindLevel
	case "emerg", "emergency":
		return levelEmergency, kindLevel
	case "level", "lvl", "severity", "loglevel", "log_level", "levelname":
		return Level{}, kindKey
	}
	return Level{}, kindNone
}

// Sniff returns the level line states in its first Window bytes, or the zero
// Level. It reads line only and never allocates.
func Sniff(line []byte) Level {
	truncated := len(line) > Window
	if truncated {
		line = line[:Window]
	}
	n := len(line)
	if n == 0 {
		return Level{}
	}
	if line[0] == '<' {
		if l, ok := pri(line); ok {
			return l
		}
	}
	if l, ok := glog(line); ok {
		return l
	}
	var lower [maxWord]byte
	// Up to the first word of letters only numbers, timestamps and
	// punctuation came before: that word may be a level in any case, or
	// Android's letter.
	i := 0
	for i < n {
		if class[line[i]] == clsOther {
			i++
			continue
		}
		// A word: letters, digits and underscores. seen is the union of
		// their classes.
		start := i
		var seen uint8
		for i < n {
			c := class[line[i]]
			if c == clsOther {
				break
			}
			seen |= c
			i++
		}
		if i == n && truncated {
			// The word may go on past the window: it cannot be judged.
			return Level{}
		}
		if seen&clsDigit != 0 {
			// A number or a timestamp ("24T09", "120Z"): not a word of the
			// message, so the first word is still to come.
			continue
		}
		if i-start == 1 {
			if l, ok := android(line, start, true); ok {
				return l
			}
		} else if l, ok := judge(line, start, i, true, truncated, &lower); ok {
			return l
		}
		break
	}
	// The other words. Most are the message's and are rejected by their
	// size and first letter alone, so this loop does no more per byte than
	// find where words start and end.
	for i < n {
		if class[line[i]] == clsOther {
			i++
			continue
		}
		start := i
		for i++; i < n && class[line[i]] != clsOther; i++ {
		}
		if i == n && truncated {
			return Level{}
		}
		if size := i - start; size < 2 || size > maxWord || !candidate[size][firstIndex(line[start])] {
			continue
		}
		if l, ok := judge(line, start, i, false, truncated, &lower); ok {
			return l
		}
	}
	return Level{}
}

// judge returns the level that the word line[start:end] states, if any;
// first says whether it is the line's first word of letters.
func judge(line []byte, start, end int, first, truncated bool, lower *[maxWord]byte) (Level, bool) {
	size := end - start
	if size < 2 || size > maxWord || !candidate[size][firstIndex(line[start])] {
		return Level{}, false
	}
	allCaps := true
	for _, c := range line[start:end] {
		if class[c] != clsUpper {
			allCaps = false
			break
		}
	}
	if !allCaps && !first && !mayQualify(line, end) {
		// A lowercase word in the message, followed by a space: neither a
		// key nor a bracketed or tagged level.
		return Level{}, false
	}
	l, kind := lookup(line[start:end], lower)
	switch kind {
	case kindKey:
		return value(line, end, truncated, lower)
	case kindLead:
		if first && end < len(line) && line[end] == ':' {
			return l, true
		}
	case kindLevel, kindCaps:
		if allCaps && (start == 0 || line[start-1] != '.') {
			// "ERROR", "WARNING:root:", but not a Java package's ".INFO".
			return l, true
		}
		if kind == kindCaps {
			return Level{}, false
		}
		if first || bracketed(line, start, end) || tagged(line, start, end) {
			return l, true
		}
	}
	return Level{}, false
}

// mayQualify reports whether the byte after a word that ends at i lets a
// word not in upper case be a key or a level: '=', ':', '"', a closing
// bracket, or " : ".
func mayQualify(line []byte, i int) bool {
	if i >= len(line) {
		return false
	}
	switch line[i] {
	case '=', ':', '"', '\'', ']', '>', ')', '}':
		return true
	case ' ':
		return i+1 < len(line) && line[i+1] == ':'
	}
	return false
}

// bracketed reports whether line[start:end] is enclosed in a pair of
// brackets: [error], <warn>, (info), {debug}.
func bracketed(line []byte, start, end int) bool {
	if start == 0 || end >= len(line) {
		return false
	}
	switch line[start-1] {
	case '[':
		return line[end] == ']'
	case '<':
		return line[end] == '>'
	case '(':
		return line[end] == ')'
	case '{':
		return line[end] == '}'
	}
	return false
}

// tagged reports whether line[start:end] is a level word the message begins
// with after a program's tag, `sshd[42]: error: ...`, `gmetad: Warning: ...`,
// or a level field set off by " : ", `host:80 error : ...` (Proxifier).
func tagged(line []byte, start, end int) bool {
	n := len(line)
	if end+2 < n && line[end] == ' ' && line[end+1] == ':' && line[end+2] == ' ' {
		return true
	}
	if end >= n || line[end] != ':' {
		return false
	}
	i := start - 1
	for i >= 0 && line[i] == ' ' {
		i--
	}
	if i < 0 || i == start-1 {
		return false // the first word, or no space before it
	}
	switch line[i] {
	case ':', ']', ')', '>':
		return true
	}
	return false
}

// value reads the level after a key that ends at i: `=warn`, `":"warn"`,
// `": "WARNING"`, `='info'`, and bunyan/pino's `":30`.
func value(line []byte, i int, truncated bool, lower *[maxWord]byte) (Level, bool) {
	n := len(line)
	quotedKey := i < n && line[i] == '"'
	if quotedKey {
		i++
	}
	for i < n && line[i] == ' ' {
		i++
	}
	if i >= n || (line[i] != '=' && line[i] != ':') {
		return Level{}, false
	}
	i++
	for i < n && line[i] == ' ' {
		i++
	}
	if i < n && (line[i] == '"' || line[i] == '\'') {
		i++
	} else if quotedKey && i < n && class[line[i]] == clsDigit {
		return bunyan(line[i:])
	}
	start := i
	for i < n && (class[line[i]] == clsLower || class[line[i]] == clsUpper) {
		i++
	}
	if i == start || i-start > maxWord || (i == n && truncated) {
		return Level{}, false
	}
	if i < n && (class[line[i]] == clsDigit || class[line[i]] == clsUscore) {
		return Level{}, false
	}
	l, kind := lookup(line[start:i], lower)
	return l, kind == kindLevel || kind == kindCaps
}

// bunyan reads bunyan's and pino's numeric levels: 10 trace, 20 debug, 30
// info, 40 warn, 50 error, 60 fatal.
func bunyan(b []byte) (Level, bool) {
	if len(b) < 3 || class[b[0]] != clsDigit || b[1] != '0' || class[b[2]] == clsDigit {
		return Level{}, false
	}
	switch b[0] {
	case '1':
		return levelTrace, true
	case '2':
		return levelDebug, true
	case '3':
		return levelInfo, true
	case '4':
		return levelWarn, true
	case '5':
		return levelError, true
	case '6':
		return levelFatal, true
	}
	return Level{}, false
}

// pri reads a syslog PRI prefix, `<0>` to `<191>`.
func pri(line []byte) (Level, bool) {
	v, i := 0, 1
	for ; i < len(line) && i <= 4 && class[line[i]] == clsDigit; i++ {
		v = v*10 + int(line[i]-'0')
	}
	if i == 1 || i > 4 || i >= len(line) || line[i] != '>' || v > 191 {
		return Level{}, false
	}
	return byPRI[v%8], true
}

// glog reads the prefix of glog and klog lines: `Lmmdd hh:mm:ss.uuuuuu`,
// L one of I, W, E, F.
func glog(line []byte) (Level, bool) {
	if len(line) < 9 || line[5] != ' ' || line[8] != ':' {
		return Level{}, false
	}
	for _, c := range [...]byte{line[1], line[2], line[3], line[4], line[6], line[7]} {
		if class[c] != clsDigit {
			return Level{}, false
		}
	}
	switch line[0] {
	case 'I':
		return levelInfo, true
	case 'W':
		return levelWarning, true
	case 'E':
		return levelError, true
	case 'F':
		return levelFatal, true
	}
	return Level{}, false
}

// android reads the single-letter level of Android's logcat: in threadtime
// format, a letter alone after the pid and tid (`03-17 16:13:38.811  1702
// 2395 D Tag: ...`), the first word of the line; in brief format, the letter
// that starts the line followed by '/' (`D/Tag( 123): ...`).
func android(line []byte, at int, first bool) (Level, bool) {
	if !first {
		return Level{}, false
	}
	if at == 0 {
		if len(line) < 2 || line[1] != '/' {
			return Level{}, false
		}
	} else if line[at-1] != ' ' || at+1 >= len(line) || line[at+1] != ' ' || at < 2 || class[line[at-2]] != clsDigit {
		return Level{}, false
	}
	switch line[at] {
	case 'V':
		return levelVerbose, true
	case 'D':
		return levelDebug, true
	case 'I':
		return levelInfo, true
	case 'W':
		return levelWarn, true
	case 'E':
		return levelError, true
	case 'F', 'A':
		return levelFatal, true
	}
	return Level{}, false
}
