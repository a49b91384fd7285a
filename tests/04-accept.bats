#!/usr/bin/env bats
# Chapter 04: a non-blocking listener under one-shot interest, accept4, and a
# context per connection in a table keyed by token.

load helper

DIR=$TOP/chapters/04-accept
BIN=$DIR/server

# new_clients_are N: the server has logged N "new client" lines.
new_clients_are() {
	[ "$(grep -c '^new client: ' "$(log_of SERVER)")" -eq "$1" ]
}

@test "a bad command line gets a usage line and status 2" {
	local args
	for args in "-x" "abc" "65536" "-1" "8000 9000" ""; do
		# shellcheck disable=SC2086 # split on purpose
		run -2 --separate-stderr timeout 10 "$BIN" ${args:-''}
		# (getopt may say what was wrong first; the usage line is last.)
		[[ ${stderr##*$'\n'} == "usage: server [-q] [PORT]"* ]] ||
			{ echo "'$args': $stderr"; return 1; }
		[ -z "$output" ]
	done
}

@test "a port already in use is a setup error: bind: strerror, status 1" {
	server_start "$BIN" 0
	run -1 --separate-stderr timeout 10 "$BIN" "$SERVER_PORT"
	[ "$stderr" = "bind: Address already in use" ]
	[ -z "$output" ]
}

@test "curl gets Hello and the log names the client's address" {
	server_start "$BIN" 0
	run -0 http "http://127.0.0.1:$SERVER_PORT/" -i -w '\n%{local_port}'
	[ "${lines[0]}" = $'HTTP/1.1 200 OK\r' ]
	[[ $output == *$'Connection: close\r'* ]]
	[ "${lines[-2]}" = Hello ]
	local port=${lines[-1]}
	grep -qx "new client: 127.0.0.1:$port" "$(log_of SERVER)"
}

@test "-q silences the new client lines" {
	server_start "$BIN" -q 0
	run -0 http "http://127.0.0.1:$SERVER_PORT/"
	[ "$output" = Hello ]
	run -0 cat "$(log_of SERVER)"
	[ "$output" = "listening on 127.0.0.1:$SERVER_PORT" ]
}

@test "two hundred clients connected at once are all accepted, then all answered" {
	server_start "$BIN" 0
	local base fd i resp fds=()
	base=$(fd_count "$SERVER_PID")
	# Every connection is open before any sends a byte: the server must
	# accept and hold them all (and the token table must grow to hold
	# them) without serving any.
	for i in $(seq 200); do
		connect_raw fd
		fds+=("$fd")
	done
	wait_for 10 fds_are $((base + 200))
	wait_for 10 new_clients_are 200
	# One write per request (printf '%s'; a format with \n would flush
	# each line separately, and this server answers the first piece).
	local req=$'GET / HTTP/1.1\r\nHost: x\r\n\r\n'
	for fd in "${fds[@]}"; do
		printf '%s' "$req" >&"$fd"
	done
	for fd in "${fds[@]}"; do
		# Read to the end of the stream (read fails there, with the
		# data in resp); a status over 128 is the timeout.
		resp=
		IFS= read -r -d '' -t 10 -u "$fd" resp || [ $? -le 128 ] ||
			{ echo "no answer on fd $fd"; return 1; }
		exec {fd}<&-
		[[ $resp == "HTTP/1.1 200 OK"*$'\r\n\r\nHello' ]] || { echo "fd $fd: $resp"; return 1; }
	done
	wait_for 10 fds_are "$base"
}

@test "fifty curls in parallel are all answered" {
	server_start "$BIN" -q 0
	local i pids=()
	for i in $(seq 50); do
		http "http://127.0.0.1:$SERVER_PORT/" >"$BATS_TEST_TMPDIR/r$i" &
		pids+=($!)
	done
	for i in "${pids[@]}"; do wait "$i"; done
	for i in $(seq 50); do
		[ "$(<"$BATS_TEST_TMPDIR/r$i")" = Hello ] || { echo "client $i"; return 1; }
	done
}

@test "a silent client does not block the others" {
	server_start "$BIN" 0
	local base silent i
	base=$(fd_count "$SERVER_PID")
	connect_raw silent
	# Accepted: the server holds its socket, and it never sends a byte.
	wait_for 10 fds_are $((base + 1))
	for i in 1 2 3 4 5; do
		run -0 http "http://127.0.0.1:$SERVER_PORT/" --max-time 2
		[ "$output" = Hello ]
	done
	# The silent one is still open, unanswered, and costs one descriptor.
	wait_for 10 fds_are $((base + 1))
	wait_for 10 new_clients_are 6
	exec {silent}<&-
	wait_for 10 fds_are "$base"
}

@test "every connection's descriptor is gone from /proc/PID/fd after it closes" {
	server_start "$BIN" -q 0
	local base fd i
	base=$(fd_count "$SERVER_PID")
	# Answered clients...
	for i in $(seq 20); do
		run -0 http "http://127.0.0.1:$SERVER_PORT/"
		[ "$output" = Hello ]
	done
	# ...and clients that leave without a word (the server reads EOF).
	for i in $(seq 20); do
		connect_raw fd
		exec {fd}<&-
	done
	wait_for 10 fds_are "$base"
}

@test "the token table agrees with a plain array over 200000 random operations" {
	local bin=$BATS_TEST_TMPDIR/table_test flags=()
	[ -z "${SANITIZED:-}" ] || flags=(-fsanitize=address,undefined -fno-sanitize-recover=all)
	cat >"$BATS_TEST_TMPDIR/table_test.c" <<'EOF'
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include "table.h"

#define KEYS 5000 /* keys 100..5099; each is present or absent */

int main(void)
{
	static int present[KEYS];
	struct table t = {0};
	size_t n = 0, peak = 0;

	srand(42);
	for (long op = 0; op < 200000; op++) {
		/* Inserts win 3 to 2 until 4000 are in, then removes do. */
		int k = rand() % KEYS, ins = rand() % 5 < (n < 4000 ? 3 : 2);
		uint64_t key = 100 + (uint64_t)k;
		void *v = &present[k];

		if (ins && !present[k]) {
			if (table_insert(&t, key, v) != 0) return 1;
			present[k] = 1, n++;
		} else if (!ins && present[k]) {
			if (table_remove(&t, key) != v) return 2;
			present[k] = 0, n--;
		} else if (ins && table_insert(&t, key, v) != -1) {
			return 3; /* a duplicate must be refused */
		} else if (!ins && table_remove(&t, key) != NULL) {
			return 4;
		}
		if (table_len(&t) != n) return 5;
		if (n > peak) peak = n;
		/* Every key, present or not, looks up right. */
		if (op % 1000 == 0)
			for (int j = 0; j < KEYS; j++)
				if (table_get(&t, 100 + (uint64_t)j) !=
				    (present[j] ? &present[j] : NULL))
					return 6;
	}
	printf("ok: %zu entries at the end, %zu at the peak, %zu slots\n",
	       n, peak, t.cap);
	table_free(&t);
	return 0;
}
EOF
	run -0 cc -std=c11 -Wall -Wextra -Werror -O1 -g "${flags[@]}" -I "$DIR" \
		"$BATS_TEST_TMPDIR/table_test.c" "$DIR/table.c" -o "$bin"
	run -0 "$bin"
	[[ $output == "ok: "* ]]
}

@test "strace: the listener is one-shot under token 100, re-armed after each accept4" {
	need_strace
	local trace=$BATS_TEST_TMPDIR/trace i
	spawn_traced "$trace" -e trace=epoll_ctl,accept4 -- "$BIN" -q 0
	for i in 1 2 3; do
		run -0 http "http://127.0.0.1:$SERVER_PORT/"
		[ "$output" = Hello ]
	done
	stop_traced || return 1
	# Registered once: readable (IN|RDHUP), one-shot, token 100.
	grep -qE '^epoll_ctl\([0-9]+, EPOLL_CTL_ADD, [0-9]+, \{events=EPOLLIN\|EPOLLRDHUP\|EPOLLONESHOT\|EPOLLET, data=\{u32=100, u64=100\}\}\) = 0$' "$trace" ||
		{ cat "$trace"; return 1; }
	# Then, per client: accept4 with both flags, the new socket added
	# under the next token, and the listener re-armed with MOD.
	run -0 sed -nE \
		-e 's/^accept4\([0-9]+, .*, SOCK_CLOEXEC\|SOCK_NONBLOCK\) += [0-9]+$/accept4/p' \
		-e 's/^epoll_ctl\([0-9]+, (EPOLL_CTL_[A-Z]+), [0-9]+, \{events=([A-Z|]+), data=\{u32=[0-9]+, u64=([0-9]+)\}\}\) = 0$/\1 \2 \3/p' \
		"$trace"
	diff -u - <(printf '%s\n' "${lines[@]}") <<'EOF'
EPOLL_CTL_ADD EPOLLIN|EPOLLRDHUP|EPOLLONESHOT|EPOLLET 100
accept4
EPOLL_CTL_ADD EPOLLIN|EPOLLRDHUP|EPOLLONESHOT|EPOLLET 101
EPOLL_CTL_MOD EPOLLIN|EPOLLRDHUP|EPOLLONESHOT|EPOLLET 100
accept4
EPOLL_CTL_ADD EPOLLIN|EPOLLRDHUP|EPOLLONESHOT|EPOLLET 102
EPOLL_CTL_MOD EPOLLIN|EPOLLRDHUP|EPOLLONESHOT|EPOLLET 100
accept4
EPOLL_CTL_ADD EPOLLIN|EPOLLRDHUP|EPOLLONESHOT|EPOLLET 103
EPOLL_CTL_MOD EPOLLIN|EPOLLRDHUP|EPOLLONESHOT|EPOLLET 100
EOF
}

@test "strace: each connection is deregistered before it is closed" {
	need_strace
	local trace=$BATS_TEST_TMPDIR/trace i
	spawn_traced "$trace" -e trace=accept4,epoll_ctl,close -- "$BIN" -q 0
	for i in 1 2 3; do
		run -0 http "http://127.0.0.1:$SERVER_PORT/"
		[ "$output" = Hello ]
	done
	stop_traced || return 1
	run -0 awk '
		/^accept4\(.* = [0-9]+$/ { open[$NF] = 1; n++ }
		/EPOLL_CTL_DEL/ { match($0, /DEL, [0-9]+/); deleted[substr($0, RSTART + 5, RLENGTH - 5)] = 1 }
		/^close\([0-9]+\)/ {
			match($0, /close\([0-9]+/); f = substr($0, RSTART + 6, RLENGTH - 6)
			if (open[f]) { if (!deleted[f]) { print "closed " f " while registered"; bad = 1 }
				delete open[f]; delete deleted[f]; done++ }
		}
		END { printf "%d accepted, %d closed after DEL\n", n, done; exit bad || n != 3 || done != 3 }' "$trace"
	echo "$output"
}
