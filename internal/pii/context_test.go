package pii

import (
	"strings"
	"testing"
)

// TestSecretContexts covers the syntaxes secrets are written in, and the
// look-alikes each must leave alone.
func TestSecretContexts(t *testing.T) {
	t.Parallel()
	e := mustNew(t, Options{})
	const kv = "[REDACTED:kv_secret]"
	tests := []struct {
		name, in, want string
	}{
		{"k=v", "db_password=S3cr3t!x", "db_password=" + kv},
		{"k: v", "password: hunter2", "password: " + kv},
		{"json", `{"client_secret":"Zk9x8Qw2Lm4Np6Rt"}`, `{"client_secret":"` + kv + `"}`},
		{"json escaped quotes whole", `{"password":"a\"b\"c"}`, `{"password":"` + kv + `"}`},
		{"json in a json string", `{"log":"{\"password\":\"hunter2\",\"user\":\"bob\"}"}`, `{"log":"{\"password\":\"` + kv + `\",\"user\":\"bob\"}"}`},
		{"json pass", `{"user":"bob","pass":"p4ss;word"}`, `{"user":"bob","pass":"` + kv + `"}`},
		{"yaml quoted", `  api_key: "f3a9c1e07b2d4e58a6c9"`, `  api_key: "` + kv + `"`},
		{"env export", `export GITHUB_TOKEN=Zx81kLq0Pw29mNb7`, `export GITHUB_TOKEN=` + kv},
		{"ado connection string", "Server=db;Database=app;User Id=sa;Password=P@ssw0rd;", "Server=db;Database=app;User Id=sa;Password=" + kv + ";"},
		{"jdbc url", "jdbc:mysql://db:3306/app?user=app&password=Xy7pQ2", "jdbc:mysql://db:3306/app?user=app&password=" + kv},
		{"azure account key", "DefaultEndpointsProtocol=https;AccountName=x;AccountKey=q1w2e3r4t5y6u7i8o9p0+/ab==;EndpointSuffix=core.windows.net",
			"DefaultEndpointsProtocol=https;AccountName=x;AccountKey=" + kv + ";EndpointSuffix=core.windows.net"},
		{"long flag", "deploy --password hunter2 --verbose", "deploy --password " + kv + " --verbose"},
		{"long flag equals", "deploy --db-password=hunter2", "deploy --db-password=" + kv},
		{"long flag token", "cli --api-token Zx81kLq0Pw29mNb7 run", "cli --api-token " + kv + " run"},
		{"powershell", `New-LocalUser -Name bob -Password "Pa55 w0rd"`, `New-LocalUser -Name bob -Password "` + kv + `"`},
		{"mysql glued", "mysql -u root -pS3cr3t app", "mysql -u root -p" + kv + " app"},
		{"mysql spaced is a database", "mysql -u root -p app", "mysql -u root -p app"},
		{"sshpass", "sshpass -p hunter2 ssh bob@host", "sshpass -p " + kv + " ssh bob@host"},
		{"redis-cli", "redis-cli -h cache -a s3cret ping", "redis-cli -h cache -a " + kv + " ping"},
		{"ldapsearch", "ldapsearch -x -D cn=admin -w adm1n -b dc=x", "ldapsearch -x -D cn=admin -w " + kv + " -b dc=x"},
		{"curl -u", "curl -u bob:hunter2 https://api", "curl -u bob:" + kv + " https://api"},
		{"curl --user", "curl --user 'bob:p a:ss' https://api", "curl --user 'bob:" + kv + "' https://api"},
		{"smbclient", "smbclient //srv/share -U bob%hunter2", "smbclient //srv/share -U bob%" + kv},
		{"openssl passin", "openssl rsa -in k.pem -passin pass:hunter2", "openssl rsa -in k.pem -passin pass:" + kv},
		{"aws configure set", "aws configure set aws_secret_access_key wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
			"aws configure set aws_secret_access_key [REDACTED:aws_secret_key]"},
		{"redis config set", "CONFIG SET requirepass hunter2", "CONFIG SET requirepass " + kv},
		{"netrc", "machine api.example.com login bob password hunter2", "machine api.example.com login bob password " + kv},
		{"prose", "the password is hunter2.", "the password is " + kv + "."},
		{"prose quoted", `new password is "correct horse"`, `new password is "` + kv + `"`},
		{"pw colon", "pw: Tr0ub4dor&3", "pw: " + kv},
		{"bcrypt", "hash $2b$12$R9h/cIPz0gi.URNNX3kh2OPST9/PgBkqquzi.Ss7KIUgO2t0jWMUW ok", "hash [REDACTED:password_hash] ok"},
		{"sha512crypt", "root:$6$rounds=5000$saltsalt$Ab4cD7eF0gH3iJ6kL9mN2oP5qR8sT1uV4wX7yZ0aB3cD6eF9gH2iJ5kL8mN1oP4qR7sT0uV3wX6yZ9aB2cD5eF8gH1i:19000:0:99999:7:::",
			"root:[REDACTED:password_hash]:19000:0:99999:7:::"},
		{"md5crypt", "user:$1$abcdefgh$0123456789abcdefghijkl:1", "user:[REDACTED:password_hash]:1"},
		{"yescrypt", "bob:$y$j9T$F5Jx5fExrKuPp53xLKQ..1$X3DX6M94c7o.9agCG9G317fhZg9SqC.5i5rd.RhAtQ7:19", "bob:[REDACTED:password_hash]:19"},
		{"argon2", "$argon2id$v=19$m=65536,t=3,p=4$c2FsdHNhbHQ$RdescudvJCsgt3ub+b+dWRWJTmaaJObG", "[REDACTED:password_hash]"},
		{"password key holding a hash", "password=$2a$10$N9qo8uLOickgx2ZMRZoMyeIjZAgcfl7p92ldGxad68LJZdL17lhWy", "password=[REDACTED:password_hash]"},
		{"base64 pem", "tls.key: LS0tLS1CRUdJTiBSU0EgUFJJVkFURSBLRVktLS0tLQpNSUlFb3dJQkFBS0NBUUVB", "tls.key: [REDACTED:private_key]"},
		{"base64 certificate stays", "tls.crt: LS0tLS1CRUdJTiBDRVJUSUZJQ0FURS0tLS0tCk1JSUM=", "tls.crt: LS0tLS1CRUdJTiBDRVJUSUZJQ0FURS0tLS0tCk1JSUM="},
		{"discord webhook", "post https://discord.com/api/webhooks/123456789012345678/" + strings.Repeat("aB3_-", 14) + " done",
			"post https://[REDACTED:webhook_url] done"},

		// Look-alikes.
		{"java object token", "wtoken = AppWindowToken{9f4ef63 token=Token{a64f992 ActivityRecord{de9231d u0", "wtoken = AppWindowToken{9f4ef63 token=Token{a64f992 ActivityRecord{de9231d u0"},
		{"java object closed", `{"token":"Token{e0e0dfe}"} token='Token{8f3bb4f}'`, `{"token":"Token{e0e0dfe}"} token='Token{8f3bb4f}'`},
		{"binder proxy", "Bad activity token: android.os.BinderProxy@2bd79ce", "Bad activity token: android.os.BinderProxy@2bd79ce"},
		{"hadoop token object", "Token: Token { kind: ContainerToken, service: 10.0.0.1:28345 }", "Token: Token { kind: ContainerToken, service: 10.0.0.1:28345 }"},
		{"dotted label", "stream/token: com.apple.xpc.activity/4505: 132", "stream/token: com.apple.xpc.activity/4505: 132"},
		{"token state word", "token=expired secret: none api_key=refresh_required", "token=expired secret: none api_key=refresh_required"},
		{"bypass is not a password", "bypass=on compass: north", "bypass=on compass: north"},
		{"ssh failed password", "Failed password for invalid user admin from 1.2.3.4 port 22 ssh2", "Failed password for invalid user admin from 1.2.3.4 port 22 ssh2"},
		{"prose word", "the password is incorrect", "the password is incorrect"},
		{"env reference", "password=${DB_PASSWORD} token=$API_TOKEN", "password=${DB_PASSWORD} token=$API_TOKEN"},
		{"placeholder", "password: <password>", "password: <password>"},
		{"flag in prose", "error: --password requires a value; use -Password to set it", "error: --password requires a value; use -Password to set it"},
		{"set in prose", "failed to set password for user bob", "failed to set password for user bob"},
		{"login then password in prose", "login failed: password mismatch for bob", "login failed: password mismatch for bob"},
		{"docker user", "docker run --user 1000:1000 img", "docker run --user 1000:1000 img"},
		{"docker user names", "docker run --user www-data:www-data img", "docker run --user www-data:www-data img"},
		{"ssh -p port", "ssh -p 2222 host", "ssh -p 2222 host"},
		{"mkdir -p", "mkdir -p /var/lib/x", "mkdir -p /var/lib/x"},
		{"flag without secret name", "run --passes 3 -Path C:\\x", "run --passes 3 -Path C:\\x"},
		{"dollar amount", "cost $1$2 and $5 fee", "cost $1$2 and $5 fee"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if got := redact(e, tt.in); got != tt.want {
				t.Errorf("Redact(%q)\n got %q\nwant %q", tt.in, got, tt.want)
			}
		})
	}
}

// TestWholeSecret checks that each detector masks its secret up to the end
// the format defines, punctuation included.
func TestWholeSecret(t *testing.T) {
	t.Parallel()
	e := mustNew(t, Options{})
	tests := []struct {
		name, in, want string
	}{
		{"salesforce bearer", "Authorization: Bearer 00DE0X0A0M0PeLE!AQcAQH0dMHZfz972TKrYnEbO0hQ1Fn.R3v6z_Ek-kEYi", "Authorization: Bearer [REDACTED:auth_header]"},
		{"bearer in prose", "sent Bearer 00DE0X0A0M0PeLE!AQcAQH0dMHZfz972TKrYnEbO0hQ1Fn. done", "sent Bearer [REDACTED:auth_header]. done"},
		{"slack app token with slash", "xapp-1-A052FGTS2DL-5171572773297-ShAYwge/87H4lC3j7lZ48pAL end", "[REDACTED:slack_token] end"},
		{"github token then sentence end", "use ghp_" + strings.Repeat("a1", 18) + ".", "use [REDACTED:github_token]."},
		{"quoted with escapes", `secret="x\"y z\\"` + ` next`, `secret="[REDACTED:kv_secret]"` + ` next`},
		{"single quoted", `password='it''s'`, `password='[REDACTED:kv_secret]''s'`},
		{"url credentials with symbols", "amqp://bob:p%40ss!w0rd~x@mq:5672/", "amqp://bob:[REDACTED:url_credentials]@mq:5672/"},
		{"jwt whole", "t=eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.dozjgNryP4J3jVmNHl0w5N_XgL0n3I9PlFUP0THsR8U;", "t=[REDACTED:jwt];"},
		{"aws secret with slashes and plus", "aws_secret_access_key=wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY", "aws_secret_access_key=[REDACTED:aws_secret_key]"},
		{"card with dashes", "4111-1111-1111-1111", "[REDACTED:credit_card]"},
		{"iban spaced", "IBAN DE89 3704 0044 0532 0130 00.", "IBAN [REDACTED:iban]."},
		{"email plus and dots", "<j.doe+alerts@mail.example.co.uk>", "<[REDACTED:email]>"},
		{"hetu 1800s sign", "hetu=010199+123Y;", "hetu=[REDACTED:fi_hetu];"},
		{"nie dashed", "NIE X-1234567-L.", "NIE [REDACTED:es_nif]."},
		{"base64 pem with padding", "key=LS0tLS1CRUdJTiBQUklWQVRFIEtFWS0tLS0tCk1JSUV2UUlC+/AB== end", "key=[REDACTED:private_key] end"},
		{"bcrypt with slashes and dots", `"hash":"$2y$10$.vGA1O9wmRjrwAVXD98HNOgsNpDczlqm3Jq7KnEd1rVAGv3Fykk1a"`, `"hash":"[REDACTED:password_hash]"`},
		{"email idn", "an: josé.müller@exämple.de", "an: [REDACTED:email]"},
		{"email punycode", "to user@xn--80ak6aa92e.xn--p1ai ok", "to [REDACTED:email] ok"},
		{"email unicode tld", "написать иван@пример.рф", "написать [REDACTED:email]"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if got := redact(e, tt.in); got != tt.want {
				t.Errorf("Redact(%q)\n got %q\nwant %q", tt.in, got, tt.want)
			}
		})
	}
}
