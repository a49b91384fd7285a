# tests/io.bash: the tests of reading (chapter 06) and writing (chapter 07)
# that the later chapters repeat. A check_* function is one test's body,
# called from an @test of the same name against the suite's own $BIN (and
# $HTTP_CH for the parser); its arguments are what the chapters really
# differ in. The other functions are pieces of a body that need a running
# server (server_start). Load it after helper and http; defenses.bash loads
# it too.

# routes: GET /, GET /bytes/N, POST /echo, 404, and 405 with Allow
# CONNECTION: what the 200 answer to curl says in its Connection header.
check_routes_get_get_bytes_n_post_echo() {
	server_start "$BIN" 0
	local url=http://127.0.0.1:$SERVER_PORT
	run -0 http "$url/" -i
	[ "$(head_of "$output")" = $'HTTP/1.1 200 OK\nContent-Type: text/plain\nContent-Length: 5\nConnection: '"$1" ]
	[[ $output == *$'\r\n\r\nHello' ]]
	run -0 http "$url/?a=1"
	[ "$output" = Hello ]
	run -0 http "$url/bytes/200"
	[ "$output" = "$(pattern 200)" ]
	run -0 http "$url/bytes/0" -i
	[[ $output == *$'\r\nContent-Length: 0\r\n'* ]]
	run -0 http "$url/echo" --data-binary 'a b c'
	[ "$output" = 'a b c' ]
	run -0 http "$url/nowhere" -i
	[ "${lines[0]}" = $'HTTP/1.1 404 Not Found\r' ]
	[ "${lines[-1]}" = 'Not Found' ]
	run -0 http "$url/echo" -i
	[ "${lines[0]}" = $'HTTP/1.1 405 Method Not Allowed\r' ]
	[[ $output == *$'\r\nAllow: POST\r\n'* ]]
	run -0 http "$url/" -i -d x
	[[ $output == *$'\r\nAllow: GET, HEAD\r\n'* ]]
	# 64 MiB is the most /bytes/ makes; more, or not a number, is 400.
	run -0 http "$url/bytes/67108865" -i
	[ "${lines[0]}" = $'HTTP/1.1 400 Bad Request\r' ]
	run -0 http "$url/bytes/1e3" -i
	[ "${lines[0]}" = $'HTTP/1.1 400 Bad Request\r' ]
	run -0 http "$url/bytes/67108864" -o /dev/null -w '%{size_download}'
	[ "$output" = 67108864 ]
}

# HEAD gets the head GET would get, Content-Length included, and no body
# [HEADERS]: header lines (peer's escapes) added to the routed requests, so
# that each connection ends after its answer.
check_head_gets_the_head_get_would_get() {
	server_start "$BIN" 0
	local c req want h="Host: x\r\n${1:-}"
	# request|response head. The last case is refused before routing
	# (Transfer-Encoding with Content-Length), and has no body either.
	local cases=(
		"HEAD / HTTP/1.1\r\n$h\r\n|HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 5\r\nConnection: close\r\n\r\n"
		"HEAD /bytes/1000 HTTP/1.1\r\n$h\r\n|HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 1000\r\nConnection: close\r\n\r\n"
		"HEAD /echo HTTP/1.1\r\n$h\r\n|HTTP/1.1 405 Method Not Allowed\r\nContent-Type: text/plain\r\nContent-Length: 18\r\nAllow: POST\r\nConnection: close\r\n\r\n"
		"HEAD / HTTP/1.1\r\n${h}Transfer-Encoding: chunked\r\nContent-Length: 1\r\n\r\n|HTTP/1.1 400 Bad Request\r\nContent-Type: text/plain\r\nContent-Length: 11\r\nConnection: close\r\n\r\n"
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

# a head that arrives one byte at a time is answered
# [HEADERS]: header lines (peer's escapes) added to the request.
check_a_head_that_arrives_one_byte_at() {
	server_start "$BIN" 0
	local req="GET / HTTP/1.1\r\nHost: x\r\n${1:-}\r\n"
	run -0 --separate-stderr timeout 20 "$COMMON/peer" -c 1 -d 5 -s "$req" "$SERVER_PORT"
	[ "${lines[0]}" = $'HTTP/1.1 200 OK\r' ]
	[ "${output#*$'\r\n\r\n'}" = Hello ]
	# 27 bytes or more, 5 ms apart: usually one read each, given to the
	# parser, and as many loop turns. A busy machine may not run the server
	# between two bytes, and then one read takes several; so ask only for
	# enough turns to show that the head came in pieces (the accept is one).
	[ "$(turns)" -ge 6 ]
	log_has "got all data: $(peer_length "$req") bytes"
}

# a 10 MB upload is read whole, far more than 4 KB per wakeup
# [SERVER_OPTION...]: given to the server before its port.
check_a_10_mb_upload_is_read_whole() {
	server_start "$BIN" "$@" 0
	local file=$BATS_TEST_TMPDIR/big size got t
	big "$file" 10
	size=$(stat -c %s "$file")
	# No route takes an upload: the answer, 404, comes after the body.
	run -0 http "http://127.0.0.1:$SERVER_PORT/upload" -H 'Expect:' \
		--data-binary "@$file" -o /dev/null -w '%{http_code}'
	[ "$output" = 404 ]
	wait_for 10 log_has 'answered from request 1: 404'
	got=$(sed -n 's/^got all data: \([0-9]*\) bytes$/\1/p' "$(log_of SERVER)")
	[ -n "$got" ] && [ "$got" -gt "$size" ] || { echo "got '$got', file $size"; return 1; }
	# One read of 4 KB per wakeup would take 2560 turns for 10 MB.
	t=$(turns)
	echo "$t loop turns"
	[ "$t" -lt $((size / 4096 / 4)) ]
}

# 1000 SIGUSR1 during a large upload: the body is read whole
# [SERVER_OPTION...]: given to the server after -q, before its port.
check_1000_sigusr1_during_a_large_upload() {
	server_start "$BIN" -q "$@" 0
	local file=$BATS_TEST_TMPDIR/big code=$BATS_TEST_TMPDIR/code base pid i j
	base=$(fd_count "$SERVER_PID")
	big "$file" 10
	# Some 2 s at 5 MB/s; the answer (404) comes after the last byte.
	curl -sS --max-time 20 --limit-rate 5M -H 'Expect:' --data-binary "@$file" \
		-o /dev/null -w '%{http_code}' \
		"http://127.0.0.1:$SERVER_PORT/upload" >"$code" &
	pid=$!
	wait_for 10 fds_are $((base + 1))
	# Ten bursts of 100, 100 ms apart: five while the body flows, five
	# while curl is stopped and the server sleeps in epoll_wait.
	for ((i = 0; i < 10; i++)); do
		if [ "$i" -eq 5 ]; then
			kill -0 "$pid" || { echo "the upload ended after 0.5 s"; return 1; }
			kill -STOP "$pid"
		fi
		for ((j = 0; j < 100; j++)); do kill -USR1 "$SERVER_PID"; done
		sleep 0.1
	done
	kill -CONT "$pid"
	wait "$pid"
	[ "$(<"$code")" = 404 ]
	# Each wakeup by a signal was seen: epoll_wait failed with EINTR, and
	# the loop looked at the handler's flag. Signals that arrive while
	# one is pending merge, so there are fewer lines than signals.
	[ "$(logged '^status: ')" -ge 1 ]
	wait_for 10 fds_are "$base"
	kill -USR1 "$SERVER_PID"
	wait_for 10 log_has 'status: 0 connections, 1 answered'
}

# a request and its FIN in one read are answered
# [HEADERS]: header lines (peer's escapes) added to the request.
check_a_request_and_its_fin_in_one_read() {
	server_start "$BIN" 0
	local req="GET / HTTP/1.1\r\n${HOST_LINE}Content-Length: 5\r\n${1:-}\r\nhello"
	local out=$BATS_TEST_TMPDIR/out err=$BATS_TEST_TMPDIR/peer.err pid
	# The server is stopped while the client connects, sends its request
	# and half-closes: the connection then waits in the accept queue with
	# the request and the FIN behind it, so that the server's first reads
	# return the request, then 0. That 0 is not the end of the exchange.
	kill -STOP "$SERVER_PID"
	timeout 20 "$COMMON/peer" -v -h -s "$req" "$SERVER_PORT" >"$out" 2>"$err" &
	pid=$!
	wait_for 10 grep -q 'half-closed after' "$err" || { kill -CONT "$SERVER_PID"; return 1; }
	kill -CONT "$SERVER_PID"
	wait "$pid"
	[ "$(head -n 1 "$out")" = $'HTTP/1.1 200 OK\r' ]
	[ "$(tail -c 5 "$out")" = Hello ]
	[[ $(<"$err") == *"closed by server (eof)"* ]]
	wait_for 10 log_has 'answered from request 1: 200'
	log_has "got all data: $(peer_length "$req") bytes"
}

# bytes that come while the answer is sent are read before the close: the
# slow reader gets it all, then a FIN
# [HEADERS]: header lines (peer's escapes) added to the request.
check_bytes_that_come_while_the_answer_is_sent() {
	server_start "$BIN" -q 0
	local req="GET /bytes/10000000 HTTP/1.1\r\n${HOST_LINE}${1:-}\r\n" out=$BATS_TEST_TMPDIR/out
	# The request, then 100 ms later five more bytes, which the server
	# does not read: it is sending by then (about 0.8 s at 13 MB/s, the
	# last 4 MB or so from the socket's buffer after its last send).
	# Were they left unread at close(2), the kernel would send a reset and
	# drop what the client had not received yet.
	run -0 --separate-stderr timeout 20 "$COMMON/peer" -r 65536/5 -o "$out" \
		-c "$(peer_length "$req")" -d 100 -s "${req}EXTRA" "$SERVER_PORT"
	[[ $stderr == *"closed by server (eof)"* ]]
	[ "$(tail -c 10000000 "$out" | cksum)" = "$(pattern 10000000 | cksum)" ]
}

# a 10 MB POST /echo comes back byte for byte, read far more than 4 KB per
# wakeup. [SERVER_OPTION...]: given to the server before its port.
check_a_10_mb_post_echo_comes_back() {
	server_start "$BIN" "$@" 0
	local file=$BATS_TEST_TMPDIR/big back=$BATS_TEST_TMPDIR/back size t
	big "$file" 10
	size=$(stat -c %s "$file")
	run -0 http "http://127.0.0.1:$SERVER_PORT/echo" -H 'Expect:' \
		--data-binary "@$file" -o "$back"
	cmp "$file" "$back"
	wait_for 10 log_has 'answered from request 1: 200'
	# Chapter 05 took one read of 4 KB per wakeup: 2560 turns for 10 MB.
	t=$(turns)
	echo "$t loop turns"
	[ "$t" -lt $((size / 4096 / 4)) ]
}

# GET /bytes/50000000 reaches a slow reader whole while the server idles
# MIN_S: the transfer takes at least that long (a deadline it outlasts).
# HEADERS: header lines (peer's escapes) added to the request, or ''.
# [SERVER_OPTION...]: given to the server after -q, before its port.
check_50_mb_reach_a_slow_reader() {
	local min=$1 headers=$2
	shift 2
	server_start "$BIN" -q "$@" 0
	local out=$BATS_TEST_TMPDIR/out err=$BATS_TEST_TMPDIR/peer.err base pid start
	base=$(fd_count "$SERVER_PID")
	start=$EPOCHREALTIME
	# About 16 MB/s through a small receive buffer: some 3 s of sends
	# that stop at EAGAIN and wait for EPOLLOUT.
	timeout 30 "$COMMON/peer" -t 25000 -r 262144/16 -o "$out" \
		-s "GET /bytes/50000000 HTTP/1.1\r\n$HOST_LINE$headers\r\n" "$SERVER_PORT" 2>"$err" &
	pid=$!
	wait_for 10 fds_are $((base + 1))
	# A server that retried on EAGAIN, or kept EPOLLOUT armed level-
	# triggered, would burn a CPU here.
	assert_idle "$SERVER_PID"
	kill -0 "$pid" || { echo "the transfer ended before the CPU check"; return 1; }
	wait "$pid"
	[[ $(<"$err") == *"received 50000090 bytes, closed by server (eof)"* ]]
	[ "$(head -c 90 "$out" | tr -d '\r')" = $'HTTP/1.1 200 OK\nContent-Type: text/plain\nContent-Length: 50000000\nConnection: close' ]
	[ "$(tail -c 50000000 "$out" | cksum)" = "$(pattern 50000000 | cksum)" ]
	seconds_between "$(elapsed_since "$start")" "$min" 30
	wait_for 10 fds_are "$base"
}

# 1000 clients that reset mid-response leave the server alive, idle, and at its baseline
check_1000_clients_that_reset_mid_response_leave() {
	server_start "$BIN" -q 0
	local base
	base=$(fd_count "$SERVER_PID")
	# Each asks for 4 MB, more than the socket buffers hold, and resets
	# after 10 KB: the server meets EPOLLERR, or EPIPE and ECONNRESET
	# from sendmsg. Without MSG_NOSIGNAL (and SIGPIPE ignored), EPIPE
	# would come with a SIGPIPE that ends the process.
	run -0 --separate-stderr timeout 60 "$COMMON/peer" -C 1000 -R 10000 -q \
		-t 30000 -s "GET /bytes/4000000 HTTP/1.1\r\n${HOST_LINE}\r\n" "$SERVER_PORT"
	[[ $stderr == *"1000 connections, "*", 1000 reset by us after "* ]]
	wait_for 10 fds_are "$base"
	assert_idle "$SERVER_PID"
	alive_and_served
	# A reset is the client's choice: no error lines.
	run -0 cat "$(log_of SERVER)"
	[ "$output" = "listening on 127.0.0.1:$SERVER_PORT" ]
}

# a_client_resets_mid_request: a client sends a head and 2 of 30 body bytes,
# then resets (SO_LINGER 0, close); the server closes its connection and
# logs the reset. $stderr is peer's.
a_client_resets_mid_request() {
	local base req=$'POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 30\r\n\r\nab'
	base=$(fd_count "$SERVER_PID")
	run -0 --separate-stderr timeout 20 "$COMMON/peer" \
		-s "${req//$'\r\n'/\\r\\n}" -S ${#req} "$SERVER_PORT"
	wait_for 10 fds_are "$base"
	log_matches '127\.0\.0\.1:[0-9]+: reset by the client'
}

# a_client_leaves_mid_body: a client sends a head and 3 of 10 body bytes,
# then half-closes; the server closes its connection, logs it, and goes on.
a_client_leaves_mid_body() {
	local base
	base=$(fd_count "$SERVER_PID")
	run -0 --separate-stderr timeout 20 "$COMMON/peer" -h \
		-s "POST /echo HTTP/1.1\r\n${HOST_LINE}Content-Length: 10\r\n\r\nabc" "$SERVER_PORT"
	[ -z "$output" ]
	wait_for 10 fds_are "$base"
	log_matches '127\.0\.0\.1:[0-9]+: left after 55 bytes of a request'
	alive_and_served
}

# upload_with_expect MB: curl POSTs MB megabytes of form data to /echo. It
# sends Expect: 100-continue and waits up to 1 s for an answer to that; a
# server that answers at once lets it finish well under a second. $output is
# curl's -v trace; its last line is "Total: SECONDS".
upload_with_expect() {
	local file=$BATS_TEST_TMPDIR/big
	big "$file" "$1"
	run -0 curl -sS --max-time 10 --expect100-timeout 1 -v -F "file=@$file" \
		-o /dev/null -w 'Total: %{time_total}\n' \
		"http://127.0.0.1:$SERVER_PORT/echo"
}

# 1000 SIGUSR1 during a large transfer: the body arrives intact
check_1000_sigusr1_during_a_large_transfer_the() {
	server_start "$BIN" -q 0
	local out=$BATS_TEST_TMPDIR/out base pid i j
	base=$(fd_count "$SERVER_PID")
	# Some 3 s at 5 MB/s (after a first burst that fills the buffers).
	curl -sS --max-time 20 --limit-rate 5M -o "$out" \
		"http://127.0.0.1:$SERVER_PORT/bytes/20000000" &
	pid=$!
	wait_for 10 fds_are $((base + 1))
	# Ten bursts of 100, 100 ms apart (pacing, not waiting): five while
	# the body flows, five while curl is stopped and the server waits for
	# room in a full socket buffer (so that a fast machine cannot finish
	# the transfer before the signals are done).
	for ((i = 0; i < 10; i++)); do
		if [ "$i" -eq 5 ]; then
			kill -0 "$pid" || { echo "the transfer ended after 0.5 s"; return 1; }
			kill -STOP "$pid"
		fi
		for ((j = 0; j < 100; j++)); do kill -USR1 "$SERVER_PID"; done
		sleep 0.1
	done
	kill -CONT "$pid"
	wait "$pid"
	[ "$(cksum <"$out")" = "$(pattern 20000000 | cksum)" ]
	# Each wakeup by a signal was seen: epoll_wait failed with EINTR, and
	# the loop looked at the handler's flag. Signals that arrive while
	# one is pending merge, so there are fewer lines than signals.
	[ "$(logged '^status: ')" -ge 1 ]
	wait_for 10 fds_are "$base"
	kill -USR1 "$SERVER_PID"
	wait_for 10 log_has 'status: 0 connections, 1 answered'
}

# The parser's own tests. common/http_test.c holds the cases, one line each;
# every case runs at every split point with a guard page after the input.
# http_test_build compiles it against $HTTP_CH/http.c.

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
	# The test program must be able to fail: break one rule (accept a
	# bare LF) in a copy of http.c and watch it say so.
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
