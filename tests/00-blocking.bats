#!/usr/bin/env bats
# Chapter 00: a blocking server. It answers HTTP correctly, one client at a
# time, and one silent client stalls everyone else.

load helper

BIN=$TOP/chapters/00-blocking/server
USAGE='usage: server [-q] [PORT]'

teardown() {
	# A background curl or a silent connection left by a failed test.
	[ -z "${CURL_PID:-}" ] || kill "$CURL_PID" 2>/dev/null
	[ -z "${SILENT_FD:-}" ] || exec {SILENT_FD}>&-
	stop_all
}

# accept_queue PORT: how many connections to 127.0.0.1:PORT the kernel has
# completed and queued, waiting for accept. For a listening socket (state 0A)
# the rx_queue column of /proc/net/tcp holds that count, the number that
# `ss -ltn` shows as Recv-Q.
accept_queue() {
	local want addr state queues
	printf -v want '0100007F:%04X' "$1"
	while read -r _ addr _ state queues _; do
		if [ "$addr" = "$want" ] && [ "$state" = 0A ]; then
			echo $((16#${queues#*:}))
			return 0
		fi
	done </proc/net/tcp
	return 1
}

# queued N: the server's accept queue holds N connections.
queued() {
	[ "$(accept_queue "$SERVER_PORT")" = "$1" ]
}

# curl_finished: the background curl has exited or has its answer.
curl_finished() {
	! kill -0 "$CURL_PID" 2>/dev/null || [ -s "$BATS_TEST_TMPDIR/body" ]
}

# clients_logged: how many `new client` lines the server has printed.
clients_logged() {
	grep -c '^new client: ' "$(log_of SERVER)" || :
}

# connect_silent: open a connection to the server from this shell and send
# nothing; its descriptor is SILENT_FD. Returns once the server accepted it.
connect_silent() {
	local before
	before=$(clients_logged)
	exec {SILENT_FD}<>"/dev/tcp/127.0.0.1/$SERVER_PORT"
	wait_for 5 eval '[ "$(clients_logged)" -gt "$before" ]'
}

# usage_exits_2 ARGS...: the server refuses ARGS with the usage line.
usage_exits_2() {
	echo "arguments: $*"
	run --separate-stderr -2 timeout 5 "$BIN" "$@"
	[[ $stderr == *"$USAGE"* ]]
	[ -z "$output" ]
}

@test "GET / is answered Hello over HTTP/1.1 with Content-Length and Connection: close" {
	server_start "$BIN" 0
	run -0 curl -sS -i --max-time 10 "http://127.0.0.1:$SERVER_PORT/"
	# Every byte, CRLF line ends included.
	[ "$output" = $'HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 5\r\nConnection: close\r\n\r\nHello' ]
}

@test "sends exactly the response's bytes, with nothing after Hello" {
	server_start "$BIN" 0
	local got=$BATS_TEST_TMPDIR/got want=$BATS_TEST_TMPDIR/want
	# Raw bytes, read until the server closes (curl would stop at
	# Content-Length and hide anything extra).
	timeout 5 bash -c 'exec 5<>"/dev/tcp/127.0.0.1/$1" &&
		printf "GET / HTTP/1.1\r\nHost: x\r\n\r\n" >&5 && cat <&5' \
		_ "$SERVER_PORT" >"$got"
	printf 'HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 5\r\nConnection: close\r\n\r\nHello' >"$want"
	cmp "$want" "$got"
}

@test "prints its listening line with the port the kernel chose" {
	server_start "$BIN" 0
	[ "$SERVER_PORT" -gt 0 ]
	[ "$(head -n 1 "$(log_of SERVER)")" = "listening on 127.0.0.1:$SERVER_PORT" ]
	run -0 http "http://127.0.0.1:$SERVER_PORT/"
	[ "$output" = Hello ]
}

@test "logs each client's address and port" {
	server_start "$BIN" 0
	# curl reports the port its side of the connection used.
	run -0 curl -sS --max-time 10 -o /dev/null -w '%{local_port}' \
		"http://127.0.0.1:$SERVER_PORT/"
	grep -qx "new client: 127.0.0.1:$output" "$(log_of SERVER)"
}

@test "while one client stays silent, another client's request waits for it" {
	server_start "$BIN" 0
	local body=$BATS_TEST_TMPDIR/body
	connect_silent
	# The silent connection must not be inherited by curl ({SILENT_FD}>&-),
	# or closing it here would not close it.
	curl -sS --max-time 30 -o "$body" "http://127.0.0.1:$SERVER_PORT/" \
		2>"$BATS_TEST_TMPDIR/curl.err" 3>&- {SILENT_FD}>&- &
	CURL_PID=$!
	# The kernel completes curl's connection and queues it for accept...
	wait_for 5 queued 1
	# ...but for a good second nothing comes back: the server is busy.
	run ! wait_for 2 curl_finished
	[ ! -s "$body" ]
	[ "$(clients_logged)" -eq 1 ]
	# The silent client leaves; the server moves on and answers curl.
	exec {SILENT_FD}>&-
	SILENT_FD=
	wait "$CURL_PID"
	CURL_PID=
	[ "$(cat "$body")" = Hello ]
	[ "$(clients_logged)" -eq 2 ]
	# (Retried: a read of /proc/net/tcp can miss a line while sockets come
	# and go elsewhere on the machine.)
	wait_for 5 queued 0
}

@test "while one client stays silent, the server sleeps in read on its socket" {
	server_start "$BIN" 0
	connect_silent
	[ -r "/proc/$SERVER_PID/syscall" ] || skip "/proc/PID/syscall is not readable here"
	local nr
	case $(uname -m) in
	x86_64) nr=0 ;;
	aarch64) nr=63 ;;
	*) skip "read's syscall number on $(uname -m) is not known here" ;;
	esac
	# /proc/PID/syscall: the number of the call the process is blocked in,
	# then its arguments; read's first one is the descriptor.
	wait_for 5 eval '[ "$(cut -d" " -f1 "/proc/$SERVER_PID/syscall")" = "$nr" ]'
	local fd
	fd=$(cut -d' ' -f2 "/proc/$SERVER_PID/syscall")
	fd=$((fd))
	[[ $(readlink "/proc/$SERVER_PID/fd/$fd") == socket:* ]]
	# It stays there while the client says nothing.
	run ! wait_for 2 eval '[ "$(cut -d" " -f1 "/proc/$SERVER_PID/syscall")" != "$nr" ]'
}

@test "waits for the end of the request head, however the bytes are split" {
	server_start "$BIN" 0
	local line
	exec {SILENT_FD}<>"/dev/tcp/127.0.0.1/$SERVER_PORT"
	# The blank line that ends the head arrives split across two reads.
	printf 'GET / HTTP/1.1\r\nHost: x\r\n' >&"$SILENT_FD"
	run ! read -r -t 0.3 -u "$SILENT_FD" line
	printf '\r' >&"$SILENT_FD"
	run ! read -r -t 0.3 -u "$SILENT_FD" line
	printf '\n' >&"$SILENT_FD"
	read -r -t 5 -u "$SILENT_FD" line
	[ "$line" = $'HTTP/1.1 200 OK\r' ]
}

@test "a bad command line prints the usage and exits 2" {
	usage_exits_2 -x
	usage_exits_2 notaport
	usage_exits_2 70000
	usage_exits_2 -1
	usage_exits_2 ''
	usage_exits_2 0 0
	usage_exits_2 -q -z 0
}

@test "-q silences the per-client log but still prints the listening line" {
	server_start "$BIN" -q 0
	run -0 http "http://127.0.0.1:$SERVER_PORT/"
	[ "$output" = Hello ]
	run -0 http "http://127.0.0.1:$SERVER_PORT/"
	[ "$(cat "$(log_of SERVER)")" = "listening on 127.0.0.1:$SERVER_PORT" ]
}

@test "a second server on the same port fails: bind: Address already in use" {
	server_start "$BIN" 0
	run --separate-stderr -1 timeout 5 "$BIN" "$SERVER_PORT"
	[ "$stderr" = "bind: Address already in use" ]
	[ -z "$output" ]
	# The first one is unharmed.
	run -0 http "http://127.0.0.1:$SERVER_PORT/"
	[ "$output" = Hello ]
}

@test "a client that connects and leaves without a request does not end the server" {
	server_start "$BIN" 0
	connect_silent
	exec {SILENT_FD}>&-
	SILENT_FD=
	run -0 http "http://127.0.0.1:$SERVER_PORT/"
	[ "$output" = Hello ]
	[ "$(clients_logged)" -eq 2 ]
	run -0 cat "$(log_of SERVER)"
	[[ $output != *rror* ]]
}

@test "serves many clients in a row and closes every connection" {
	server_start "$BIN" -q 0
	local before url=http://127.0.0.1:$SERVER_PORT/ urls=()
	before=$(fd_count "$SERVER_PID")
	for _ in {1..50}; do urls+=("$url"); done
	# One curl, fifty requests, one after the other (Connection: close).
	run -0 curl -sS --max-time 20 "${urls[@]}"
	[ "$output" = "$(printf 'Hello%.0s' {1..50})" ]
	# curl may exit before the server has closed the last connection.
	wait_for 5 fds_are "$before"
}

@test "answers with one send(MSG_NOSIGNAL), then closes the connection" {
	need_strace
	server_start "$BIN" -q 0
	local trace=$BATS_TEST_TMPDIR/trace err=$BATS_TEST_TMPDIR/strace.err
	traced strace -p "$SERVER_PID" -o "$trace" -e trace=read,sendto,close \
		2>"$err" 3>&- &
	local strace_pid=$!
	wait_for 5 eval 'grep -q attached "$err" || ! kill -0 "$strace_pid"'
	if ! grep -q attached "$err"; then
		# Tracing a child may be allowed while attaching is not (Yama).
		grep -q 'Operation not permitted' "$err" &&
			skip "strace may not attach to a running process here"
		cat "$err"
		return 1
	fi
	run -0 http "http://127.0.0.1:$SERVER_PORT/"
	[ "$output" = Hello ]
	wait_for 5 grep -q '^close(' "$trace"
	# strace detaches on SIGTERM (background jobs ignore SIGINT).
	kill -TERM "$strace_pid"
	wait "$strace_pid" || :
	cat "$trace"
	grep -Eq '^read\(([0-9]+), "GET / HTTP/1\.1\\r\\n' "$trace"
	grep -Eq '^sendto\([0-9]+, "HTTP/1\.1 200 OK\\r\\n.*, 88, MSG_NOSIGNAL, NULL, 0\) = 88$' "$trace"
	grep -Eq '^close\([0-9]+\) += 0$' "$trace"
}
