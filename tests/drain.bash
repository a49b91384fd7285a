# tests/drain.bash: SIGQUIT, the draining stop (chapter 10 on): the
# listener closes, idle connections close at once, what is in flight
# finishes within -t, and the server exits 0 with nothing leaked (under
# ASan, LeakSanitizer turns a leak into status 1). SIGTERM, or a second
# SIGQUIT, during a drain is the fast stop. Loaded by the suites of 10 to
# 13 and 16, which set BIN and DIR; the functions are named after their
# tests.

# The requests of this file, with the Host line HTTP/1.1 requires.
DRAIN_GET='GET /bytes/8000000 HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n'
DRAIN_POST='POST /echo HTTP/1.1\r\nHost: x\r\nConnection: close\r\nContent-Length: 10\r\n\r\n0123456789'

# closed_head N: the head of a 200 answer of N bytes that says close.
closed_head() {
	printf 'HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: %s\r\nConnection: close\r\n\r\n' "$1"
}

# sigquit_and_wait: SIGQUIT the server and wait for it to exit: status 0.
sigquit_and_wait() {
	kill -QUIT "$SERVER_PID"
	server_exits_0
}

# server_exits_0: wait for the server (already signalled): it exits 0.
server_exits_0() {
	local status=0
	wait "$SERVER_PID" || status=$?
	SERVER_PID=
	if [ "$status" -ne 0 ]; then
		echo "the server exited with status $status; its log:"
		cat "$(log_of SERVER)"
		return 1
	fi
}

# refused: a new connection is refused (curl's status 7: no listener).
refused() {
	run -7 curl -sS --max-time 5 "http://127.0.0.1:$SERVER_PORT/"
}

# download_start: an 8 MB download by a client reading slowly (64 KiB
# every 10 ms: about a second), into $BATS_TEST_TMPDIR/dl; DL_PID is peer's.
download_start() {
	timeout 30 "$COMMON/peer" -t 25000 -r 65536/10 \
		-o "$BATS_TEST_TMPDIR/dl" -s "$DRAIN_GET" "$SERVER_PORT" \
		2>"$BATS_TEST_TMPDIR/dl.err" &
	DL_PID=$!
}

# download_whole: the download ended with the server's close, byte-exact.
download_whole() {
	wait "$DL_PID"
	[[ $(<"$BATS_TEST_TMPDIR/dl.err") == *"closed by server (eof)"* ]]
	cmp "$BATS_TEST_TMPDIR/dl" <({
		closed_head 8000000
		pattern 8000000
	})
}

# lines_are N ERE FILE: FILE has N lines that match ERE (for wait_for).
lines_are() {
	[ "$(grep -cE -- "$2" "$3")" -eq "$1" ]
}

# an 8 MB download and 20 connections mid-request at SIGQUIT all finish, byte-exact; exit 0
check_sigquit_lets_a_download_and_20_requests_mid_way_finish() {
	server_start "$BIN" -q 0
	local base out=$BATS_TEST_TMPDIR/out err=$BATS_TEST_TMPDIR/err pid
	base=$(fd_count "$SERVER_PID")
	download_start
	# 20 connections, each sending its POST 8 bytes every 100 ms: about
	# a second each.
	timeout 30 "$COMMON/peer" -v -C 20 -c 8 -d 100 -t 25000 -o "$out" \
		-s "$DRAIN_POST" "$SERVER_PORT" 2>"$err" &
	pid=$!
	# In flight: every connection has sent its first piece (on loopback,
	# in the server's socket once send returns), none all of it.
	wait_for 10 fds_are $((base + 21))
	wait_for 10 lines_are 20 ' sent 8 bytes, 8 in all$' "$err"
	kill -QUIT "$SERVER_PID"
	wait_for 10 log_has 'got SIGQUIT: closed 0 idle connections, draining 21'
	refused
	wait "$pid"
	[[ $(tail -n 1 "$err") == "peer: 20 connections, sent $((20 * 81)) bytes, received $((20 * 94)) bytes, 20 closed by server (eof) after "* ]]
	cmp "$out" <(for _ in $(seq 20); do
		closed_head 10
		printf 0123456789
	done)
	download_whole
	server_exits_0
	log_matches '^drained in [0-9.]+ s$'
}

# an 8 MB download and 20 pipelined requests at SIGQUIT all finish, byte-exact; exit 0
check_sigquit_lets_a_download_and_20_pipelined_requests_finish() {
	server_start "$BIN" -q 0
	local base out=$BATS_TEST_TMPDIR/out err=$BATS_TEST_TMPDIR/err pid i
	base=$(fd_count "$SERVER_PID")
	download_start
	# 20 requests for 500,000 bytes each in one write, read slowly (64
	# KiB every 10 ms: about 1.5 s), more than the kernel's buffers hold:
	# at SIGQUIT, the server is still answering them. None says close.
	timeout 30 "$COMMON/peer" -v -t 25000 -r 65536/10 -o "$out" -x 20 \
		-s 'GET /bytes/500000 HTTP/1.1\r\nHost: x\r\n\r\n' \
		"$SERVER_PORT" 2>"$err" &
	pid=$!
	wait_for 10 fds_are $((base + 2))
	wait_for 10 grep -q ' sent 780 bytes, 780 in all$' "$err"
	kill -QUIT "$SERVER_PID"
	wait_for 10 log_has 'got SIGQUIT: closed 0 idle connections, draining 2'
	refused
	wait "$pid"
	# All 20 answers came, and then the server closed.
	[[ $(tail -n 1 "$err") == *" closed by server (eof) after "* ]]
	cmp "$out" <(for i in $(seq 20); do
		kept_head 500000
		pattern 500000
	done)
	download_whole
	server_exits_0
	log_matches '^drained in [0-9.]+ s$'
}

# SIGQUIT closes the listener and idle connections at once; one mid-request is answered, then exit 0
check_sigquit_closes_the_listener_and_idle_connections() {
	server_start "$BIN" -t 10 0
	local base idle half kept=$BATS_TEST_TMPDIR/kept line status=0 pid
	base=$(fd_count "$SERVER_PID")
	connect_raw idle
	connect_raw half
	printf 'GET / HTTP/1.1\r\n' >&"$half"
	# One that got its answer: kept open from chapter 11 on, closed
	# before that; either way it waits for the server to close.
	timeout 20 "$COMMON/peer" -t 15000 -s 'GET / HTTP/1.1\r\nHost: x\r\n\r\n' \
		"$SERVER_PORT" >"$kept" 2>"$kept.err" &
	pid=$!
	wait_for 10 test -s "$kept"
	wait_for 10 log_has 'requests in flight: 3'
	kill -QUIT "$SERVER_PID"
	# From chapter 11 on, the kept-alive one is idle too; before, it may
	# still be lingering.
	if declare -F kept_head >/dev/null; then
		wait_for 10 log_has 'got SIGQUIT: closed 2 idle connections, draining 1'
	else
		wait_for 10 log_matches '^got SIGQUIT: closed [12] idle connections, draining [12]$'
	fi
	# The idle ones see their end at once (-t is 10 s), the listener is
	# gone (and its spare descriptor): the server holds the one left.
	read -r -t 5 -u "$idle" line || status=$?
	[ "$status" -eq 1 ]
	wait "$pid"
	[[ $(<"$kept.err") == *"closed by server (eof) after "* ]]
	refused
	wait_for 10 fds_are $((base - 2 + 1))
	# The request in the middle is finished, answered, and the server
	# exits.
	printf 'Host: x\r\nConnection: close\r\n\r\n' >&"$half"
	run -0 timeout 10 cat <&"$half"
	[ "$output" = "$(closed_head 5; printf Hello)" ]
	exec {idle}<&- {half}<&-
	server_exits_0
	log_matches '^drained in [0-9.]+ s$'
}

# the drain lasts at most -t: a client too slow to finish is cut off, one that never reads too; exit 0
check_the_drain_lasts_at_most_t() {
	server_start "$BIN" -t 2 0
	local start never slow
	# One reads 64 KiB every 10 ms (64 MB take ten seconds or more),
	# enough to keep its own deadline (progress every -t) from passing
	# (the kernel reports room only once a third of the buffer is free:
	# a reader much slower would stall it past -t); the other
	# never reads, and its deadline passes first. Neither sees its end
	# soon: the kernel still holds what was sent, and the FIN after it.
	timeout 30 "$COMMON/peer" -q -t 20000 -r 65536/10 \
		-s 'GET /bytes/64000000 HTTP/1.1\r\nHost: x\r\n\r\n' \
		"$SERVER_PORT" 2>/dev/null &
	slow=$!
	timeout 30 "$COMMON/peer" -n -t 20000 -s "$DRAIN_GET" \
		"$SERVER_PORT" 2>/dev/null &
	never=$!
	wait_for 10 log_has 'requests in flight: 2'
	start=$EPOCHREALTIME
	sigquit_and_wait
	seconds_between "$(elapsed_since "$start")" 1.9 15
	log_has 'got SIGQUIT: closed 0 idle connections, draining 2'
	# The silent client's own deadline usually passes first and closes
	# it; when its last send came just before the SIGQUIT (a fast server
	# fills its buffers in a few ms), that deadline falls after the
	# drain's end and the drain closes both. Either way, every one of the
	# two is closed by a deadline, and the drain by its own.
	local timeouts left
	timeouts=$(logged 'timeout, writing the response$')
	left=$(sed -nE 's/^drain: out of time after [0-9.]+ s: closing ([0-9]+) connections$/\1/p' \
		"$(log_of SERVER)")
	[ -n "$left" ] && [ "$left" -ge 1 ] && [ $((timeouts + left)) -eq 2 ]
	kill "$slow" "$never"
	wait "$slow" "$never" || true
}

# SIGTERM, or a second SIGQUIT, during a drain is the fast stop: exit 0 at once
check_sigterm_during_a_drain_stops_fast() {
	local sig start pid base
	for sig in TERM QUIT; do
		server_start "$BIN" -q -t 60 0
		base=$(fd_count "$SERVER_PID")
		# 8 MB read at 4 KiB every 100 ms: minutes, and -t is a minute.
		timeout 30 "$COMMON/peer" -q -t 20000 -r 4096/100 \
			-s "$DRAIN_GET" "$SERVER_PORT" 2>/dev/null &
		pid=$!
		wait_for 10 fds_are $((base + 1))
		kill -QUIT "$SERVER_PID"
		wait_for 10 log_has 'got SIGQUIT: closed 0 idle connections, draining 1'
		start=$EPOCHREALTIME
		kill -"$sig" "$SERVER_PID"
		server_exits_0
		seconds_between "$(elapsed_since "$start")" 0 10
		log_has "got SIG$sig: closing 1 connections"
		kill "$pid"
		wait "$pid" || true
	done
}
