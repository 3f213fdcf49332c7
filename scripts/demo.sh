#!/usr/bin/env bash
# The `make run` demo: a gateway and one agent on loopback over mutual TLS.
#
# It creates a fleet CA and a device certificate, starts both roles from
# bin/fleetlog, feeds the agent a tailed file and syslog over TCP, waits until
# the gateway has stored every record in its archive, and shows the operator
# how to search and verify what arrived.
# Ctrl-C stops both processes.
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
bin=${FLEETLOG_BIN_DIR:-$root/bin}
run=${FLEETLOG_DEMO_DIR:-$root/run/demo}
gw_port=${FLEETLOG_DEMO_GATEWAY_PORT:-14317}
syslog_port=${FLEETLOG_DEMO_SYSLOG_PORT:-15514}
gw_metrics=${FLEETLOG_DEMO_GATEWAY_METRICS_PORT:-18888}
agent_metrics=${FLEETLOG_DEMO_AGENT_METRICS_PORT:-18889}
gw_health=${FLEETLOG_DEMO_GATEWAY_HEALTH_PORT:-13133}
agent_health=${FLEETLOG_DEMO_AGENT_HEALTH_PORT:-13134}
device=demo-device-01

say() { printf '\033[1m==> %s\033[0m\n' "$*"; }
fail() { printf 'demo: %s\n' "$*" >&2; exit 1; }

pids=()
stop() {
	trap - INT TERM EXIT
	if ((${#pids[@]})); then
		say "stopping agent and gateway"
		kill -TERM "${pids[@]}" 2>/dev/null || true
		wait "${pids[@]}" 2>/dev/null || true
	fi
}
trap stop EXIT
trap 'exit 130' INT TERM

# wait_for CMD...: retry a check for up to 30 s.
wait_for() {
	for _ in $(seq 1 300); do
		if "$@" >/dev/null 2>&1; then return 0; fi
		sleep 0.1
	done
	return 1
}

# metric PORT NAME [LABEL]: the sum of a counter over its series on a metrics
# port, only those whose labels contain LABEL if given.
metric() {
	curl -sf "http://127.0.0.1:$1/metrics" |
		awk -v name="$2" -v label="${3:-}" 'index($0, name) == 1 && (label == "" || index($0, label)) {n += $NF} END {printf "%d\n", n}'
}

for tool in curl logger; do
	command -v "$tool" >/dev/null || fail "$tool is required (apt-get install -y curl bsdutils)"
done
[[ -x $bin/fleetlog && -x $bin/fleetlogctl ]] || fail "$bin/fleetlog and $bin/fleetlogctl are missing: run 'make build'"

rm -rf "$run"
mkdir -p "$run"/logs "$run"/agent-data "$run"/gateway-data
chmod 0700 "$run" "$run"/agent-data "$run"/gateway-data

say "creating a fleet CA and a certificate for $device"
"$bin/fleetlogctl" certs init --dir "$run/certs" >/dev/null
"$bin/fleetlogctl" certs issue --dir "$run/certs" --device "$device" --fleet demo --site lab >/dev/null

say "starting the gateway on 127.0.0.1:$gw_port (mTLS, client certificates required)"
FLEETLOG_LISTEN=127.0.0.1:$gw_port \
FLEETLOG_TLS_DIR=$run/certs/gateway \
FLEETLOG_DATA_DIR=$run/gateway-data \
FLEETLOG_METRICS_PORT=$gw_metrics \
FLEETLOG_HEALTH_ADDR=127.0.0.1:$gw_health \
	"$bin/fleetlog" --config "$root/distributions/gateway/config.yaml" \
	--config "$root/distributions/gateway/dev.yaml" >"$run/gateway.log" 2>&1 &
pids+=($!)
wait_for curl -sf "http://127.0.0.1:$gw_health/" || fail "gateway did not become healthy; see $run/gateway.log"

say "starting the agent for $device"
FLEETLOG_GATEWAY=localhost:$gw_port \
FLEETLOG_TLS_DIR=$run/certs/devices/$device \
FLEETLOG_DATA_DIR=$run/agent-data \
FLEETLOG_DEVICE_ID=$device \
FLEETLOG_LOG_GLOB="$run/logs/*.log" \
FLEETLOG_SYSLOG_ADDR=127.0.0.1:$syslog_port \
FLEETLOG_METRICS_PORT=$agent_metrics \
FLEETLOG_HEALTH_ADDR=127.0.0.1:$agent_health \
	"$bin/fleetlog" --config "$root/distributions/agent/config.yaml" \
	--config "$root/distributions/agent/dev.yaml" >"$run/agent.log" 2>&1 &
pids+=($!)
wait_for curl -sf "http://127.0.0.1:$agent_health/" || fail "agent did not become healthy; see $run/agent.log"

file_lines=$(wc -l <"$root/testdata/demo/app.log")
syslog_lines=$(wc -l <"$root/testdata/demo/syslog.txt")
want=$((file_lines + syslog_lines))
say "feeding $file_lines lines to $run/logs/app.log and $syslog_lines syslog messages to 127.0.0.1:$syslog_port/tcp"
cat "$root/testdata/demo/app.log" >>"$run/logs/app.log"
logger --rfc5424 -T -n 127.0.0.1 -P "$syslog_port" -t demo -p auth.notice -f "$root/testdata/demo/syslog.txt"

# Stored, not merely accepted: the archive exporter has written them (the dev
# overlay's debug exporter counts its own series).
archived() { metric "$gw_metrics" otelcol_exporter_sent_log_records 'exporter="archive"'; }
stored() { (($(archived) >= want)); }
wait_for stored || fail "the gateway stored $(archived) of $want records; see $run/agent.log and $run/gateway.log"

archive=$run/gateway-data/archive
say "the gateway accepted $(metric "$gw_metrics" otelcol_receiver_accepted_log_records) records from $device over mTLS and stored $(archived)"
echo "Records in the gateway's archive (redacted on the device):"
echo "  \$ fleetlogctl archive query --dir $archive --device $device --output text"
"$bin/fleetlogctl" archive query --dir "$archive" --device "$device" --output text | sed 's/^/  /'
echo
echo "File lines carry the level they state (ERROR, WARN, ...), read on the device before the spool,"
echo "so a full spool evicts DEBUG first. WARN and above:"
echo "  \$ fleetlogctl archive query --dir $archive --device $device --severity warn --output text"
"$bin/fleetlogctl" archive query --dir "$archive" --device "$device" --severity warn --output text | sed 's/^/  /'
echo
echo "Is the archive intact? Checked with the public key only:"
echo "  \$ fleetlogctl archive verify --dir $archive --pubkey $run/certs/archive-pub.pem"
"$bin/fleetlogctl" archive verify --dir "$archive" --pubkey "$run/certs/archive-pub.pem" | sed 's/^/  /'
cat <<INFO

Where things are:
  gateway archive                   $archive
  gateway records (debug exporter)  $run/gateway.log
  gateway self-metrics              http://127.0.0.1:$gw_metrics/metrics   (otelcol_receiver_accepted_log_records)
  agent self-metrics                http://127.0.0.1:$agent_metrics/metrics
  certificates                      $run/certs
  tailed files                      $run/logs/*.log
Try:
  echo "hello from the device" >> $run/logs/app.log
  logger --rfc5424 -T -n 127.0.0.1 -P $syslog_port "hello over syslog"
  $bin/fleetlogctl archive query --dir $archive --contains hello
  $bin/fleetlogctl archive query --dir $archive --severity warn --since 1h
INFO

say "running; press Ctrl-C to stop"
wait -n "${pids[@]}" || true
fail "a fleetlog process exited; see $run/agent.log and $run/gateway.log"
