// Package evalcorpus builds the evaluation corpus the pii engine is
// measured on: secrets and personal data from public test material, written
// into real system log lines in the contexts logs carry them in, look-alikes
// that must survive, and untouched real lines as the false-positive set.
//
// Sources and their licences:
//
//   - secrets: the true and false positives that every gitleaks rule
//     declares (github.com/zricethezav/gitleaks/v8, cmd/generate/config/rules,
//     MIT), extracted into ../testdata/gitleaks/cases.json by
//     internal/tools/gitleaksrules;
//   - card numbers: the valid and invalid numbers of the credit card
//     recognizer tests of Datadog's obfuscator
//     (github.com/DataDog/datadog-agent/pkg/obfuscate, credit_cards_test.go,
//     Apache-2.0), read from the module cache;
//   - personal data: the example numbers the issuers publish in their own
//     format documentation (personalExamples below);
//   - carriers and clean lines: the Loghub-2k samples of 16 systems (free
//     for research use, with citation), read in place through
//     internal/loghub. They are never copied into the repository, which is
//     why the corpus is built at test time and not committed.
//
// Everything is deterministic: the same inputs give the same corpus.
package evalcorpus

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"hash/fnv"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"

	"github.com/fleetlog/fleetlog/internal/loghub"
)

// Entry is one labelled line: every secret must be gone from the redacted
// line, every keep must survive it.
type Entry struct {
	Kind    string   `json:"kind"`    // what the value is: a gitleaks rule id, credit_card, uuid, ...
	Context string   `json:"context"` // how the line carries it
	Source  string   `json:"source"`
	Line    string   `json:"line"`
	Secrets []string `json:"secrets,omitempty"`
	Keep    []string `json:"keep,omitempty"`
}

// Corpus is the evaluation corpus.
type Corpus struct {
	// Secrets are lines that carry one secret or personal datum.
	Secrets []Entry
	// LookAlikes are lines that carry a value that looks like a secret
	// and is not one; it must be kept.
	LookAlikes []Entry
	// DeclaredFP are the lines gitleaks' rules declare as their false
	// positives, written into carriers: many are secrets-to-be of another
	// kind (a key that is too short for one rule, a placeholder), so they
	// are reported, not held to the keep target.
	DeclaredFP []Entry
	// Clean are the real lines, untouched.
	Clean []string
}

// Build reads the sources and writes the corpus. loghubDir is the Loghub-2k
// folder (loghub.Dir).
func Build(loghubDir string) (*Corpus, error) {
	var clean []string
	systems, err := loghub.Systems(loghubDir)
	if err != nil {
		return nil, err
	}
	for _, sys := range systems {
		lines, err := loghub.Lines(loghubDir, sys)
		if err != nil {
			return nil, err
		}
		clean = append(clean, lines...)
	}
	if len(clean) == 0 {
		return nil, errors.New("evalcorpus: no loghub lines")
	}
	c := &Corpus{Clean: clean}
	b := builder{carriers: clean}

	cases, err := GitleaksCases()
	if err != nil {
		return nil, err
	}
	for _, gc := range cases {
		vendor := vendorOf(gc.Rule)
		for i, s := range gc.Secrets {
			for _, ctx := range secretContexts {
				if contextDefined[gc.Rule] {
					break
				}
				c.Secrets = append(c.Secrets, b.entry(gc.Rule, ctx, "gitleaks", vendor, s, true))
			}
			if i < len(gc.Lines) {
				c.Secrets = append(c.Secrets, Entry{Kind: gc.Rule, Context: "gitleaks_line", Source: "gitleaks",
					Line: b.carrier(gc.Lines[i]) + " " + gc.Lines[i], Secrets: []string{s}})
			}
		}
		for _, fp := range gc.FP {
			c.DeclaredFP = append(c.DeclaredFP, Entry{Kind: gc.Rule, Context: "gitleaks_fp", Source: "gitleaks",
				Line: b.carrier(fp) + " " + fp, Keep: []string{fp}})
		}
	}

	cards, err := datadogCards()
	if err != nil {
		return nil, err
	}
	for _, n := range cards {
		for _, ctx := range piiContexts {
			c.Secrets = append(c.Secrets, b.entry("credit_card", ctx, "datadog-obfuscate", "card", n, true))
		}
	}
	for _, p := range personalExamples {
		for _, ctx := range piiContexts {
			c.Secrets = append(c.Secrets, b.entry(p.kind, ctx, p.source, p.noun, p.value, true))
		}
	}

	for _, la := range lookAlikes() {
		for _, ctx := range lookAlikeContexts {
			c.LookAlikes = append(c.LookAlikes, b.entry(la.kind, ctx, "look-alike", la.noun, la.value, false))
		}
	}
	return c, nil
}

type builder struct {
	carriers []string
}

// carrier picks a real line for a value, by a hash of the value, so that
// the corpus is stable and every system carries some.
func (b *builder) carrier(key string) string {
	h := fnv.New64a()
	h.Write([]byte(key))
	return b.carriers[h.Sum64()%uint64(len(b.carriers))]
}

func (b *builder) entry(kind string, ctx context, source, noun, value string, secret bool) Entry {
	line := ctx.render(noun, value)
	if !ctx.standalone {
		line = b.carrier(kind+ctx.name+value) + " " + line
	}
	e := Entry{Kind: kind, Context: ctx.name, Source: source, Line: line}
	if secret {
		e.Secrets = []string{value}
	} else {
		e.Keep = []string{value}
	}
	return e
}

// context writes a value into a line. noun names what the value is: a
// vendor for secrets ("openai"), a field for look-alikes ("commit").
type context struct {
	name       string
	standalone bool // the line is the context alone (YAML, env files)
	render     func(noun, v string) string
}

func snake(noun, suffix string) string { return strings.ReplaceAll(noun, "-", "_") + suffix }

// secretContexts are the ways logs carry a credential.
var secretContexts = []context{
	{"free_text", false, func(n, v string) string { return "retrying " + n + " call with key " + v + " after 401" }},
	{"key_value", false, func(n, v string) string { return snake(n, "_api_key") + "=" + v + " attempt=2" }},
	{"logfmt_quoted", false, func(n, v string) string { return `msg="auth ok" ` + snake(n, "_token") + `="` + v + `" dur=12ms` }},
	{"json_value", false, func(n, v string) string {
		return `{"level":"info","provider":"` + n + `","` + snake(n, "_key") + `":"` + v + `","retry":false}`
	}},
	{"yaml", true, func(n, v string) string { return "  " + snake(n, "_api_token") + ": " + v }},
	{"env", true, func(n, v string) string { return "export " + strings.ToUpper(snake(n, "_API_KEY")) + "=" + v }},
	{"cli_flag", false, func(n, v string) string {
		return "exec /usr/local/bin/" + n + "-cli --api-key " + v + " --region eu-west-1"
	}},
	{"url_query", false, func(n, v string) string {
		return "GET https://api." + n + ".example/v1/items?access_token=" + v + "&page=2 HTTP/1.1 200"
	}},
	{"url_path", false, func(n, v string) string { return "POST https://hooks." + n + ".example/services/" + v + "/send 404" }},
	{"connection_string", false, func(n, v string) string {
		return "Server=tcp:db.internal,1433;Database=" + snake(n, "") + ";User Id=svc;Password=" + v + ";Encrypt=true"
	}},
	{"stack_trace", false, func(n, v string) string {
		return "\tat io." + snake(n, "") + ".client.Auth.login(Auth.java:88) Caused by: AuthException: rejected credential " + v
	}},
	{"authorization_header", false, func(n, v string) string { return "Authorization: Bearer " + v }},
	{"custom_header", false, func(n, v string) string { return "X-" + n + "-Key: " + v }},
	{"repr", false, func(n, v string) string {
		return "Config(endpoint='https://api." + n + ".example', " + snake(n, "_token") + "='" + v + "', retries=3)"
	}},
	{"xml", false, func(n, v string) string {
		return "<credentials><" + snake(n, "Key") + ">" + v + "</" + snake(n, "Key") + "></credentials>"
	}},
}

// piiContexts are the ways logs carry personal data.
var piiContexts = []context{
	{"free_text", false, func(n, v string) string { return "customer " + n + " " + v + " updated" }},
	{"key_value", false, func(n, v string) string { return snake(n, "") + "=" + v + " status=ok" }},
	{"json_value", false, func(n, v string) string { return `{"event":"update","` + snake(n, "") + `":"` + v + `"}` }},
	{"yaml", true, func(n, v string) string { return "  " + snake(n, "") + ": " + v }},
	{"url_query", false, func(n, v string) string { return "GET /api/customers?" + snake(n, "") + "=" + v + " 200" }},
	{"stack_trace", false, func(n, v string) string {
		return "\tat com.acme.billing.Validator.check(Validator.java:41) IllegalArgumentException: bad " + n + " " + v
	}},
	{"repr", false, func(n, v string) string { return "Customer(name='x', " + snake(n, "") + "='" + v + "')" }},
	{"csv", false, func(n, v string) string { return "row 17: 2026-01-04," + v + ",EUR,12.50" }},
}

// lookAlikeContexts are the same shapes with neutral names.
var lookAlikeContexts = []context{
	{"free_text", false, func(n, v string) string { return "processing " + n + " " + v + " done" }},
	{"key_value", false, func(n, v string) string { return snake(n, "") + "=" + v + " status=ok" }},
	{"logfmt_quoted", false, func(n, v string) string { return `msg="step done" ` + snake(n, "") + `="` + v + `"` }},
	{"json_value", false, func(n, v string) string { return `{"level":"info","` + snake(n, "") + `":"` + v + `"}` }},
	{"yaml", true, func(n, v string) string { return "  " + snake(n, "") + ": " + v }},
	{"env", true, func(n, v string) string { return "export " + strings.ToUpper(snake(n, "")) + "=" + v }},
	{"cli_flag", false, func(n, v string) string { return "exec /usr/bin/agent --" + n + " " + v + " --verbose" }},
	{"url_query", false, func(n, v string) string { return "GET /api/v1/items?" + snake(n, "") + "=" + v + "&page=2 200" }},
	{"url_path", false, func(n, v string) string { return "GET /api/v1/" + n + "s/" + v + "/status 200" }},
	{"stack_trace", false, func(n, v string) string {
		return "\tat com.acme.store.Repo.load(Repo.java:120) NotFoundException: " + n + " " + v
	}},
	{"repr", false, func(n, v string) string { return "Item(" + snake(n, "") + "='" + v + "', ok=True)" }},
	{"xml", false, func(n, v string) string { return "<" + snake(n, "") + ">" + v + "</" + snake(n, "") + ">" }},
	{"custom_header", false, func(n, v string) string { return "X-" + n + ": " + v }},
	// Near a vendor's name, where rules that look for a vendor's name and
	// then a value could take an identifier for its key.
	{"vendor_prose", false, func(n, v string) string {
		vendors := []string{"datadog", "sentry", "heroku", "linear", "okta", "twilio", "github", "slack"}
		h := fnv.New32a()
		h.Write([]byte(v))
		return vendors[h.Sum32()%uint32(len(vendors))] + " client: sent " + n + " " + v + " (attempt 1)"
	}},
}

// contextDefined are the rules whose secret has no format of its own: the
// command around it makes it one (curl -u user:pass, curl -H
// "Authorization: ..."; Sidekiq's BUNDLE_ENTERPRISE__CONTRIBSYS__COM=...).
// Their values are only written in the lines gitleaks gives.
var contextDefined = map[string]bool{
	"curl-auth-header":      true,
	"curl-auth-user":        true,
	"sidekiq-secret":        true,
	"sidekiq-sensitive-url": true,
}

// vendorOf names a rule's vendor: its id without the words for what kind
// of credential it is ("new-relic-insert-key" -> "new-relic").
func vendorOf(rule string) string {
	parts := strings.Split(rule, "-")
	for len(parts) > 1 && credentialWords[parts[len(parts)-1]] {
		parts = parts[:len(parts)-1]
	}
	return strings.Join(parts, "-")
}

var credentialWords = map[string]bool{
	"access": true, "admin": true, "api": true, "app": true, "auth": true, "bearer": true, "client": true,
	"id": true, "insert": true, "key": true, "level": true, "license": true, "long": true, "lived": true,
	"oauth": true, "pat": true, "personal": true, "private": true, "pub": true, "refresh": true,
	"secret": true, "service": true, "short": true, "signing": true, "token": true, "user": true,
	"account": true, "webhook": true, "v2": true, "live": true, "test": true, "restricted": true,
}

// GitleaksCase is one rule's declared test data, as internal/tools/gitleaksrules
// writes it.
type GitleaksCase struct {
	Rule    string   `json:"rule"`
	Secrets []string `json:"secrets"`
	Lines   []string `json:"lines"`
	FP      []string `json:"fp"`
}

// GitleaksCases reads ../testdata/gitleaks/cases.json.
func GitleaksCases() ([]GitleaksCase, error) {
	_, file, _, ok := runtime.Caller(0)
	if !ok {
		return nil, errors.New("evalcorpus: cannot locate testdata")
	}
	b, err := os.ReadFile(filepath.Join(filepath.Dir(file), "..", "testdata", "gitleaks", "cases.json"))
	if err != nil {
		return nil, err
	}
	var out []GitleaksCase
	sc := bufio.NewScanner(bytes.NewReader(b))
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		var c GitleaksCase
		if err := json.Unmarshal(sc.Bytes(), &c); err != nil {
			return nil, fmt.Errorf("gitleaks cases: %w", err)
		}
		out = append(out, c)
	}
	return out, sc.Err()
}

const datadogModule = "github.com/DataDog/datadog-agent/pkg/obfuscate"

// datadogCards reads the valid card numbers of Datadog's card recognizer
// test from the module cache (go mod download fetches it when absent).
func datadogCards() ([]string, error) {
	dir, err := moduleDir(datadogModule)
	if err != nil {
		return nil, err
	}
	path := filepath.Join(dir, "credit_cards_test.go")
	f, err := parser.ParseFile(token.NewFileSet(), path, nil, 0)
	if err != nil {
		return nil, err
	}
	var valid []string
	ast.Inspect(f, func(n ast.Node) bool {
		call, ok := n.(*ast.CallExpr)
		if !ok || len(call.Args) != 2 || valid != nil {
			return true
		}
		name, ok := call.Args[0].(*ast.BasicLit)
		if !ok || name.Value != `"valid"` {
			return true
		}
		ast.Inspect(call.Args[1], func(n ast.Node) bool {
			lit, ok := n.(*ast.CompositeLit)
			if !ok || valid != nil {
				return true
			}
			for _, el := range lit.Elts {
				if bl, ok := el.(*ast.BasicLit); ok && bl.Kind == token.STRING {
					s, _ := strconv.Unquote(bl.Value)
					if s = strings.TrimSpace(s); s != "" {
						valid = append(valid, s)
					}
				}
			}
			return false
		})
		return false
	})
	if len(valid) == 0 {
		return nil, fmt.Errorf("evalcorpus: no valid card numbers in %s", path)
	}
	seen := map[string]bool{}
	out := valid[:0]
	for _, v := range valid {
		if !seen[v] {
			seen[v] = true
			out = append(out, v)
		}
	}
	return out, nil
}

// moduleDir is a required module's source, downloaded into the module
// cache if it is not there yet.
func moduleDir(mod string) (string, error) {
	_, file, _, _ := runtime.Caller(0)
	cmd := exec.Command("go", "mod", "download", "-json", mod)
	cmd.Dir = filepath.Dir(file)
	out, err := cmd.Output()
	if err != nil {
		return "", fmt.Errorf("evalcorpus: go mod download %s: %w", mod, err)
	}
	var info struct{ Dir string }
	if err := json.Unmarshal(out, &info); err != nil || info.Dir == "" {
		return "", fmt.Errorf("evalcorpus: no module directory for %s", mod)
	}
	return info.Dir, nil
}

type personal struct {
	kind, noun, value, source string
}

// personalExamples are the example numbers issuers publish in their format
// documentation (valid check digits, issued to nobody).
var personalExamples = []personal{
	{"us_ssn", "ssn", "078-05-1120", "SSA: the Woolworth wallet card number, voided"},
	{"us_ssn", "ssn", "219-09-9999", "SSA: the 1940 pamphlet number, voided"},
	{"iban", "iban", "GB82 WEST 1234 5698 7654 32", "SWIFT IBAN registry: GB example"},
	{"iban", "iban", "DE89370400440532013000", "SWIFT IBAN registry: DE example"},
	{"iban", "iban", "FR1420041010050500013M02606", "SWIFT IBAN registry: FR example"},
	{"iban", "iban", "NL91ABNA0417164300", "SWIFT IBAN registry: NL example"},
	{"email", "email", "j.doe@example.com", "RFC 2606 example domain"},
	{"uk_nhs", "nhs_number", "943 476 5919", "NHS Digital: NHS number format example"},
	{"uk_nino", "nino", "QQ 12 34 56 C", "HMRC: National Insurance number example"},
	{"ca_sin", "sin", "046 454 286", "Government of Canada: SIN example"},
	{"es_nif", "nif", "12345678Z", "Spanish Ministry of Interior: DNI check letter example"},
	{"it_codice_fiscale", "codice_fiscale", "RSSMRA85T10A562S", "Agenzia delle Entrate: codice fiscale example"},
	{"fi_hetu", "hetu", "131052-308T", "Finnish Digital Agency: personal identity code example"},
	{"pl_pesel", "pesel", "44051401359", "Polish Ministry of Digital Affairs: PESEL example"},
	{"au_tfn", "tfn", "123 456 782", "ATO: tax file number algorithm example"},
	{"us_mbi", "mbi", "1EG4-TE5-MK73", "CMS: Medicare Beneficiary Identifier example"},
}

type lookAlike struct {
	kind, noun, value string
}

// lookAlikes are the identifiers logs are full of that are not secrets.
func lookAlikes() []lookAlike {
	r := newRand(2026)
	var out []lookAlike
	add := func(kind, noun string, n int, gen func() string) {
		for i := 0; i < n; i++ {
			out = append(out, lookAlike{kind, noun, gen()})
		}
	}
	add("uuid", "request_id", 12, func() string {
		h := r.hex(32)
		return h[:8] + "-" + h[8:12] + "-4" + h[13:16] + "-a" + h[17:20] + "-" + h[20:]
	})
	add("git_sha", "commit", 8, func() string { return r.hex(40) })
	add("git_sha_short", "revision", 6, func() string { return r.hex(7 + r.intn(6)) })
	add("sha256_digest", "digest", 8, func() string { return "sha256:" + r.hex(64) })
	add("container_id", "container", 8, func() string { return r.hex(64) })
	add("container_id_short", "container", 6, func() string { return r.hex(12) })
	add("trace_id", "trace_id", 6, func() string { return r.hex(32) })
	add("span_id", "span_id", 6, func() string { return r.hex(16) })
	add("epoch_ns", "ts", 8, func() string { return "17" + r.digits(17) })
	add("epoch_ms", "ts", 6, func() string { return "17" + r.digits(11) })
	add("hdfs_block", "block", 8, func() string { return "blk_-" + strconv.FormatUint(1e18+r.next()%8e18, 10) })
	add("hdfs_block_pos", "block", 4, func() string { return "blk_" + strconv.FormatUint(1e18+r.next()%8e18, 10) })
	add("mac_address", "mac", 8, func() string {
		h := r.hex(12)
		return strings.ToUpper(h[0:2] + ":" + h[2:4] + ":" + h[4:6] + ":" + h[6:8] + ":" + h[8:10] + ":" + h[10:12])
	})
	add("version", "version", 6, func() string {
		return fmt.Sprintf("v%d.%d.%d", r.intn(3), r.intn(40), r.intn(20))
	})
	add("order_number", "order", 8, func() string { return "ORD-" + strconv.Itoa(2020+r.intn(7)) + "-" + r.digits(6) })
	add("order_number_long", "order", 8, func() string { return notLuhn("4" + r.digits(15)) })
	add("md5", "checksum", 6, func() string { return r.hex(32) })
	add("k8s_pod", "pod", 6, func() string { return "api-" + r.hex(9) + "-" + r.alnum(5) })
	add("java_object", "token", 4, func() string { return "Token{" + r.hex(7) + "}" })
	add("aws_arn", "role", 4, func() string { return "arn:aws:iam::" + r.digits(12) + ":role/deploy" })
	return out
}

// notLuhn changes the last digit of d so that it fails the Luhn check: a
// 16-digit number with a card prefix that passes it is a card number.
func notLuhn(d string) string {
	sum := 0
	for i := len(d) - 1; i >= 0; i-- {
		n := int(d[i] - '0')
		if (len(d)-1-i)%2 == 1 {
			n *= 2
			if n > 9 {
				n -= 9
			}
		}
		sum += n
	}
	if sum%10 != 0 {
		return d
	}
	last := (d[len(d)-1]-'0'+1)%10 + '0'
	return d[:len(d)-1] + string(rune(last))
}

// rand is a small deterministic generator (SplitMix64), so that the corpus
// does not depend on math/rand's stream.
type rand struct{ s uint64 }

func newRand(seed uint64) *rand { return &rand{seed} }

func (r *rand) next() uint64 {
	r.s += 0x9e3779b97f4a7c15
	z := r.s
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9
	z = (z ^ (z >> 27)) * 0x94d049bb133111eb
	return z ^ (z >> 31)
}

func (r *rand) intn(n int) int { return int(r.next() % uint64(n)) }

func (r *rand) pick(alphabet string, n int) string {
	b := make([]byte, n)
	for i := range b {
		b[i] = alphabet[r.intn(len(alphabet))]
	}
	return string(b)
}

func (r *rand) hex(n int) string    { return r.pick("0123456789abcdef", n) }
func (r *rand) digits(n int) string { return r.pick("0123456789", n) }
func (r *rand) alnum(n int) string  { return r.pick("abcdefghijklmnopqrstuvwxyz0123456789", n) }
