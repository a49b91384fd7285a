# tests/defenses.bash: the tests of chapter 07's defences, which chapter 08
# must pass unchanged. Each function is one test's body; both suites call it
# from an @test of the same name, against their own $BIN. Load it after
# helper and http.

# a bad command line gets a usage line and status 2
check_a_bad_command_line_gets_a_usage() {
	local args
	for args in "-x" "abc" "65536" "8000 9000" "-t 0" "-t 86401" "-t x" \
		"-b -1" "-b 1073741825" "-b 1k" "-t"; do
		# shellcheck disable=SC2086 # split on purpose
		run -2 --separate-stderr timeout 10 "$BIN" $args
		[[ ${stderr##*$'\n'} == "usage: server [-q] [-t SECONDS] [-b BYTES] [PORT]"* ]] ||
			{ echo "'$args': $stderr"; return 1; }
	done
}

# a 10 MB POST /echo under -b comes back byte for byte, read far more than 4 KB per wakeup
check_a_10_mb_post_echo_under_b() {
	server_start "$BIN" -b 20000000 0
	local file=$BATS_TEST_TMPDIR/big back=$BATS_TEST_TMPDIR/back size t
	big "$file" 10
	size=$(stat -c %s "$file")
	run -0 http "http://127.0.0.1:$SERVER_PORT/echo" -H 'Expect:' \
		--data-binary "@$file" -o "$back"
	cmp "$file" "$back"
	wait_for 10 log_has 'answered from request 1: 200'
	t=$(turns)
	echo "$t loop turns"
	[ "$t" -lt $((size / 4096 / 4)) ]
}

# limits: each bad Content-Length or Transfer-Encoding gets its status, whole
check_limits_each_bad_content_length_or_transfer() {
	server_start "$BIN" -b 100 0
	local c want req
	local cases=(
		'400|POST /echo HTTP/1.1\r\nContent-Length: -1\r\n\r\n'
		'400|POST /echo HTTP/1.1\r\nContent-Length: +5\r\n\r\nhello'
		'400|POST /echo HTTP/1.1\r\nContent-Length: 0x5\r\n\r\nhello'
		'400|POST /echo HTTP/1.1\r\nContent-Length: \r\n\r\n'
		'400|POST /echo HTTP/1.1\r\nContent-Length: 99999999999999999999999\r\n\r\n'
		'400|POST /echo HTTP/1.1\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\nhello'
		'400|POST /echo HTTP/1.1\r\nContent-Length: 5, 5\r\n\r\nhello'
		'400|POST /echo HTTP/1.1\r\nTransfer-Encoding: chunked\r\nContent-Length: 5\r\n\r\nhello'
		'501|POST /echo HTTP/1.1\r\nTransfer-Encoding: gzip\r\n\r\n'
		'501|POST /echo HTTP/1.1\r\nTransfer-Encoding: gzip, chunked\r\n\r\n'
		'400|POST /echo HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nhello\r\n0\r\n\r\n'
		'400|POST /echo HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello!\r\n0\r\n\r\n'
		'413|POST /echo HTTP/1.1\r\nContent-Length: 101\r\n\r\n'
		'413|POST /echo HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n65\r\n'
		'413|POST /echo HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n32\r\n'"$(printf '%50s' '' | tr ' ' x)"'\r\n33\r\n'
	)
	for c in "${cases[@]}"; do
		want=${c%%|*}
		req=${c#*|}
		run -0 --separate-stderr ask "$req"
		whole_response "$want" || { echo "for: $req"; return 1; }
	done
	[ "$(logged '^answered from request [0-9]+: [45][0-9][0-9]$')" -eq ${#cases[@]} ]
	alive_and_served
}

# a 10 MB POST over -b is answered 413, and the answer arrives whole (lingering close)
check_a_10_mb_post_over_b_is() {
	server_start "$BIN" 0
	local req=$BATS_TEST_TMPDIR/req base i
	base=$(fd_count "$SERVER_PID")
	{
		printf 'POST /echo HTTP/1.1\r\nContent-Length: 10485760\r\n\r\n'
		head -c 10485760 /dev/zero
	} >"$req"
	# The 413 goes out after the head, while the body is still coming.
	# Closing then, with bytes unread, would send a reset: the client's
	# next send fails and it never reads the answer (peer exits 4).
	for i in 1 2 3; do
		run -0 --separate-stderr timeout 20 "$COMMON/peer" -f "$req" "$SERVER_PORT"
		whole_response 413
		[[ $stderr == *"closed by server (eof)"* ]]
	done
	# curl sees it too: it stops sending and reports the status.
	run -0 http "http://127.0.0.1:$SERVER_PORT/echo" -H 'Expect:' \
		--data-binary "@$req" -o /dev/null -w '%{http_code}'
	[ "$output" = 413 ]
	wait_for 10 fds_are "$base"
	alive_and_served
}

# a request refused at its head while 10 MB of body follow: the 400 arrives whole
check_a_request_refused_at_its_head_while() {
	server_start "$BIN" -q 0
	local req=$BATS_TEST_TMPDIR/req base
	base=$(fd_count "$SERVER_PID")
	{
		printf 'POST /echo HTTP/1.1\r\nContent-Length: 10485760\r\nBad Header: x\r\n\r\n'
		head -c 10485760 /dev/zero
	} >"$req"
	run -0 --separate-stderr timeout 20 "$COMMON/peer" -f "$req" "$SERVER_PORT"
	whole_response 400
	[[ $stderr == *"closed by server (eof)"* ]]
	wait_for 10 fds_are "$base"
	alive_and_served
}

# slowloris: one byte every 500 ms is cut off at the 5 s request deadline
check_slowloris_one_byte_every_500_ms_is() {
	server_start "$BIN" -t 5 0
	local base ms
	base=$(fd_count "$SERVER_PID")
	# 38 bytes at 2 a second would take 19 s; the deadline is 5 s from
	# the accept, and the bytes that keep arriving do not extend it.
	run -0 --separate-stderr timeout 20 "$COMMON/peer" -v -c 1 -d 500 -t 15000 \
		-s 'GET / HTTP/1.1\r\nHost: slowloris.test\r\n\r\n' "$SERVER_PORT"
	[ -z "$output" ]
	[[ ${stderr_lines[-1]} == "peer: sent "*" bytes, received 0 bytes, closed by server (eof) after "* ]]
	ms=$(peer_ms)
	echo "cut off after $ms ms"
	[ "$ms" -ge 5000 ] && [ "$ms" -lt 6000 ]
	# It did trickle in: a byte every half second until the close.
	[[ $stderr == *"#1 sent 1 bytes, 9 in all"* ]]
	log_matches '127\.0\.0\.1:[0-9]+: timeout, reading the request'
	wait_for 10 fds_are "$base"
	alive_and_served
}

# a slow body after a fast head is cut off at the same request deadline
check_a_slow_body_after_a_fast_head() {
	server_start "$BIN" -t 2 0
	local base ms body
	base=$(fd_count "$SERVER_PID")
	# A 58-byte head arrives in the first 60-byte piece; then the 1000-byte
	# body trickles in at 60 bytes every 200 ms, which would take 3.4 s.
	# The deadline counts from the accept, through the body too.
	body=$(printf '%*s' 1000 '' | tr ' ' b)
	run -0 --separate-stderr timeout 20 "$COMMON/peer" -v -c 60 -d 200 -t 15000 \
		-s "POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 1000\r\n\r\n$body" "$SERVER_PORT"
	[ -z "$output" ]
	[[ ${stderr_lines[-1]} == "peer: sent "*" bytes, received 0 bytes, closed by server (eof) after "* ]]
	ms=$(peer_ms)
	echo "cut off after $ms ms"
	[ "$ms" -ge 2000 ] && [ "$ms" -lt 3000 ]
	log_matches '127\.0\.0\.1:[0-9]+: timeout, reading the request'
	wait_for 10 fds_are "$base"
	alive_and_served
}

# an idle connection is closed after -t, and the server idles meanwhile
check_an_idle_connection_is_closed_after_t() {
	server_start "$BIN" -t 2 0
	local base fd start line=x status=0
	base=$(fd_count "$SERVER_PID")
	start=$EPOCHREALTIME
	connect_raw fd
	wait_for 10 fds_are $((base + 1))
	# A deadline is a wakeup at the right time, not a poll every few ms.
	assert_idle "$SERVER_PID"
	# EOF (status 1), not a timeout (> 128), and no byte before it.
	read -r -t 10 -u "$fd" line || status=$?
	exec {fd}<&-
	[ "$status" -eq 1 ] && [ -z "$line" ]
	seconds_between "$(elapsed_since "$start")" 2 3
	log_matches '127\.0\.0\.1:[0-9]+: timeout, reading the request'
	wait_for 10 fds_are "$base"
	alive_and_served
}

# a reader that stops reading is closed after -t without progress
check_a_reader_that_stops_reading_is_closed() {
	server_start "$BIN" -t 2 0
	local base start
	base=$(fd_count "$SERVER_PID")
	start=$EPOCHREALTIME
	timeout 20 "$COMMON/peer" -n -t 8000 \
		-s 'GET /bytes/20000000 HTTP/1.1\r\n\r\n' "$SERVER_PORT" 2>/dev/null &
	wait_for 10 log_matches 'got all data: [0-9]+ bytes'
	# The buffers fill, the sends stop at EAGAIN, and nothing moves.
	wait_for 10 fds_are "$base"
	seconds_between "$(elapsed_since "$start")" 2 4
	log_matches '127\.0\.0\.1:[0-9]+: timeout, writing the response'
	alive_and_served
}

# a lingering close lasts at most -t for a client that never closes
check_a_lingering_close_lasts_at_most_t() {
	server_start "$BIN" -t 2 0
	local base fd start line
	base=$(fd_count "$SERVER_PID")
	connect_raw fd
	start=$EPOCHREALTIME
	printf 'GET / HTTP/2.0\r\n\r\n' >&"$fd"
	read -r -t 10 -u "$fd" line
	[ "$line" = $'HTTP/1.1 505 HTTP Version Not Supported\r' ]
	wait_for 10 log_has 'answered from request 1: 505'
	# We neither read on nor close: the server waits for our FIN, -t long.
	wait_for 10 fds_are "$base"
	exec {fd}<&-
	seconds_between "$(elapsed_since "$start")" 2 3.5
	log_matches '127\.0\.0\.1:[0-9]+: timeout, lingering'
}

# out of descriptors (prlimit 64, 100 clients): no spin, no stall, served again after
check_out_of_descriptors_prlimit_64_100_clients() {
	command -v prlimit >/dev/null || skip "prlimit (util-linux) is not installed"
	server_start prlimit --nofile=64:64 "$BIN" -q 0
	local base full err=$BATS_TEST_TMPDIR/peer.err pid n_eof n_open
	base=$(fd_count "$SERVER_PID")
	# The limit counts descriptor numbers: 0 to 63. One inherited above
	# them (bats may leave some) stays open and uncounted.
	full=$((64 + $(ls "/proc/$SERVER_PID/fd" | awk '$1 >= 64' | wc -l)))
	timeout 30 "$COMMON/peer" -C 100 -n -t 5000 "$SERVER_PORT" 2>"$err" &
	pid=$!
	# Every descriptor the limit allows is in use (the spare among them).
	wait_for 10 fds_are "$full"
	# The others were accepted with the spare and closed at once, and the
	# listener is quiet again: no spin (and no stall: see below).
	assert_idle "$SERVER_PID"
	kill -0 "$SERVER_PID"
	wait "$pid"
	n_eof=$(sed -n 's/.* \([0-9]*\) closed by server (eof).*/\1/p' "$err")
	n_open=$(sed -n 's/.* \([0-9]*\) still open.*/\1/p' "$err")
	echo "$(<"$err")"
	[ "$n_eof" -ge 30 ] && [ "$n_open" -ge 40 ] && [ $((n_eof + n_open)) -eq 100 ]
	# The clients left: their descriptors are back, and a request is served.
	wait_for 10 fds_are "$base"
	alive_and_served
}

# SIGTERM with connections open: exit 0, every connection closed, nothing leaked
check_sigterm_with_connections_open_exit_0_every() {
	server_start "$BIN" 0
	local base a b pid err=$BATS_TEST_TMPDIR/peer.err line status=0
	base=$(fd_count "$SERVER_PID")
	connect_raw a
	connect_raw b
	printf 'GET / HTTP/1.1\r\n' >&"$b"
	timeout 20 "$COMMON/peer" -n -t 15000 \
		-s 'POST /echo HTTP/1.1\r\nContent-Length: 100\r\n\r\nabc' "$SERVER_PORT" 2>"$err" &
	pid=$!
	wait_for 10 fds_are $((base + 3))
	wait_for 10 log_has 'requests in flight: 3'
	# stop checks the status: 0, which under ASan also means no leak.
	stop SERVER 0
	log_has 'got SIGTERM: closing 3 connections'
	read -r -t 5 -u "$a" line || status=$?
	[ "$status" -eq 1 ]
	status=0
	read -r -t 5 -u "$b" line || status=$?
	[ "$status" -eq 1 ]
	exec {a}<&- {b}<&-
	wait "$pid"
	[[ $(<"$err") == *"closed by server ("* ]]
	# The listener is gone too.
	run ! http "http://127.0.0.1:$SERVER_PORT/"
}

# SIGINT (Ctrl-C) exits 0 the same way
check_sigint_ctrl_c_exits_0_the_same() {
	server_start "$BIN" 0
	alive_and_served
	kill -INT "$SERVER_PID"
	local status=0
	wait "$SERVER_PID" || status=$?
	SERVER_PID=
	[ "$status" -eq 0 ]
	log_has 'got SIGINT: closing 0 connections'
}

# a leak at exit would fail these tests (LeakSanitizer or valgrind)
check_a_leak_at_exit_would_fail_these() {
	local tool
	if [ -n "${SANITIZED:-}" ]; then
		[ "$SANITIZED" = address ] || skip "needs ASan (SANITIZED=address)"
		tool=asan
	else
		command -v valgrind >/dev/null || skip "valgrind is not installed"
		tool=valgrind
	fi
	# A copy of the chapter whose conn_free forgets the context.
	local src=$BATS_TEST_TMPDIR/leaky
	mkdir -p "$src"
	cp "$DIR"/*.c "$DIR"/*.h "$src/"
	sed -i 's/^\tfree(c);$/\t(void)0; \/* leaked *\//' "$src/conn.c"
	! cmp -s "$DIR/conn.c" "$src/conn.c" || { echo "free(c) not found in conn_free"; return 1; }
	"${CC:-cc}" -std=c11 -O1 -gdwarf-4 ${SANITIZED:+-fsanitize=address,undefined} \
		-o "$src/server" "$src"/*.c
	if [ "$tool" = asan ]; then
		spawn SERVER "$src/server" -q 0
	else
		spawn SERVER valgrind -q --leak-check=full --errors-for-leak-kinds=all \
			--error-exitcode=99 "$src/server" -q 0
	fi
	# One request is enough: its context is never freed.
	run -0 curl -sS --max-time 30 "http://127.0.0.1:$SERVER_PORT/"
	[ "$output" = Hello ]
	if [ "$tool" = asan ]; then
		# Inside ASan, LeakSanitizer exits with ASan's status, 1 (23 is
		# for LeakSanitizer on its own).
		stop SERVER 1
		grep -q 'ERROR: LeakSanitizer: detected memory leaks' "$(log_of SERVER)"
	else
		stop SERVER 99
		grep -q 'definitely lost' "$(log_of SERVER)"
	fi
}

# valgrind: requests, then SIGTERM: exit 0 with no error and no leak
check_valgrind_requests_then_sigterm_exit_0_with() {
	[ -z "${SANITIZED:-}" ] || skip "not with a sanitizer build"
	command -v valgrind >/dev/null || skip "valgrind is not installed"
	# Its own build: valgrind 3.19 cannot read the DWARF 5 that clang 14
	# writes (-gdwarf-4 can be read by every version).
	"${CC:-cc}" -std=c11 -O1 -gdwarf-4 -o "$BATS_TEST_TMPDIR/server" "$DIR"/*.c
	spawn SERVER valgrind -q --leak-check=full --errors-for-leak-kinds=all \
		--error-exitcode=99 "$BATS_TEST_TMPDIR/server" -t 30 0
	local fd
	run -0 curl -sS --max-time 30 "http://127.0.0.1:$SERVER_PORT/"
	[ "$output" = Hello ]
	run -0 curl -sS --max-time 30 -H 'Transfer-Encoding: chunked' \
		--data-binary 'chunks' "http://127.0.0.1:$SERVER_PORT/echo"
	[ "$output" = chunks ]
	run -0 curl -sS --max-time 30 "http://127.0.0.1:$SERVER_PORT/bytes/3000000" -o /dev/null -w '%{size_download}'
	[ "$output" = 3000000 ]
	run -0 --separate-stderr timeout 30 "$COMMON/peer" -t 30000 \
		-s 'POST /echo HTTP/1.1\r\nContent-Length: 9999999\r\n\r\n' "$SERVER_PORT"
	whole_response 413
	connect_raw fd
	printf 'GET /by' >&"$fd"
	wait_for 30 log_has 'requests in flight: 1'
	stop SERVER 0
	exec {fd}<&-
	log_has 'got SIGTERM: closing 1 connections'
}

# 1000 clients that reset mid-response leave the server alive, idle, and at its baseline
check_1000_clients_that_reset_mid_response_leave() {
	server_start "$BIN" -q 0
	local base
	base=$(fd_count "$SERVER_PID")
	run -0 --separate-stderr timeout 60 "$COMMON/peer" -C 1000 -R 10000 -q \
		-t 30000 -s 'GET /bytes/4000000 HTTP/1.1\r\n\r\n' "$SERVER_PORT"
	[[ $stderr == *"1000 connections, "*", 1000 reset by us after "* ]]
	wait_for 10 fds_are "$base"
	assert_idle "$SERVER_PID"
	alive_and_served
	run -0 cat "$(log_of SERVER)"
	[ "$output" = "listening on 127.0.0.1:$SERVER_PORT" ]
}

# 1000 SIGUSR1 during a large transfer: the body arrives intact
check_1000_sigusr1_during_a_large_transfer_the() {
	server_start "$BIN" -q 0
	local out=$BATS_TEST_TMPDIR/out base pid i j
	base=$(fd_count "$SERVER_PID")
	curl -sS --max-time 20 --limit-rate 5M -o "$out" \
		"http://127.0.0.1:$SERVER_PORT/bytes/20000000" &
	pid=$!
	wait_for 10 fds_are $((base + 1))
	for ((i = 0; i < 10; i++)); do
		for ((j = 0; j < 100; j++)); do kill -USR1 "$SERVER_PID"; done
		sleep 0.1
	done
	kill -0 "$pid" || { echo "the transfer ended before the signals did"; return 1; }
	wait "$pid"
	[ "$(cksum <"$out")" = "$(pattern 20000000 | cksum)" ]
	[ "$(logged '^status: ')" -ge 1 ]
	wait_for 10 fds_are "$base"
	kill -USR1 "$SERVER_PID"
	wait_for 10 log_has 'status: 0 connections, 1 answered'
}

# a request followed by a half-close is answered and closed at once
check_a_request_followed_by_a_half_close() {
	server_start "$BIN" 0
	local base
	base=$(fd_count "$SERVER_PID")
	run -0 --separate-stderr timeout 20 "$COMMON/peer" -h -n -t 5000 \
		-s 'POST /echo HTTP/1.1\r\nContent-Length: 5\r\n\r\nhello' "$SERVER_PORT"
	[[ $stderr == *"closed by server (eof) after "* ]]
	[ "$(peer_ms)" -lt 1000 ]
	wait_for 10 log_has 'answered from request 1: 200'
	# The client's FIN has arrived: nothing more can come, so no wait.
	wait_for 2 fds_are "$base"
	run -0 --separate-stderr timeout 20 "$COMMON/peer" -h \
		-s 'POST /echo HTTP/1.1\r\nContent-Length: 5\r\n\r\nhello' "$SERVER_PORT"
	[ "${output#*$'\r\n\r\n'}" = hello ]
}

# a client that resets mid-request, or leaves mid-body, is closed and the next one served
check_a_client_that_resets_mid_request_or() {
	server_start "$BIN" 0
	local base req=$'POST /echo HTTP/1.1\r\nContent-Length: 30\r\n\r\nab'
	base=$(fd_count "$SERVER_PID")
	run -0 --separate-stderr timeout 20 "$COMMON/peer" \
		-s "${req//$'\r\n'/\\r\\n}" -S ${#req} "$SERVER_PORT"
	wait_for 10 fds_are "$base"
	log_matches '127\.0\.0\.1:[0-9]+: reset by the client'
	run -0 --separate-stderr timeout 20 "$COMMON/peer" -h \
		-s 'POST /echo HTTP/1.1\r\nContent-Length: 10\r\n\r\nabc' "$SERVER_PORT"
	[ -z "$output" ]
	wait_for 10 fds_are "$base"
	log_matches '127\.0\.0\.1:[0-9]+: left after 46 bytes of a request'
	alive_and_served
}

# an upload with Expect: 100-continue gets 100 Continue, and over -b a 413 instead
check_an_upload_with_expect_100_continue_gets() {
	server_start "$BIN" -b 10000000 0
	local file=$BATS_TEST_TMPDIR/big
	big "$file" 5
	run -0 curl -sS --max-time 10 --expect100-timeout 1 -v -F "file=@$file" \
		-o /dev/null -w 'Total: %{time_total}\n' \
		"http://127.0.0.1:$SERVER_PORT/echo"
	[[ $output == *"< HTTP/1.1 100 Continue"* ]]
	[[ $output == *"< HTTP/1.1 200 OK"* ]]
	seconds_between "${lines[-1]#Total: }" 0 0.5
	big "$file" 11
	run -0 curl -sS --max-time 10 --expect100-timeout 1 -v -F "file=@$file" \
		-o /dev/null -w 'Total: %{time_total}\n' \
		"http://127.0.0.1:$SERVER_PORT/echo"
	[[ $output != *"< HTTP/1.1 100 Continue"* ]]
	[[ $output == *"< HTTP/1.1 413 Content Too Large"* ]]
	seconds_between "${lines[-1]#Total: }" 0 0.5
}

# -q silences every per-request line
check_q_silences_every_per_request_line() {
	server_start "$BIN" -q -t 1 0
	local fd base
	base=$(fd_count "$SERVER_PID")
	alive_and_served
	run -0 ask 'GET / HTTP/2.0\r\n\r\n'
	# A silent connection, closed at its deadline: not logged either.
	connect_raw fd
	wait_for 10 fds_are $((base + 1))
	wait_for 10 fds_are "$base"
	exec {fd}<&-
	run -0 cat "$(log_of SERVER)"
	[ "$output" = "listening on 127.0.0.1:$SERVER_PORT" ]
}

# strace: out of descriptors, the spare is closed, a connection accepted and closed, the spare reopened
check_strace_out_of_descriptors_the_spare_is() {
	need_strace
	command -v prlimit >/dev/null || skip "prlimit (util-linux) is not installed"
	local trace=$BATS_TEST_TMPDIR/trace
	spawn_traced "$trace" -e trace=accept4,close,openat -- \
		prlimit --nofile=24:24 "$BIN" -q 0
	run -0 --separate-stderr timeout 20 "$COMMON/peer" -C 40 -n -t 2000 "$SERVER_PORT"
	[[ $stderr == *" closed by server (eof)"* ]]
	stop_traced || return 1
	# The first EMFILE and the four calls after it.
	run -0 grep -m1 -A4 '^accept4(.* = -1 EMFILE' "$trace"
	printf '%s\n' "${lines[@]}"
	[ "${#lines[@]}" -eq 5 ]
	local spare
	[[ ${lines[1]} =~ ^close\(([0-9]+)\)\ +=\ 0$ ]]
	spare=${BASH_REMATCH[1]}
	[[ ${lines[2]} =~ ^accept4\(.*\)\ +=\ ([0-9]+)$ ]]
	[ "${BASH_REMATCH[1]}" = "$spare" ]
	[[ ${lines[3]} =~ ^close\($spare\)\ +=\ 0$ ]]
	[[ ${lines[4]} =~ ^openat\(AT_FDCWD,\ \"/dev/null\",\ O_RDONLY\|O_CLOEXEC\)\ +=\ $spare$ ]]
	# The dance ran once per refused client, never twice for one.
	[ "$(grep -c '^accept4(.* = -1 EMFILE' "$trace")" -eq "$(grep -c '^openat(AT_FDCWD, "/dev/null"' "$trace" | awk '{ print $1 - 1 }')" ]
}

# strace: the wait sleeps until the nearest deadline, rounded up, and never spins
check_strace_the_wait_sleeps_until_the_nearest() {
	need_strace
	local trace=$BATS_TEST_TMPDIR/trace a b
	spawn_traced "$trace" -e trace=epoll_wait -- "$BIN" -q -t 2 0
	connect_raw a
	sleep 0.5 # pacing, so that the two deadlines differ by half a second
	connect_raw b
	wait_for 10 tracee_idle
	exec {a}<&- {b}<&-
	stop_traced || return 1
	# The timeouts, in order: -1 with no connection, about 2000 ms with
	# one, then the first deadline's remainder, then the second's.
	run -0 sed -nE 's/^epoll_wait\(.*, (-?[0-9]+)\) += .*/\1/p' "$trace"
	echo "timeouts: ${lines[*]}"
	[ "${lines[0]}" = -1 ]
	[ "${lines[-1]}" = -1 ]
	[ "${#lines[@]}" -lt 12 ]
	local t shrunk=0
	for t in "${lines[@]}"; do
		[ "$t" -ne 0 ] || { echo "a zero timeout: a spin"; return 1; }
		[ "$t" -le 2000 ]
		if [ "$t" -gt 0 ] && [ "$t" -lt 1800 ]; then shrunk=1; fi
	done
	[ "$shrunk" -eq 1 ]
}

# the parser gives every request case its answer at every split point
check_the_parser_gives_every_request_case_its() {
	http_test_build
	run -0 "$BATS_TEST_TMPDIR/http_test"
	summary_ok
	[[ $output == *"request heads "* ]]
	[[ $output == *"body framing "* ]]
	[[ $output == *"Expect and Connection "* ]]
}

# the parser reports a wrong answer and exits 1
check_the_parser_reports_a_wrong_answer_and() {
	local broken=$BATS_TEST_TMPDIR/broken
	mkdir -p "$broken"
	cp "$HTTP_CH/http.h" "$broken/"
	sed 's|return HTTP_BAD; /\* bare LF: see the top \*/|{ }|' \
		"$HTTP_CH/http.c" >"$broken/http.c"
	if cmp -s "$HTTP_CH/http.c" "$broken/http.c"; then
		echo "the bare-LF rule was not found in http.c"
		return 1
	fi
	HTTP_CH=$broken http_test_build
	run -1 "$BATS_TEST_TMPDIR/http_test"
	[[ $output == *"FAIL bare LF everywhere: whole: got "* ]]
	[[ ${lines[-1]} =~ ^http_test:\ .*\ [1-9][0-9]*\ failures$ ]] ||
		{ echo "unexpected summary: ${lines[-1]}"; return 1; }
}

# the chunked decoder gives every case its answer at every split point
check_the_chunked_decoder_gives_every_case_its() {
	http_test_build -DTEST_CHUNKED "$HTTP_CH/chunked.c"
	run -0 "$BATS_TEST_TMPDIR/http_test"
	summary_ok
	local re='chunked bodies +[0-9]+ cases, +[0-9]+ split points, 0 fail'
	[[ $output =~ $re ]]
}
