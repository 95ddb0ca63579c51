#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-only
#
# Inside the systemd guest of tests/vm/test_systemd_unit: run as a oneshot
# unit once the system is up, drive kmod-config/mtlsgw.service as an
# operator would, print "@@T "-prefixed TAP lines on the console for the
# host, and power off.
set -u
exec > /dev/ttyS0 2>&1
n=0
t() { # t NAME COMMAND...: one check
	local name=$1
	shift
	n=$((n + 1))
	if "$@" > /tmp/t.out 2>&1; then
		printf '\n@@T ok %s %s\n' "$n" "$name"
	else
		printf '\n@@T not ok %s %s\n' "$n" "$name"
		sed 's/^/@@T # /' /tmp/t.out | tail -n 20
	fi
}
main_pid() { systemctl show -p MainPID --value mtlsgw; }
echo_through() { # echo_through HOST CLIENT: a line through the gateway and back
	local out
	out=$(printf 'through mtlsgw\n' |
		timeout 20 socat -d -t 5 - "OPENSSL:$1:8443,cert=/etc/mtlsgw/$2-chain.pem,key=/etc/mtlsgw/$2.key,cafile=/etc/mtlsgw/ca-bundle.pem,commonname=localhost" 2>&1)
	echo "$out"
	tail -n 3 /var/log/mtlsgw/audit.jsonl
	grep -qx 'through mtlsgw' <<< "$out"
}
refused() { ! echo_through 127.0.0.1 "$1"; }
exposure_ok() {
	local line
	line=$(systemd-analyze security --no-pager mtlsgw.service | grep 'Overall exposure')
	echo "$line"
	awk -v l="$line" 'BEGIN { n = split(l, w, " "); for (i = 1; i <= n; i++) if (w[i] ~ /^[0-9]+\.[0-9]+$/) v = w[i]; exit !(v != "" && v <= 2.5) }'
}
active() { [ "$(systemctl is-active mtlsgw)" = active ]; }
runs_as_mtlsgw() { [ "$(ps -o user= -p "$(main_pid)")" = mtlsgw ]; }
stage1_attached() {
	mtlsgwctl -s /run/mtlsgw/control.sock status | tee /dev/stderr | grep -q '^  stage1 lo: [a-z]' &&
		! mtlsgwctl -s /run/mtlsgw/control.sock status | grep -q 'not attached'
}
splice_tier() { mtlsgwctl -s /run/mtlsgw/control.sock status | grep -q ' datapath splice '; }
pins_there() { ls /sys/fs/bpf/mtlsgw; [ -n "$(ls -A /sys/fs/bpf/mtlsgw)" ]; }
reloads() {
	local pid
	pid=$(main_pid)
	systemctl reload mtlsgw || return 1
	for _ in $(seq 100); do
		grep -q '"event":"reload".*"decision":"ok".*generation 2' /var/log/mtlsgw/audit.jsonl && break
		sleep 0.1
	done
	grep '"event":"reload"' /var/log/mtlsgw/audit.jsonl
	grep -q '"event":"reload".*"decision":"ok".*generation 2' /var/log/mtlsgw/audit.jsonl &&
		active && [ "$(main_pid)" = "$pid" ]
}
stops_cleanly() {
	systemctl stop mtlsgw || return 1
	systemctl show -p Result -p ExecMainStatus mtlsgw
	[ "$(systemctl show -p Result --value mtlsgw)" = success ] &&
		[ "$(systemctl show -p ExecMainStatus --value mtlsgw)" = 0 ]
}

socat TCP-LISTEN:9000,bind=127.0.0.1,fork,reuseaddr EXEC:cat &
printf '\n@@T # systemd %s: %s\n' "$(systemctl --version | sed -n '1s/^systemd \([0-9]*\).*/\1/p')" \
	"$(systemd-analyze security --no-pager mtlsgw.service | grep 'Overall exposure')"
t "exposure of the unit at most 2.5 (systemd-analyze security)" exposure_ok
t "systemctl start: READY=1" systemctl start mtlsgw
t "active" active
t "runs as user mtlsgw" runs_as_mtlsgw
t "an mTLS client reaches the backend" echo_through 127.0.0.1 client-ecdsa
t "a client no rule names gets nothing" refused client-dev
t "kTLS + splice tier (tls.ko from modules-load.d)" splice_tier
t "Stage 1 attached to lo" stage1_attached
t "steered address (sk_lookup) reaches the listener" echo_through 127.0.0.2 client-ecdsa
t "takeover pins under /sys/fs/bpf/mtlsgw" pins_there
t "control socket answers" mtlsgwctl -s /run/mtlsgw/control.sock status
t "systemctl reload: generation 2, same process" reloads
t "a client after the reload" echo_through 127.0.0.1 client-ecdsa
t "systemctl stop: Result=success, exit 0" stops_cleanly
printf '\n@@T 1..%s\n' "$n"
echo "@@T # the daemon's journal:"
journalctl -u mtlsgw -o cat --no-pager | sed 's/^/@@T #   /' | tail -n 40
echo "@@T done"
systemctl --no-block poweroff
