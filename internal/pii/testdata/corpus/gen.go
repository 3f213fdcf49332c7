//go:build ignore

// gen writes corpus.jsonl, the labelled corpus of fleet log lines the pii
// tests measure recall and keep rate on. It is deterministic:
//
//	cd internal/pii/testdata/corpus && go run gen.go > corpus.jsonl
package main

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"os"
	"strings"

	"github.com/fleetlog/fleetlog/internal/pii/validate"
)

// Entry is one labelled line: every secret must disappear from the
// redacted line, every keep must survive it.
type Entry struct {
	Tag     string   `json:"tag"`
	Line    string   `json:"line"`
	Secrets []string `json:"secrets,omitempty"`
	Keep    []string `json:"keep,omitempty"`
}

var rng = rand.New(rand.NewPCG(2026, 11))

const (
	lower  = "abcdefghijklmnopqrstuvwxyz"
	upper  = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
	digits = "0123456789"
	alnum  = lower + upper + digits
	hexd   = "0123456789abcdef"
)

func pick[T any](xs ...T) T { return xs[rng.IntN(len(xs))] }

func rnd(alphabet string, n int) string {
	b := make([]byte, n)
	for i := range b {
		b[i] = alphabet[rng.IntN(len(alphabet))]
	}
	return string(b)
}

func luhnDigit(payload string) byte {
	for d := byte('0'); d < '9'; d++ {
		if validate.Luhn([]byte(payload + string(d))) {
			return d
		}
	}
	return '9'
}

func card() string {
	prefix := pick("4", "51", "2221", "37", "6011", "3528")
	n := 16
	switch {
	case prefix == "37":
		n = 15
	case prefix == "4" && rng.IntN(5) == 0:
		n = 13
	}
	payload := prefix + rnd(digits, n-1-len(prefix))
	return payload + string(luhnDigit(payload))
}

func group(num string, sep string) string {
	if len(num) == 15 {
		return num[:4] + sep + num[4:10] + sep + num[10:]
	}
	var parts []string
	for i := 0; i < len(num); i += 4 {
		parts = append(parts, num[i:min(i+4, len(num))])
	}
	return strings.Join(parts, sep)
}

// notLuhn returns a 16-digit number that fails the Luhn check.
func notLuhn(first string) string {
	payload := first + rnd(digits, 15-len(first))
	good := luhnDigit(payload)
	bad := byte('0' + (int(good-'0')+1+rng.IntN(8))%10)
	return payload + string(bad)
}

func ssn() string {
	for {
		area := 1 + rng.IntN(899)
		if area == 666 {
			continue
		}
		return fmt.Sprintf("%03d-%02d-%04d", area, 1+rng.IntN(99), 1+rng.IntN(9999))
	}
}

var ibanCountries = map[string]int{"DE": 22, "GB": 22, "FR": 27, "NL": 18, "ES": 24, "IT": 27, "CH": 21, "BE": 16, "AT": 20, "PL": 28}

func iban() string {
	cc := pick("DE", "GB", "FR", "NL", "ES", "IT", "CH", "BE", "AT", "PL")
	n := ibanCountries[cc]
	var bban string
	switch cc {
	case "GB":
		bban = rnd(upper, 4) + rnd(digits, n-8)
	case "NL":
		bban = rnd(upper, 4) + rnd(digits, n-8)
	case "IT":
		bban = rnd(upper, 1) + rnd(digits, n-5)
	default:
		bban = rnd(digits, n-4)
	}
	rem := 0
	for _, c := range bban + cc + "00" {
		if c >= 'A' && c <= 'Z' {
			rem = (rem*100 + int(c-'A') + 10) % 97
		} else {
			rem = (rem*10 + int(c-'0')) % 97
		}
	}
	return fmt.Sprintf("%s%02d%s", cc, 98-rem, bban)
}

func groups4(s string) string {
	var parts []string
	for i := 0; i < len(s); i += 4 {
		parts = append(parts, s[i:min(i+4, len(s))])
	}
	return strings.Join(parts, " ")
}

func b64url(s string) string { return base64.RawURLEncoding.EncodeToString([]byte(s)) }

func jwt() string {
	h := b64url(pick(`{"alg":"HS256","typ":"JWT"}`, `{"alg":"RS256","kid":"`+rnd(hexd, 8)+`"}`))
	p := b64url(fmt.Sprintf(`{"sub":"%s","iat":%d,"exp":%d}`, rnd(lower, 8), 1732000000+rng.IntN(99999), 1733000000+rng.IntN(99999)))
	return h + "." + p + "." + rnd(alnum+"-_", 43)
}

func email() string {
	return pick("alice", "bob.smith", "j.doe+alerts", "ops-team", "maria_garcia", "wei.chen", "admin") +
		fmt.Sprint(rng.IntN(100)) + "@" + pick("example.com", "corp.example.org", "mail.fleet.io", "company.co.uk", "gmail.com")
}

func uuid() string {
	return rnd(hexd, 8) + "-" + rnd(hexd, 4) + "-4" + rnd(hexd, 3) + "-a" + rnd(hexd, 3) + "-" + rnd(hexd, 12)
}

func mac() string {
	var p []string
	for range 6 {
		p = append(p, rnd(hexd, 2))
	}
	return strings.Join(p, ":")
}

func ts() string {
	return fmt.Sprintf("2026-%02d-%02dT%02d:%02d:%02d.%03dZ", 1+rng.IntN(12), 1+rng.IntN(28), rng.IntN(24), rng.IntN(60), rng.IntN(60), rng.IntN(1000))
}

func pod() string {
	return pick("web", "api", "ingest", "fleet-gw", "auth") + "-" + rnd(lower+digits, 9) + "-" + rnd(lower+digits, 5)
}

func hostPort() string {
	return pick("db.internal", "10.0.3.17", "gateway.fleet.local", "kafka-0.kafka", "localhost") + ":" + fmt.Sprint(pick(5432, 9092, 4317, 8080, 443, 6379))
}

func epochMS() string { return fmt.Sprint(1700000000000 + rng.Int64N(100000000000)) }

func password() string {
	return rnd(alnum, 6+rng.IntN(6)) + pick("!", "#", "$", "%", "") + rnd(alnum, 4)
}

func main() {
	var out []Entry
	add := func(tag, line string, secrets, keep []string) {
		out = append(out, Entry{Tag: tag, Line: line, Secrets: secrets, Keep: keep})
	}
	lvl := func() string { return pick("INFO", "WARN", "ERROR", "DEBUG") }

	for range 30 {
		e := email()
		t := ts()
		add("email", pick(
			t+" "+lvl()+" user "+e+" logged in from "+hostPort(),
			t+` {"event":"signup","email":"`+e+`","plan":"pro"}`,
			t+" sent report to <"+e+">",
			t+" msg=\"password reset\" to="+e,
		), []string{e}, []string{t})
	}
	for range 40 {
		c := card()
		v := pick(c, group(c, " "), group(c, "-"))
		t := ts()
		add("credit_card", pick(
			t+" payment authorized card="+v+" amount=42.10",
			t+" "+lvl()+" charge failed for card "+v+": insufficient funds",
			t+` {"pan":"`+v+`","exp":"12/28"}`,
			t+" checkout: card number "+v+", order "+notLuhn("7"),
		), []string{v}, []string{t})
	}
	for range 25 {
		s := ssn()
		t := ts()
		add("us_ssn", pick(
			t+" applicant ssn="+s+" verified",
			t+" "+lvl()+" SSN "+s+" did not match records",
			t+` {"ssn":"`+s+`","state":"CA"}`,
		), []string{s}, []string{t})
	}
	for range 25 {
		i := iban()
		v := pick(i, groups4(i))
		t := ts()
		add("iban", pick(
			t+" transfer to "+v+" scheduled",
			t+" payout iban="+v+" amount=1200.00 EUR",
			t+` {"iban":"`+v+`","bic":"DEUTDEFF"}`,
		), []string{v}, []string{t})
	}
	for range 20 {
		j := jwt()
		add("jwt", pick(
			ts()+" session token "+j+" issued",
			ts()+" rejected id_token="+j,
			ts()+` {"jwt":"`+j+`"}`,
		), []string{j}, nil)
	}
	for range 25 {
		tok := rnd(alnum+"-._~", 24+rng.IntN(20))
		basic := base64.StdEncoding.EncodeToString([]byte(pick("admin", "svc-backup", "deploy") + ":" + password()))
		switch rng.IntN(5) {
		case 0:
			add("auth_header", ts()+" request headers Authorization: Bearer "+tok+" path=/v1/devices", []string{tok}, []string{"/v1/devices"})
		case 1:
			add("auth_header", ts()+` {"headers":{"Authorization":"Basic `+basic+`"}}`, []string{basic}, nil)
		case 2:
			add("auth_header", ts()+" curl -H 'authorization: bearer "+tok+"' https://api.fleet.io/v2", []string{tok}, []string{"https://api.fleet.io/v2"})
		case 3:
			add("auth_header", ts()+" upstream sent Basic "+basic+" to proxy", []string{basic}, nil)
		default:
			add("auth_header", ts()+" using Bearer "+tok+" for "+hostPort(), []string{tok}, nil)
		}
	}
	for range 15 {
		id := pick("AKIA", "ASIA") + rnd(upper+"234567", 16)
		add("aws_access_key", ts()+" "+pick("assumed role with key "+id, "aws_access_key_id="+id, `{"AccessKeyId":"`+id+`"}`), []string{id}, nil)
	}
	for range 15 {
		sk := rnd(alnum+"/+", 40)
		add("aws_secret_key", ts()+" "+pick("aws_secret_access_key="+sk, `AWS_SECRET_ACCESS_KEY: `+sk, `{"SecretAccessKey":"`+sk+`"}`), []string{sk}, nil)
	}
	for range 15 {
		tok := pick("ghp_", "gho_", "ghs_") + rnd(alnum, 36)
		if rng.IntN(4) == 0 {
			tok = "github_pat_" + rnd(alnum, 22) + "_" + rnd(alnum, 59)
		}
		add("github_token", ts()+" "+pick("git clone using "+tok, "GITHUB_TOKEN="+tok, "pushing with token "+tok+" to origin"), []string{tok}, nil)
	}
	for range 10 {
		tok := "glpat-" + rnd(alnum+"-_", 20)
		add("gitlab_token", ts()+" "+pick("runner registered with "+tok, "private-token: "+tok, "CI_JOB uses "+tok), []string{tok}, nil)
	}
	for range 10 {
		tok := pick("xoxb-", "xoxp-") + rnd(digits, 11) + "-" + rnd(digits, 12) + "-" + rnd(alnum, 24)
		add("slack_token", ts()+" "+pick("posting alert via "+tok, "slack client init "+tok), []string{tok}, nil)
	}
	for range 10 {
		tok := pick("sk_live_", "rk_live_", "sk_test_") + rnd(alnum, 24+rng.IntN(8))
		add("stripe_key", ts()+" "+pick("stripe configured key="+tok, "billing uses "+tok), []string{tok}, nil)
	}
	for range 10 {
		tok := "AIza" + rnd(alnum+"-_", 35)
		add("google_api_key", ts()+" "+pick("maps request key "+tok+" quota ok", "https://maps.googleapis.com/maps/api/geocode/json?address=x&key="+tok), []string{tok}, nil)
	}
	for range 10 {
		body := rnd(alnum+"+/", 64)
		kind := pick("RSA PRIVATE KEY", "PRIVATE KEY", "EC PRIVATE KEY", "OPENSSH PRIVATE KEY")
		sep := pick("\n", "\\n")
		block := "-----BEGIN " + kind + "-----" + sep + body + sep + rnd(alnum+"+/", 40) + sep + "-----END " + kind + "-----"
		add("private_key", ts()+" loaded key: "+block+" done", []string{body}, []string{" done"})
	}
	for range 20 {
		pw := password()
		host := pick("db.internal:5432", "cache.fleet.local:6379", "mq.example.com", "10.2.0.4:5672")
		url := pick("postgres", "redis", "amqp", "https", "mongodb") + "://" + pick("admin", "svc", "app_user", "") + ":" + pw + "@" + host
		add("url_credentials", ts()+" connecting to "+url+"/app", []string{pw}, []string{host})
	}
	for range 45 {
		pw := password()
		key := pick("password", "passwd", "pwd", "secret", "token", "api_key", "apikey", "access_key", "client_secret", "DB_PASSWORD", "auth_token", "X-Api-Key")
		var line string
		switch rng.IntN(5) {
		case 0:
			line = key + "=" + pw
		case 1:
			line = key + ": " + pw
		case 2:
			line = `{"` + key + `":"` + pw + `","user":"svc"}`
		case 3:
			line = `level=info msg="login" ` + key + `="` + pw + " " + rnd(lower, 5) + `" user=svc`
		default:
			line = key + " = " + pw + "; retry=3"
		}
		add("kv_secret", ts()+" "+line, []string{pw}, nil)
	}

	// Hard negatives: look-alikes that must survive.
	for range 25 {
		n := notLuhn(pick("4", "5", "1", "7", "9"))
		add("negative", ts()+" order "+n+" shipped", nil, []string{n})
	}
	for range 20 {
		e := epochMS()
		add("negative", pick(`{"ts":`+e+`,"msg":"tick"}`, "ts_ms="+e+" heartbeat", "received at "+e), nil, []string{e})
	}
	for range 10 {
		us := "17" + rnd(digits, 14)
		add("negative", "event time_us="+us+" processed", nil, []string{us})
	}
	for range 15 {
		u := uuid()
		add("negative", ts()+" request_id="+u+" trace_id="+rnd(hexd, 32)+" completed", nil, []string{u})
	}
	for range 15 {
		h := rnd(hexd, 40)
		h2 := rnd(hexd, 64)
		add("negative", "deploy commit "+h+" image sha256:"+h2, nil, []string{h, h2})
	}
	for range 10 {
		m := mac()
		add("negative", ts()+" link up on eth0 mac "+m+" speed 1000Mb/s", nil, []string{m})
	}
	for range 15 {
		v := fmt.Sprintf("%d.%d.%d", rng.IntN(5), rng.IntN(30), rng.IntN(20))
		add("negative", "fleetlog version v"+v+" (go1.26.0) build "+rnd(hexd, 7), nil, []string{"v" + v})
	}
	for range 10 {
		t := ts()
		d := fmt.Sprintf("%dms", rng.IntN(5000))
		add("negative", t+" request took "+d+" timeout=30s retry_in=1m30s", nil, []string{t, d})
	}
	for range 10 {
		p := pick("/var/log/fleetlog/app.log", "/etc/fleetlog/tls/ca.pem", "/home/op/.config/fleetlog.yaml", "/var/lib/fleetlog/spool/000123.seg")
		add("negative", "opened "+p+" mode 0600 PWD=/home/op", nil, []string{p, "PWD=/home/op"})
	}
	for range 15 {
		hp := hostPort()
		p := pod()
		add("negative", ts()+" pod "+p+" connected to "+hp+" port 8443", nil, []string{hp, p})
	}
	for range 10 {
		area, group, serial := pick("000", "666", "912", "987"), 1+rng.IntN(99), 1+rng.IntN(9999)
		if area[0] == '9' {
			group = group%49 + 1 // 9xx with a group of 50 or more is an ITIN
		}
		s := fmt.Sprintf("%s-%02d-%04d", area, group, serial)
		add("negative", "test fixture ssn "+s+" (invalid area)", nil, []string{s})
	}
	for range 10 {
		d := fmt.Sprintf("2026-%02d-%02d", 1+rng.IntN(12), 1+rng.IntN(28))
		ph := fmt.Sprintf("%03d-%03d-%04d", 200+rng.IntN(700), 200+rng.IntN(700), rng.IntN(10000))
		add("negative", "backup "+d+" finished; support line "+ph+"; ip 192.168.1."+fmt.Sprint(rng.IntN(255)), nil, []string{d, ph, "192.168.1."})
	}
	for range 15 {
		k := pick("tokens", "token_count", "max_tokens", "secret_name", "password_changed", "token_type", "passwords_rotated")
		v := pick("5", "true", "db-creds", "Bearer", "12", "2048")
		add("negative", ts()+" "+k+"="+v+" status=ok", nil, []string{k + "=" + v})
	}
	for range 10 {
		phrase := pick("missing bearer token", "basic auth failed for user op", "token expired, refreshing", "password=null reset requested", "secret=${env:DB_SECRET} loaded", "password: ******** accepted", "user@host: permission denied")
		add("negative", ts()+" "+phrase, nil, []string{phrase})
	}
	for range 10 {
		de := pick("DE89370400440532013001", "GB82WEST12345698765431", "NL91ABNA0417164301")
		add("negative", "ref "+de+" rejected by bank", nil, []string{de})
	}

	// Mixed lines: several secrets among benign tokens.
	for range 25 {
		e := email()
		c := card()
		pw := password()
		u := uuid()
		hp := hostPort()
		add("mixed", fmt.Sprintf("%s ERROR checkout failed user=%s card=%s password=%s request_id=%s upstream=%s", ts(), e, group(c, " "), pw, u, hp),
			[]string{e, group(c, " "), pw}, []string{u, hp})
	}

	enc := json.NewEncoder(os.Stdout)
	enc.SetEscapeHTML(false)
	for _, e := range out {
		if err := enc.Encode(e); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
	}
}
