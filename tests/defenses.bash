# tests/defenses.bash: the tests of the defences: limits (chapter 08),
# deadlines (09), and the edges of a server's life (10: lingering close,
# EMFILE, signals). Each check_* function is one test's body; the chapter
# that introduces a defence calls it from an @test of the same name, and so
# does every later suite that still has the defence (13-lean's runs them
# all), each against its own $BIN; its arguments, if any, are what the
# chapters really differ in. Load it after helper and http; it loads io.bash
# (the reading and writing tests), whose pieces some bodies here use.

load io

# a bad command line gets a usage line and status 2
check_a_bad_command_line_gets_a_usage() {
	refuses_with_usage "usage: server [-q] [-t SECONDS] [-b BYTES] [PORT]" \
		-x abc 65536 "8000 9000" "-t 0" "-t 86401" "-t x" \
		"-b -1" "-b 1073741825" "-b 1k" -t
}

# a 10 MB POST /echo under -b comes back byte for byte, read far more than 4 KB per wakeup
check_a_10_mb_post_echo_under_b() {
	check_a_10_mb_post_echo_comes_back -b 20000000
}

# limits: a head over 8 KiB gets 431 (a request line alone, 414), one just under is served
# VERSION: the HTTP version (1.1 or 1.0) of the two requests with a full head.
check_limits_a_head_over_8_kib_gets() {
	server_start "$BIN" 0
	local base pad
	base=$(fd_count "$SERVER_PID")
	# 8192 bytes in all: the longest head accepted.
	pad=$(printf '%*s' $((8192 - 32)) '' | tr ' ' a)
	run -0 --separate-stderr ask "GET / HTTP/$1\r\nX: $pad\r\nHost: x\r\n\r\n"
	whole_response 200
	[ "${output#*$'\r\n\r\n'}" = Hello ]
	# One byte more: 431, whole, closed with a FIN (peer exits 0, not 4).
	run -0 --separate-stderr ask "GET / HTTP/$1\r\nX: a$pad\r\nHost: x\r\n\r\n"
	whole_response 431
	# A head that never ends: 431 after 8 KiB, not a buffer that grows.
	pad=$(printf '%*s' 100000 '' | tr ' ' a)
	run -0 --separate-stderr ask "GET / HTTP/1.1\r\n${HOST_LINE}X: $pad"
	whole_response 431
	# A request line that alone passes the limit: 414 (RFC 9112 section 3).
	run -0 --separate-stderr ask "GET /$pad HTTP/1.1\r\nHost: x\r\n\r\n"
	whole_response 414
	[ "${lines[0]}" = $'HTTP/1.1 414 URI Too Long\r' ]
	wait_for 10 fds_are "$base"
	alive_and_served
}

# limits: each bad Content-Length or Transfer-Encoding gets its status, whole
check_limits_each_bad_content_length_or_transfer() {
	server_start "$BIN" -b 100 0
	local cases=(
		"400|POST /echo HTTP/1.1\r\n${HOST_LINE}Content-Length: -1\r\n\r\n"
		"400|POST /echo HTTP/1.1\r\n${HOST_LINE}Content-Length: +5\r\n\r\nhello"
		"400|POST /echo HTTP/1.1\r\n${HOST_LINE}Content-Length: 0x5\r\n\r\nhello"
		"400|POST /echo HTTP/1.1\r\n${HOST_LINE}Content-Length: \r\n\r\n"
		"400|POST /echo HTTP/1.1\r\n${HOST_LINE}Content-Length: 99999999999999999999999\r\n\r\n"
		"400|POST /echo HTTP/1.1\r\n${HOST_LINE}Content-Length: 5\r\nContent-Length: 6\r\n\r\nhello"
		"400|POST /echo HTTP/1.1\r\n${HOST_LINE}Content-Length: 5, 5\r\n\r\nhello"
		"400|POST /echo HTTP/1.1\r\n${HOST_LINE}Transfer-Encoding: chunked\r\nContent-Length: 5\r\n\r\nhello"
		"400|POST /echo HTTP/1.1\r\n${HOST_LINE}Transfer-Encoding: gzip\r\n\r\n"
		"501|POST /echo HTTP/1.1\r\n${HOST_LINE}Transfer-Encoding: gzip, chunked\r\n\r\n"
		"400|POST /echo HTTP/1.1\r\n${HOST_LINE}Transfer-Encoding: chunked\r\n\r\nzz\r\nhello\r\n0\r\n\r\n"
		"400|POST /echo HTTP/1.1\r\n${HOST_LINE}Transfer-Encoding: chunked\r\n\r\n5\r\nhello!\r\n0\r\n\r\n"
		"413|POST /echo HTTP/1.1\r\n${HOST_LINE}Content-Length: 101\r\n\r\n"
		"413|POST /echo HTTP/1.1\r\n${HOST_LINE}Transfer-Encoding: chunked\r\n\r\n65\r\n"
		"413|POST /echo HTTP/1.1\r\n${HOST_LINE}Transfer-Encoding: chunked\r\n\r\n32\r\n$(printf '%50s' '' | tr ' ' x)\r\n33\r\n"
	)
	answered_whole "${cases[@]}"
	[ "$(logged '^answered from request [0-9]+: [45][0-9][0-9]$')" -eq ${#cases[@]} ]
	alive_and_served
}

# chunked bodies are decoded, up to -b bytes exactly
# [HEADERS]: header lines (peer's escapes) added to the raw requests.
check_chunked_bodies_are_decoded_up_to_b() {
	server_start "$BIN" -b 100 0
	local head="POST /echo HTTP/1.1\r\n${HOST_LINE}${1:-}Transfer-Encoding: chunked\r\n\r\n" body
	body=$(printf '%100s' '' | tr ' ' y)
	run -0 --separate-stderr ask "${head}5;ext=1\r\nhello\r\n6\r\n world\r\n0\r\nTrailer: t\r\n\r\n"
	whole_response 200
	[ "${output#*$'\r\n\r\n'}" = 'hello world' ]
	# 100 bytes is -b: accepted; a byte, one chunk at a time.
	run -0 --separate-stderr timeout 20 "$COMMON/peer" -c 7 -s \
		"${head}64\r\n$body\r\n0\r\n\r\n" "$SERVER_PORT"
	whole_response 200
	[ "${output#*$'\r\n\r\n'}" = "$body" ]
	log_has "got all data: $(($(peer_length "$head") + 100)) bytes"
	# curl sends chunked when told to.
	run -0 http "http://127.0.0.1:$SERVER_PORT/echo" -H 'Transfer-Encoding: chunked' \
		--data-binary 'sent by curl, chunked'
	[ "$output" = 'sent by curl, chunked' ]
}

# a 10 MB POST over -b is answered 413, and the answer arrives whole (lingering close)
check_a_10_mb_post_over_b_is() {
	server_start "$BIN" 0
	local req=$BATS_TEST_TMPDIR/req base i
	base=$(fd_count "$SERVER_PID")
	{
		printf 'POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 10485760\r\n\r\n'
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
		printf 'POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 10485760\r\nBad Header: x\r\n\r\n'
		head -c 10485760 /dev/zero
	} >"$req"
	run -0 --separate-stderr timeout 20 "$COMMON/peer" -f "$req" "$SERVER_PORT"
	whole_response 400
	[[ $stderr == *"closed by server (eof)"* ]]
	wait_for 10 fds_are "$base"
	alive_and_served
}

# cut_off_between LOW_MS HIGH_MS: peer (run with -v) received nothing and
# was closed by the server at least LOW_MS and less than HIGH_MS after it
# connected.
cut_off_between() {
	local ms
	[ -z "$output" ]
	[[ ${stderr_lines[-1]} == "peer: sent "*" bytes, received 0 bytes, closed by server (eof) after "* ]]
	ms=$(peer_ms)
	echo "cut off after $ms ms"
	# Two commands, not `[ ] && [ ]`: set -e ignores a failure left of &&.
	[ "$ms" -ge "$1" ]
	[ "$ms" -lt "$2" ]
}

# slowloris: one byte every 500 ms is cut off at the 5 s request deadline
check_slowloris_one_byte_every_500_ms_is() {
	server_start "$BIN" -t 5 0
	local base
	base=$(fd_count "$SERVER_PID")
	# 38 bytes at 2 a second would take 19 s; the deadline is 5 s from
	# the accept, and the bytes that keep arriving do not extend it.
	run -0 --separate-stderr timeout 20 "$COMMON/peer" -v -c 1 -d 500 -t 15000 \
		-s 'GET / HTTP/1.1\r\nHost: slowloris.test\r\n\r\n' "$SERVER_PORT"
	cut_off_between 5000 6000
	# It did trickle in: a byte every half second until the close.
	[[ $stderr == *"#1 sent 1 bytes, 9 in all"* ]]
	log_matches '127\.0\.0\.1:[0-9]+: timeout, reading the request'
	wait_for 10 fds_are "$base"
	alive_and_served
}

# a slow body after a fast head is cut off at the same request deadline
check_a_slow_body_after_a_fast_head() {
	server_start "$BIN" -t 2 0
	local base body
	base=$(fd_count "$SERVER_PID")
	# A 58-byte head arrives in the first 60-byte piece; then the 1000-byte
	# body trickles in at 60 bytes every 200 ms, which would take 3.4 s.
	# The deadline counts from the accept, through the body too.
	body=$(printf '%*s' 1000 '' | tr ' ' b)
	run -0 --separate-stderr timeout 20 "$COMMON/peer" -v -c 60 -d 200 -t 15000 \
		-s "POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 1000\r\n\r\n$body" "$SERVER_PORT"
	cut_off_between 2000 3000
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
	[ "$status" -eq 1 ]
	[ -z "$line" ]
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
		-s "GET /bytes/20000000 HTTP/1.1\r\n${HOST_LINE}\r\n" "$SERVER_PORT" 2>/dev/null &
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
	[ "$n_eof" -ge 30 ]
	[ "$n_open" -ge 40 ]
	[ $((n_eof + n_open)) -eq 100 ]
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
	printf 'GET / HTTP/1.1\r\nHost: x\r\n' >&"$b"
	timeout 20 "$COMMON/peer" -n -t 15000 \
		-s "POST /echo HTTP/1.1\r\n${HOST_LINE}Content-Length: 100\r\n\r\nabc" "$SERVER_PORT" 2>"$err" &
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
		-s "POST /echo HTTP/1.1\r\n${HOST_LINE}Content-Length: 9999999\r\n\r\n" "$SERVER_PORT"
	whole_response 413
	connect_raw fd
	printf 'GET /by' >&"$fd"
	wait_for 30 log_has 'requests in flight: 1'
	stop SERVER 0
	exec {fd}<&-
	log_has 'got SIGTERM: closing 1 connections'
}

# a request followed by a half-close is answered and closed at once
check_a_request_followed_by_a_half_close() {
	server_start "$BIN" 0
	local base
	base=$(fd_count "$SERVER_PID")
	run -0 --separate-stderr timeout 20 "$COMMON/peer" -h -n -t 5000 \
		-s "POST /echo HTTP/1.1\r\n${HOST_LINE}Content-Length: 5\r\n\r\nhello" "$SERVER_PORT"
	[[ $stderr == *"closed by server (eof) after "* ]]
	[ "$(peer_ms)" -lt 1000 ]
	wait_for 10 log_has 'answered from request 1: 200'
	# The client's FIN has arrived: nothing more can come, so no wait.
	wait_for 2 fds_are "$base"
	run -0 --separate-stderr timeout 20 "$COMMON/peer" -h \
		-s "POST /echo HTTP/1.1\r\n${HOST_LINE}Content-Length: 5\r\n\r\nhello" "$SERVER_PORT"
	[ "${output#*$'\r\n\r\n'}" = hello ]
}

# a client that resets mid-request, or leaves mid-body, is closed and the next one served
check_a_client_that_resets_mid_request_or() {
	server_start "$BIN" 0
	a_client_resets_mid_request
	a_client_leaves_mid_body
}

# an upload with Expect: 100-continue gets 100 Continue, and over -b a 413 instead
check_an_upload_with_expect_100_continue_gets() {
	server_start "$BIN" -b 10000000 0
	upload_with_expect 5
	[[ $output == *"< HTTP/1.1 100 Continue"* ]]
	[[ $output == *"< HTTP/1.1 200 OK"* ]]
	seconds_between "${lines[-1]#Total: }" 0 0.5
	upload_with_expect 11
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

# strace: out of descriptors with no spare to give up, the listener rests 500 ms, then accepts again
check_strace_no_spare_the_listener_rests_then() {
	need_strace
	local trace=$BATS_TEST_TMPDIR/trace n start took
	# The files opened before the server listens (the loader's, a
	# sanitizer's, then the spare): every openat after them is made to fail.
	spawn_traced "$trace" -e trace=openat -- "$BIN" -q 0
	stop_traced || return 1
	n=$(grep -c '^openat(' "$trace")
	# accept4 fails three times: the spare is given up, cannot be taken
	# back, and there is no connection whose close would free a descriptor.
	spawn_traced "$trace" -e trace=accept4,openat,epoll_wait \
		-e inject=accept4:error=EMFILE:when=1..3 \
		-e "inject=openat:error=ENFILE:when=$((n + 1))+" -- "$BIN" -q 0
	start=$EPOCHREALTIME
	run -0 http "http://127.0.0.1:$SERVER_PORT/"
	took=$(elapsed_since "$start")
	[ "$output" = Hello ]
	stop_traced || return 1
	[ "$(grep -c '^accept4(.* = -1 EMFILE .*(INJECTED)$' "$trace")" -eq 3 ]
	# One sleep of at most 500 ms that ended with no event: the retry.
	run -0 grep -E '^epoll_wait\([0-9]+, \[\], [0-9]+, [0-9]+\) += 0$' "$trace"
	printf '%s\n' "${lines[@]}"
	[ "${#lines[@]}" -eq 1 ]
	[[ ${lines[0]} =~ ,\ ([0-9]+)\)\ +=\ 0$ ]]
	[ "${BASH_REMATCH[1]}" -le 500 ]
	seconds_between "$took" 0.45 5
	# No spin meanwhile: a handful of waits, not thousands.
	[ "$(grep -c '^epoll_wait(' "$trace")" -lt 10 ]
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

# the chunked decoder gives every case its answer at every split point
check_the_chunked_decoder_gives_every_case_its() {
	http_test_build -DTEST_CHUNKED "$HTTP_CH/chunked.c"
	run -0 "$BATS_TEST_TMPDIR/http_test"
	summary_ok
	local re='chunked bodies +[0-9]+ cases, +[0-9]+ split points, 0 fail'
	[[ $output =~ $re ]]
}

# strace: a listener that cannot be re-armed (ENOMEM) rests 500 ms and tries again, until it can
check_strace_a_listener_that_cannot_be_re_armed() {
	need_strace
	local trace=$BATS_TEST_TMPDIR/trace fd start took lfd
	# The server's epoll_ctl calls: 1 adds the signalfd, 2 the listener;
	# the first client's accept is followed by 3, which adds its socket,
	# and 4, which re-arms the listener. 4 fails, and so does 5, the first
	# retry: the listener must rest twice, then accept again.
	spawn_traced "$trace" -e trace=listen,epoll_ctl,epoll_wait \
		-e inject=epoll_ctl:error=ENOMEM:when=4..5 -- "$BIN" -q 0
	connect_raw fd
	start=$EPOCHREALTIME
	run -0 http "http://127.0.0.1:$SERVER_PORT/"
	took=$(elapsed_since "$start")
	[ "$output" = Hello ]
	exec {fd}<&-
	stop_traced || return 1
	[[ $(grep -m1 '^listen(' "$trace") =~ ^listen\(([0-9]+), ]]
	lfd=${BASH_REMATCH[1]}
	run -0 grep '(INJECTED)$' "$trace"
	printf '%s\n' "${lines[@]}"
	[ "${#lines[@]}" -eq 2 ]
	[[ ${lines[0]} == "epoll_ctl("*", EPOLL_CTL_MOD, $lfd, "*" = -1 ENOMEM "* ]]
	[[ ${lines[1]} == "epoll_ctl("*", EPOLL_CTL_MOD, $lfd, "*" = -1 ENOMEM "* ]]
	# Each failure is logged, and the server goes on.
	[ "$(grep -c '^server: registry_reregister (listener): Cannot allocate memory$' "$(log_of SERVER)")" -eq 2 ]
	# Two rests of at most 500 ms each, ended by their timeouts.
	[ "$(grep -cE '^epoll_wait\([0-9]+, \[\], [0-9]+, ([0-9]|[1-9][0-9]|[1-4][0-9][0-9]|500)\) += 0$' "$trace")" -ge 2 ]
	seconds_between "$took" 0.95 5
	# No spin meanwhile.
	[ "$(grep -c '^epoll_wait(' "$trace")" -lt 15 ]
}

# RFC 9112's rules for Host (section 3.2), absolute-form targets (section
# 3.2.2) and the final transfer coding (section 6.3), chapter 08 on: each
# refusal is a 400 whose connection closes, so that nothing sent after the
# request is read as another one.

# Host: an HTTP/1.1 request without it, any with two, or with an invalid one gets 400 and the close; HTTP/1.0 may leave it out
check_host_missing_twice_or_invalid_gets_400() {
	server_start "$BIN" 0
	local base c
	base=$(fd_count "$SERVER_PID")
	# A second request follows each: whole_response fails on any byte
	# after the 400, so it must not be answered.
	local next="GET / HTTP/1.1\r\n${HOST_LINE}\r\n"
	for c in '' 'Host: x\r\nHost: x\r\n' 'Host: a b\r\n' \
		'Host: a\x01b\r\n' 'Host: user@a\r\n' 'Host: a:http\r\n' \
		'Host: ::1\r\n' 'Host: a/b\r\n'; do
		run -0 --separate-stderr ask "GET / HTTP/1.1\r\n$c\r\n$next"
		whole_response 400 || { echo "for: $c"; return 1; }
	done
	answered_whole '400|GET / HTTP/1.0\r\nHost: a\r\nHost: b\r\n\r\n' \
		'200|GET / HTTP/1.0\r\n\r\n' \
		'200|GET / HTTP/1.1\r\nHost: [::1]:8080\r\nConnection: close\r\n\r\n' \
		'200|GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n'
	wait_for 10 fds_are "$base"
	alive_and_served
}

# an absolute-form target (http://host/path) is served by its path, whatever Host says
check_an_absolute_form_target_is_served_by_its() {
	server_start "$BIN" 0
	local a=127.0.0.1:$SERVER_PORT close='Connection: close\r\n'
	run -0 --separate-stderr ask "GET http://$a/ HTTP/1.1\r\nHost: $a\r\n$close\r\n"
	whole_response 200
	[ "${output#*$'\r\n\r\n'}" = Hello ]
	# Another host than Host's: the target's wins (and is served alike).
	run -0 --separate-stderr ask "GET HTTP://example.test/bytes/5?x=1 HTTP/1.1\r\n$HOST_LINE$close\r\n"
	[ "${output#*$'\r\n\r\n'}" = 01234 ]
	# No path is "/"; a body comes to /echo as to any target.
	run -0 --separate-stderr ask "GET http://$a HTTP/1.1\r\n$HOST_LINE$close\r\n"
	[ "${output#*$'\r\n\r\n'}" = Hello ]
	run -0 --separate-stderr ask "POST http://[::1]/echo HTTP/1.1\r\n$HOST_LINE${close}Content-Length: 2\r\n\r\nhi"
	[ "${output#*$'\r\n\r\n'}" = hi ]
	# A proxy's client: curl sends absolute-form to a proxy.
	run -0 http http://example.test/bytes/7 --proxy "$a"
	[ "$output" = 0123456 ]
	# An authority with no host, or with userinfo, is 400.
	answered_whole "400|GET http:///x HTTP/1.1\r\n$HOST_LINE\r\n" \
		"400|GET http://u@$a/ HTTP/1.1\r\n$HOST_LINE\r\n"
}

# Transfer-Encoding whose last coding is not chunked gets 400 and the close; another coding before chunked, 501
check_transfer_encoding_not_ending_in_chunked() {
	server_start "$BIN" 0
	local post="POST /echo HTTP/1.1\r\n$HOST_LINE" body='5\r\nhello\r\n0\r\n\r\n'
	answered_whole \
		"400|${post}Transfer-Encoding: chunked, identity\r\n\r\n$body" \
		"400|${post}Transfer-Encoding: chunked\r\nTransfer-Encoding: gzip\r\n\r\n$body" \
		"400|${post}Transfer-Encoding: identity\r\n\r\nhello" \
		"501|${post}Transfer-Encoding: gzip, chunked\r\n\r\n$body"
	[ "$(logged '^answered from request [0-9]+: (400|501)$')" -eq 4 ]
	alive_and_served
}
