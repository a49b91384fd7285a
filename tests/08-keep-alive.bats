#!/usr/bin/env bats
# Chapter 08: keep-alive, pipelining and backpressure; then chapter 07's
# defences, which still hold. Each of those plays one attack or failure
# (chapter 07's page says which defence each shows); after the adversarial
# clients: the server alive, its descriptors back to the baseline, and
# where a spin would show, its CPU idle. Every server here must exit 0 on
# SIGTERM, having freed everything (under ASan, LeakSanitizer checks that
# at exit and turns a leak into ASan's exit status, 1): the teardown
# expects 0.

load helper
load http
load defenses

STOP_STATUS=0

DIR=$TOP/chapters/08-keep-alive
BIN=$DIR/server

@test "a bad command line gets a usage line and status 2" {
	check_a_bad_command_line_gets_a_usage
}

# The answer to 'GET / HTTP/1.1' on a kept connection: 93 bytes.
HELLO_KEPT=$'HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 5\r\nConnection: keep-alive\r\n\r\nHello'

# kept_head N: the head of a kept 200 response with an N-byte body.
kept_head() {
	printf 'HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: %s\r\nConnection: keep-alive\r\n\r\n' "$1"
}

@test "keep-alive: curl's three requests share one connection" {
	server_start "$BIN" 0
	local url=http://127.0.0.1:$SERVER_PORT
	# (http puts its first URL last: / then /bytes/10 then /.)
	run -0 http "$url/" "$url/" "$url/bytes/10"
	[ "$output" = "Hello$(pattern 10)Hello" ]
	wait_for 10 log_has 'answered from request 1: 200'
	[ "$(logged '^new client: ')" -eq 1 ]
	[ "$(logged '^answered from request 1: 200$')" -eq 3 ]
}

@test "10,000 pipelined requests on one connection are all answered" {
	server_start "$BIN" -q 0
	local n=10000
	# One write of 10,000 requests; peer closes once every answer is in.
	run -0 --separate-stderr timeout 30 "$COMMON/peer" -q -t 25000 -x $n \
		-e $((n * ${#HELLO_KEPT})) -s 'GET / HTTP/1.1\r\nHost: x\r\n\r\n' \
		"$SERVER_PORT"
	[[ $stderr == "peer: sent $((n * 27)) bytes, received $((n * ${#HELLO_KEPT})) bytes, closed by us after "* ]]
	kill -USR1 "$SERVER_PID"
	wait_for 10 log_has "status: 0 connections, $n answered"
}

@test "100 pipelined requests in one write are answered in order" {
	server_start "$BIN" 0
	local reqs= i out=$BATS_TEST_TMPDIR/out want=$BATS_TEST_TMPDIR/want
	for i in $(seq 1 100); do
		reqs+="GET /bytes/$i HTTP/1.1\\r\\nHost: x\\r\\n\\r\\n"
		{ kept_head "$i"; pattern "$i"; } >>"$want"
	done
	run -0 --separate-stderr timeout 20 "$COMMON/peer" -o "$out" \
		-e "$(stat -c %s "$want")" -s "$reqs" "$SERVER_PORT"
	[[ $stderr == *" closed by us after "* ]]
	cmp "$out" "$want"
	# One connection, and the 100 answers came from fewer reads than
	# requests: what was buffered was parsed without waiting.
	[ "$(logged '^new client: ')" -eq 1 ]
	[ "$(logged '^got all data: ')" -lt 100 ]
}

@test "HTTP/1.0 closes unless it asks for keep-alive, and is told so" {
	server_start "$BIN" 0
	run -0 --separate-stderr ask 'GET / HTTP/1.0\r\n\r\n'
	whole_response 200
	[[ $stderr == *"closed by server (eof)"* ]]
	# Kept when asked, and the answer says so; the next request, which
	# does not ask, is answered and the connection closed.
	run -0 --separate-stderr ask 'GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\nGET /bytes/3 HTTP/1.0\r\n\r\n'
	[ "$output" = "${HELLO_KEPT}HTTP/1.1 200 OK"$'\r\nContent-Type: text/plain\r\nContent-Length: 3\r\nConnection: close\r\n\r\n012' ]
	[[ $stderr == *"closed by server (eof)"* ]]
}

@test "Connection: close is answered with Connection: close, and nothing after it" {
	server_start "$BIN" 0
	# Three requests in one write: the second says close. The third is
	# never answered: the connection ends after the second answer.
	run -0 --separate-stderr ask 'GET / HTTP/1.1\r\n\r\nGET /bytes/3 HTTP/1.1\r\nConnection: close\r\n\r\nGET / HTTP/1.1\r\n\r\n'
	[ "$output" = "${HELLO_KEPT}HTTP/1.1 200 OK"$'\r\nContent-Type: text/plain\r\nContent-Length: 3\r\nConnection: close\r\n\r\n012' ]
	[[ $stderr == *"closed by server (eof)"* ]]
	# An HTTP/1.1 request that does not say close is kept open.
	run -3 --separate-stderr timeout 10 "$COMMON/peer" -t 1000 \
		-s 'GET / HTTP/1.1\r\n\r\n' "$SERVER_PORT"
	[ "$output" = "$HELLO_KEPT" ]
	[[ $stderr == *"still open after "* ]]
}

# vm_rss PID: the process's resident memory, in KiB (/proc/PID/status).
vm_rss() {
	awk '/^VmRSS:/ { print $2 }' "/proc/$1/status"
}

@test "backpressure: 100,000 pipelined requests from a client that never reads leave memory bounded" {
	server_start "$BIN" -q -t 30 0
	local before after pid pad status=0 err=$BATS_TEST_TMPDIR/peer.err
	# 100,000 requests of about 230 bytes: 23 MB that a server reading
	# everything would hold, with answers of 10 KB each (1 GB).
	pad=$(printf '%*s' 200 '' | tr ' ' p)
	# Let the allocator reach its steady state first.
	run -0 http "http://127.0.0.1:$SERVER_PORT/bytes/100000" -o /dev/null
	before=$(vm_rss "$SERVER_PID")
	timeout 30 "$COMMON/peer" -n -t 6000 -x 100000 \
		-s "GET /bytes/10000 HTTP/1.1\r\nX: $pad\r\n\r\n" \
		"$SERVER_PORT" 2>"$err" &
	pid=$!
	# Once every buffer between us is full, the server stops: idle.
	wait_for 10 fds_are $(($(fd_count "$SERVER_PID") + 1))
	assert_idle "$SERVER_PID"
	after=$(vm_rss "$SERVER_PID")
	diag "VmRSS $before KiB before, $after KiB with the pipeliner stuck"
	[ $((after - before)) -lt 4096 ]
	# The peer could not send it all: the server stopped reading.
	wait "$pid" || status=$?
	[ "$status" -eq 3 ]
	[[ $(<"$err") =~ sent\ ([0-9]+)\ bytes,\ received\ 0\ bytes,\ still\ open ]]
	[ "${BASH_REMATCH[1]}" -lt $((100000 * 230)) ]
	alive_and_served
}

@test "2,000 concurrent keep-alive connections are served and held open" {
	ulimit -n 8192
	server_start "$BIN" -q -t 30 0
	local base
	base=$(fd_count "$SERVER_PID")
	run -3 --separate-stderr timeout 30 "$COMMON/peer" -q -C 2000 -t 4000 \
		-s 'GET / HTTP/1.1\r\n\r\n' "$SERVER_PORT"
	[[ $stderr == "peer: 2000 connections, sent $((2000 * 18)) bytes, received $((2000 * ${#HELLO_KEPT})) bytes, 2000 still open after "* ]]
	wait_for 10 fds_are "$base"
}

@test "an idle keep-alive connection is closed -t after its last answer" {
	server_start "$BIN" -q -t 2 0
	# Two requests 1.5 s apart: the second comes in time because the
	# deadline restarts after the first answer; then 2 s of idleness.
	run -0 --separate-stderr timeout 20 "$COMMON/peer" -c 27 -d 1500 -x 2 \
		-s 'GET / HTTP/1.1\r\nHost: x\r\n\r\n' "$SERVER_PORT"
	[ "$output" = "$HELLO_KEPT$HELLO_KEPT" ]
	[[ ${stderr_lines[-1]} == "peer: sent 54 bytes, received 186 bytes, closed by server (eof) after "* ]]
	seconds_between "$(awk -v ms="$(peer_ms)" 'BEGIN { print ms / 1000 }')" 3.4 5.5
}

@test "a request and its FIN in one event: the end of stream is still read" {
	server_start "$BIN" -q -t 5 0
	local err=$BATS_TEST_TMPDIR/peer.err pid
	# The server is stopped while the request and the FIN arrive, so one
	# edge (EPOLLIN | EPOLLRDHUP) reports both. The read of the request is
	# short; taking that for "drained" would miss the end of stream, and
	# the connection would wait for the 5 s deadline.
	kill -STOP "$SERVER_PID"
	timeout 20 "$COMMON/peer" -v -q -h -s 'GET / HTTP/1.1\r\n\r\n' \
		"$SERVER_PORT" 2>"$err" &
	pid=$!
	wait_for 10 grep -q 'half-closed' "$err"
	kill -CONT "$SERVER_PID"
	wait "$pid"
	[[ $(tail -n 1 "$err") =~ received\ 93\ bytes,\ closed\ by\ server\ \(eof\)\ after\ ([0-9]+)\ ms ]]
	[ "${BASH_REMATCH[1]}" -lt 2500 ]
}

@test "strace: edge-triggered, 1,000 pipelined requests cost no epoll_ctl and fewer reads than requests" {
	need_strace
	local trace=$BATS_TEST_TMPDIR/trace n=1000
	spawn_traced "$trace" -e trace=epoll_ctl,recvfrom,sendmsg -- "$BIN" -q 0
	run -0 --separate-stderr timeout 20 "$COMMON/peer" -q -x $n \
		-e $((n * ${#HELLO_KEPT})) -s 'GET / HTTP/1.1\r\nHost: x\r\n\r\n' \
		"$SERVER_PORT"
	stop_traced || return 1
	# The connection's only epoll_ctl calls: ADD after accept, for both
	# directions, edge-triggered, and DEL at close.
	run -0 grep -E 'EPOLL_CTL_(ADD|MOD|DEL), [0-9]+,.*' "$trace"
	[[ ${lines[2]} =~ ^epoll_ctl\([0-9]+,\ EPOLL_CTL_ADD,\ ([0-9]+),\ \{events=EPOLLIN\|EPOLLOUT\|EPOLLRDHUP\|EPOLLET, ]]
	local fd=${BASH_REMATCH[1]}
	[ "$(grep -c "EPOLL_CTL_[A-Z]*, $fd," "$trace")" -eq 2 ]
	grep -q "EPOLL_CTL_DEL, $fd," "$trace"
	# One sendmsg per answer; the 27 KB of requests in a few 8 KiB reads.
	[ "$(grep -c '^sendmsg(' "$trace")" -eq $n ]
	[ "$(grep -c '^recvfrom(' "$trace")" -lt 20 ]
}

@test "routes: GET /, GET /bytes/N, POST /echo, 404, and 405 with Allow" {
	server_start "$BIN" 0
	local url=http://127.0.0.1:$SERVER_PORT
	run -0 http "$url/" -i
	[ "$(head_of "$output")" = $'HTTP/1.1 200 OK\nContent-Type: text/plain\nContent-Length: 5\nConnection: keep-alive' ]
	[[ $output == *$'\r\n\r\nHello' ]]
	run -0 http "$url/bytes/200"
	[ "$output" = "$(pattern 200)" ]
	run -0 http "$url/echo" --data-binary 'a b c'
	[ "$output" = 'a b c' ]
	run -0 http "$url/nowhere" -i
	[ "${lines[0]}" = $'HTTP/1.1 404 Not Found\r' ]
	run -0 http "$url/echo" -i
	[ "${lines[0]}" = $'HTTP/1.1 405 Method Not Allowed\r' ]
	[[ $output == *$'\r\nAllow: POST\r\n'* ]]
	run -0 http "$url/bytes/67108864" -o /dev/null -w '%{size_download}'
	[ "$output" = 67108864 ]
}

@test "HEAD gets the head GET would get, Content-Length included, and no body" {
	server_start "$BIN" 0
	local c req want
	# request|response head. The last case is refused before routing
	# (Transfer-Encoding with Content-Length), and has no body either.
	local cases=(
		'HEAD / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n|HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 5\r\nConnection: close\r\n\r\n'
		'HEAD /bytes/1000 HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n|HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 1000\r\nConnection: close\r\n\r\n'
		'HEAD /echo HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n|HTTP/1.1 405 Method Not Allowed\r\nContent-Type: text/plain\r\nContent-Length: 18\r\nAllow: POST\r\nConnection: close\r\n\r\n'
		'HEAD / HTTP/1.1\r\nTransfer-Encoding: chunked\r\nContent-Length: 1\r\n\r\n|HTTP/1.1 400 Bad Request\r\nContent-Type: text/plain\r\nContent-Length: 11\r\nConnection: close\r\n\r\n'
	)
	for c in "${cases[@]}"; do
		req=${c%%|*}
		want=${c#*|}
		want=${want//\\r/$'\r'}
		want=${want//\\n/$'\n'}
		# ask fails unless the server closed the connection (a FIN).
		run -0 --separate-stderr ask "$req"
		# run drops the last newline; peer's count covers every byte.
		[ "$output" = "${want%$'\n'}" ] || { echo "$req: got '$output'"; return 1; }
		[[ $stderr == *"received ${#want} bytes, closed by server (eof)"* ]] ||
			{ echo "$req: $stderr"; return 1; }
	done
}

@test "a head that arrives one byte at a time is answered" {
	server_start "$BIN" 0
	local req='GET /bytes/100 HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n'
	run -0 --separate-stderr timeout 20 "$COMMON/peer" -c 1 -d 5 -s "$req" "$SERVER_PORT"
	[ "${lines[0]}" = $'HTTP/1.1 200 OK\r' ]
	[ "${output#*$'\r\n\r\n'}" = "$(pattern 100)" ]
	# 55 bytes 5 ms apart: usually 55 reads, each given to the parser, and
	# as many loop turns. A busy machine may not run the server between
	# two bytes, and then one read takes several; so ask only for enough
	# turns to show that the head came in pieces (the accept is one).
	[ "$(turns)" -ge 6 ]
	log_has 'got all data: 55 bytes'
}

@test "a 10 MB POST /echo under -b comes back byte for byte, read far more than 4 KB per wakeup" {
	check_a_10_mb_post_echo_under_b
}

@test "limits: a head over 8 KiB gets 431 (a request line alone, 414), one just under is served" {
	server_start "$BIN" 0
	local base pad
	base=$(fd_count "$SERVER_PID")
	# 8192 bytes in all: the longest head accepted.
	pad=$(printf '%*s' $((8192 - 32)) '' | tr ' ' a)
	# HTTP/1.0, so that the connection closes after the answer.
	run -0 --separate-stderr ask "GET / HTTP/1.0\r\nX: $pad\r\nHost: x\r\n\r\n"
	whole_response 200
	[ "${output#*$'\r\n\r\n'}" = Hello ]
	# One byte more: 431, whole, closed with a FIN (peer exits 0, not 4).
	run -0 --separate-stderr ask "GET / HTTP/1.0\r\nX: a$pad\r\nHost: x\r\n\r\n"
	whole_response 431
	# A head that never ends: 431 after 8 KiB, not a buffer that grows.
	pad=$(printf '%*s' 100000 '' | tr ' ' a)
	run -0 --separate-stderr ask "GET / HTTP/1.1\r\nX: $pad"
	whole_response 431
	# A request line that alone passes the limit: 414 (RFC 9112 section 3).
	run -0 --separate-stderr ask "GET /$pad HTTP/1.1\r\nHost: x\r\n\r\n"
	whole_response 414
	wait_for 10 fds_are "$base"
	alive_and_served
}

@test "limits: each bad Content-Length or Transfer-Encoding gets its status, whole" {
	check_limits_each_bad_content_length_or_transfer
}

@test "chunked bodies are decoded, up to -b bytes exactly" {
	server_start "$BIN" -b 100 0
	local body
	body=$(printf '%100s' '' | tr ' ' y)
	run -0 --separate-stderr ask "POST /echo HTTP/1.1\r\nConnection: close\r\nTransfer-Encoding: chunked\r\n\r\n5;ext=1\r\nhello\r\n6\r\n world\r\n0\r\nTrailer: t\r\n\r\n"
	whole_response 200
	[ "${output#*$'\r\n\r\n'}" = 'hello world' ]
	# 100 bytes is -b: accepted; a byte, one chunk at a time.
	run -0 --separate-stderr timeout 20 "$COMMON/peer" -c 7 -s \
		"POST /echo HTTP/1.1\r\nConnection: close\r\nTransfer-Encoding: chunked\r\n\r\n64\r\n$body\r\n0\r\n\r\n" "$SERVER_PORT"
	whole_response 200
	[ "${output#*$'\r\n\r\n'}" = "$body" ]
	log_has "got all data: $((70 + 100)) bytes"
	# curl sends chunked when told to.
	run -0 http "http://127.0.0.1:$SERVER_PORT/echo" -H 'Transfer-Encoding: chunked' \
		--data-binary 'sent by curl, chunked'
	[ "$output" = 'sent by curl, chunked' ]
}

@test "a 10 MB POST over -b is answered 413, and the answer arrives whole (lingering close)" {
	check_a_10_mb_post_over_b_is
}

@test "a request refused at its head while 10 MB of body follow: the 400 arrives whole" {
	check_a_request_refused_at_its_head_while
}

@test "slowloris: one byte every 500 ms is cut off at the 5 s request deadline" {
	check_slowloris_one_byte_every_500_ms_is
}

@test "a slow body after a fast head is cut off at the same request deadline" {
	check_a_slow_body_after_a_fast_head
}

@test "an idle connection is closed after -t, and the server idles meanwhile" {
	check_an_idle_connection_is_closed_after_t
}

@test "a reader that stops reading is closed after -t without progress" {
	check_a_reader_that_stops_reading_is_closed
}

@test "a slow but live reader of 50 MB outlasts -t: progress extends the write deadline" {
	server_start "$BIN" -q -t 2 0
	local out=$BATS_TEST_TMPDIR/out err=$BATS_TEST_TMPDIR/peer.err base pid start
	base=$(fd_count "$SERVER_PID")
	start=$EPOCHREALTIME
	# About 16 MB/s: some 3 s, longer than the 2 s deadline.
	timeout 30 "$COMMON/peer" -t 25000 -r 262144/16 -o "$out" \
		-s 'GET /bytes/50000000 HTTP/1.1\r\nConnection: close\r\n\r\n' \
		"$SERVER_PORT" 2>"$err" &
	pid=$!
	wait_for 10 fds_are $((base + 1))
	assert_idle "$SERVER_PID"
	kill -0 "$pid" || { echo "the transfer ended before the CPU check"; return 1; }
	wait "$pid"
	[[ $(<"$err") == *"received 50000090 bytes, closed by server (eof)"* ]]
	[ "$(tail -c 50000000 "$out" | cksum)" = "$(pattern 50000000 | cksum)" ]
	seconds_between "$(elapsed_since "$start")" 2 30
	wait_for 10 fds_are "$base"
}

@test "a lingering close lasts at most -t for a client that never closes" {
	check_a_lingering_close_lasts_at_most_t
}

@test "out of descriptors (prlimit 64, 100 clients): no spin, no stall, served again after" {
	check_out_of_descriptors_prlimit_64_100_clients
}

@test "SIGTERM with connections open: exit 0, every connection closed, nothing leaked" {
	check_sigterm_with_connections_open_exit_0_every
}

@test "SIGINT (Ctrl-C) exits 0 the same way" {
	check_sigint_ctrl_c_exits_0_the_same
}

@test "a leak at exit would fail these tests (LeakSanitizer or valgrind)" {
	check_a_leak_at_exit_would_fail_these
}

@test "valgrind: requests, then SIGTERM: exit 0 with no error and no leak" {
	check_valgrind_requests_then_sigterm_exit_0_with
}

@test "1000 clients that reset mid-response leave the server alive, idle, and at its baseline" {
	check_1000_clients_that_reset_mid_response_leave
}

@test "1000 SIGUSR1 during a large transfer: the body arrives intact" {
	check_1000_sigusr1_during_a_large_transfer_the
}

@test "a request followed by a half-close is answered and closed at once" {
	check_a_request_followed_by_a_half_close
}

@test "a client that resets mid-request, or leaves mid-body, is closed and the next one served" {
	check_a_client_that_resets_mid_request_or
}

@test "an upload with Expect: 100-continue gets 100 Continue, and over -b a 413 instead" {
	check_an_upload_with_expect_100_continue_gets
}

@test "-q silences every per-request line" {
	check_q_silences_every_per_request_line
}

@test "strace: out of descriptors, the spare is closed, a connection accepted and closed, the spare reopened" {
	check_strace_out_of_descriptors_the_spare_is
}

@test "strace: the wait sleeps until the nearest deadline, rounded up, and never spins" {
	check_strace_the_wait_sleeps_until_the_nearest
}

# The parser's own tests, and the chunked decoder's.
#
# common/http_test.c holds the cases, one line each; every case runs at
# every split point with a guard page after the input. Here it is compiled
# against the chapter's http.c (and chunked.c), with the warnings of
# common.mk and, when the suite runs against sanitizer builds (SANITIZED is
# set), with ASan+UBSan.

HTTP_CH=$TOP/chapters/08-keep-alive

@test "the parser gives every request case its answer at every split point" {
	check_the_parser_gives_every_request_case_its
}

@test "the parser reports a wrong answer and exits 1" {
	check_the_parser_reports_a_wrong_answer_and
}

@test "the chunked decoder gives every case its answer at every split point" {
	check_the_chunked_decoder_gives_every_case_its
}
