#!/usr/bin/env bats
# common/peer: the scriptable misbehaving client that the later chapters'
# tests use. Its servers here: common/delayserver (`GET /<ms>/<message>`
# answered after the delay, one thread per connection, a line per request in
# its log) and chapter 00's blocking server (reads a request head, answers
# Hello, logs `read: ...` when a read fails).

load helper

PEER=$COMMON/peer
DELAY=$COMMON/delayserver
HELLO=$TOP/chapters/00-blocking/server

# The answer delayserver gives to `GET /<ms>/<message>`, for comparisons.
answer() {
	printf 'HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n'
	printf 'Content-Length: %d\r\nConnection: close\r\n\r\n%s' "${#1}" "$1"
}

# nbytes ESCAPED: how many bytes -s ESCAPED sends (printf %b decodes the
# same escapes).
nbytes() {
	printf '%b' "$1" | wc -c
}

# after_ms: the time on the summary line (the last line of $stderr).
after_ms() {
	local last=${stderr_lines[-1]}
	[[ $last =~ \ after\ ([0-9]+)\ ms$ ]] || {
		echo "no time in: $last" >&2
		return 1
	}
	echo "${BASH_REMATCH[1]}"
}

# at_least X MIN [MAX]: MIN <= X (< MAX), or say why not.
at_least() {
	if [ "$1" -lt "$2" ] || { [ -n "${3:-}" ] && [ "$1" -ge "$3" ]; }; then
		echo "got $1; expected at least $2${3:+ and less than $3}"
		return 1
	fi
}

# lines_are FILE PATTERN N: N lines of FILE match PATTERN (for wait_for).
lines_are() {
	[ "$(grep -c -- "$2" "$1")" -eq "$3" ]
}

# event_times PATTERN: the [T ms] of each -v line of $stderr matching it.
event_times() {
	local line
	for line in "${stderr_lines[@]}"; do
		[[ $line =~ ^\[([0-9]+)\ ms\]\ #[0-9]+\ $1 ]] &&
			echo "${BASH_REMATCH[1]}"
	done
	return 0
}

@test "-s sends its bytes with escapes decoded; the response goes to stdout" {
	server_start "$DELAY" 0
	local req='GET /0/a\x62c\\d HTTP/1.1\r\n\r\n'
	local sent=$'GET /0/abc\\d HTTP/1.1\r\n\r\n'
	run --separate-stderr -0 timeout 20 "$PEER" -s "$req" "$SERVER_PORT"
	# Byte for byte: the escapes became b, a backslash, CR and LF.
	[ "$output" = "$(answer 'abc\d')" ]
	local got
	got=$(answer 'abc\d' | wc -c)
	[[ ${stderr_lines[-1]} == "peer: sent ${#sent} bytes, received $got bytes, closed by server (eof) after "*" ms" ]]
	grep -qF 'answered /0/abc\d after 0 ms' "$(log_of SERVER)"
}

@test "-f sends a file and -o writes what arrives to a file" {
	server_start "$DELAY" 0
	local dir=$BATS_TEST_TMPDIR
	printf 'GET /0/from-a-file HTTP/1.1\r\nHost: x\r\n\r\n' >"$dir/req"
	run --separate-stderr -0 timeout 20 "$PEER" -f "$dir/req" -o "$dir/out" "$SERVER_PORT"
	[ -z "$output" ]
	answer from-a-file | cmp - "$dir/out"
	[[ ${stderr_lines[-1]} == "peer: sent $(wc -c <"$dir/req") bytes, received $(wc -c <"$dir/out") bytes, closed by server (eof) after "* ]]
}

@test "-x repeats the bytes N times in one buffer, sent as one piece" {
	server_start "$DELAY" 0
	local req='GET /0/x HTTP/1.1\r\n\r\n' n
	n=$((3 * $(nbytes "$req")))
	run --separate-stderr -0 timeout 20 "$PEER" -v -x 3 -s "$req" "$SERVER_PORT"
	[ "$output" = "$(answer x)" ]
	[ "$(event_times "sent " | wc -l)" -eq 1 ]
	[[ $stderr == *"#1 sent $n bytes, $n in all"* ]]
	[[ ${stderr_lines[-1]} == "peer: sent $n bytes, "* ]]
}

@test "strace: -x is one sendto of every copy, -c 1 is one sendto per byte" {
	need_strace
	server_start "$DELAY" -q 0
	local trace=$BATS_TEST_TMPDIR/trace
	run -0 traced timeout 20 strace -o "$trace" -e trace=sendto -s 200 \
		"$PEER" -q -x 3 -s 'GET /0/x HTTP/1.1\r\n\r\n' "$SERVER_PORT"
	# strace writes CR LF as \r\n, as -s reads them.
	local r='GET /0/x HTTP/1.1\r\n\r\n'
	[ "$(grep -c '^sendto' "$trace")" -eq 1 ]
	grep -qF "\"$r$r$r\", 63, MSG_NOSIGNAL, NULL, 0) = 63" "$trace"

	run -0 traced timeout 20 strace -o "$trace" -e trace=sendto \
		"$PEER" -q -c 1 -s 'GET /0/x HTTP/1.1\r\n\r\n' "$SERVER_PORT"
	[ "$(grep -cE '^sendto\([0-9]+, "(.|\\.)", 1, MSG_NOSIGNAL, NULL, 0\) = 1$' "$trace")" -eq 21 ]
	[ "$(grep -c '^sendto' "$trace")" -eq 21 ]
}

@test "-c and -d send pieces with the gap between them" {
	server_start "$DELAY" 0
	local start=$EPOCHREALTIME
	# 24 bytes in pieces of 8: three pieces, two gaps of 150 ms.
	run --separate-stderr -0 timeout 20 "$PEER" -v -c 8 -d 150 -s 'GET /0/gaps HTTP/1.1\r\n\r\n' "$SERVER_PORT"
	[ "$output" = "$(answer gaps)" ]
	local times
	mapfile -t times < <(event_times "sent 8 bytes")
	[ "${#times[@]}" -eq 3 ] || { printf '%s\n' "${stderr_lines[@]}"; return 1; }
	at_least $((times[1] - times[0])) 150
	at_least $((times[2] - times[1])) 150
	at_least "$(after_ms)" 300 2000
	# The wall clock agrees with the peer's own report.
	at_least "$(awk -v a="$start" -v b="$EPOCHREALTIME" 'BEGIN { printf "%d", (b - a) * 1000 }')" 300
}

@test "-c 1 sends one byte at a time and the request still arrives whole" {
	server_start "$DELAY" 0
	run --separate-stderr -0 timeout 20 "$PEER" -v -c 1 -s 'GET /0/bytes HTTP/1.1\r\n\r\n' "$SERVER_PORT"
	[ "$output" = "$(answer bytes)" ]
	local n i
	n=$(event_times "sent 1 bytes" | wc -l)
	[ "$n" -eq 25 ]
	for i in 1 2 25; do
		[[ $stderr == *"sent 1 bytes, $i in all"* ]]
	done
	grep -q 'answered /0/bytes after 0 ms' "$(log_of SERVER)"
}

@test "-h half-closes: the server reads EOF, and the reply still arrives" {
	server_start "$DELAY" 0
	# An unfinished head: without -h, delayserver waits for more (10 s).
	local head='GET /0/x HTTP/1.1\r\n' log
	log=$(log_of SERVER)
	run --separate-stderr -3 timeout 20 "$PEER" -t 500 -s "$head" "$SERVER_PORT"
	[[ ${stderr_lines[-1]} == *", still open after "* ]]
	# (The peer's close at its exit was the EOF this time.)
	wait_for 5 lines_are "$log" 'no complete request' 1
	# With -h the server reads EOF at once, gives up, and closes.
	run --separate-stderr -0 timeout 20 "$PEER" -v -h -s "$head" "$SERVER_PORT"
	local n
	n=$(nbytes "$head")
	[[ $stderr == *"#1 half-closed after $n bytes sent"* ]]
	[[ ${stderr_lines[-1]} == "peer: sent $n bytes, received 0 bytes, closed by server (eof) after "* ]]
	at_least "$(after_ms)" 0 2000
	wait_for 5 lines_are "$log" 'no complete request' 2
	# A whole request, then the half-close: the answer comes back.
	run --separate-stderr -0 timeout 20 "$PEER" -h -s 'GET /200/half HTTP/1.1\r\n\r\n' "$SERVER_PORT"
	[ "$output" = "$(answer half)" ]
}

@test "-S resets after N bytes sent: the server's read fails with a reset" {
	[ -x "$HELLO" ] || skip "chapters/00-blocking/server is not built"
	server_start "$HELLO" 0
	run --separate-stderr -0 timeout 20 "$PEER" -v -S 5 -s 'GET / HTTP/1.1\r\n\r\n' "$SERVER_PORT"
	[ -z "$output" ]
	[[ $stderr == *"#1 reset by us after 5 bytes sent"* ]]
	[[ ${stderr_lines[-1]} == "peer: sent 5 bytes, received 0 bytes, reset by us after "* ]]
	# A plain close would have been EOF (and an answer), not this:
	wait_for 5 grep -q 'read: Connection reset by peer' "$(log_of SERVER)"
	# -S 0: reset straight after connecting.
	run --separate-stderr -0 timeout 20 "$PEER" -S 0 "$SERVER_PORT"
	[[ ${stderr_lines[-1]} == "peer: sent 0 bytes, received 0 bytes, reset by us after "* ]]
	wait_for 5 lines_are "$(log_of SERVER)" 'read: Connection reset by peer' 2
}

@test "-R resets and -e closes after exactly N bytes received" {
	server_start "$DELAY" 0
	local req='GET /0/x HTTP/1.1\r\n\r\n'
	run --separate-stderr -0 timeout 20 "$PEER" -v -R 10 -s "$req" "$SERVER_PORT"
	[ "$output" = "HTTP/1.1 2" ]
	[[ $stderr == *"#1 reset by us after 10 bytes received"* ]]
	[[ ${stderr_lines[-1]} == "peer: sent $(nbytes "$req") bytes, received 10 bytes, reset by us after "* ]]
	run --separate-stderr -0 timeout 20 "$PEER" -e 12 -s "$req" "$SERVER_PORT"
	[ "$output" = "HTTP/1.1 200" ]
	[[ ${stderr_lines[-1]} == "peer: sent $(nbytes "$req") bytes, received 12 bytes, closed by us after "* ]]
}

@test "a reset from the server is reported, with status 4" {
	server_start "$DELAY" 0
	# The request, then junk 100 ms later that delayserver never reads:
	# closing a socket with unread input sends RST instead of FIN.
	local req='GET /300/x HTTP/1.1\r\n\r\n'
	run --separate-stderr -4 timeout 20 "$PEER" -c "$(nbytes "$req")" -d 100 -s "${req}junk" "$SERVER_PORT"
	[[ ${stderr_lines[-1]} == "peer: sent $(nbytes "${req}junk") bytes, received "*" bytes, closed by server (reset) after "* ]]
	at_least "$(after_ms)" 300 5000
}

@test "-n never reads: it holds the connection, and still sees the server close" {
	server_start "$DELAY" 0
	local base
	base=$(fd_count "$SERVER_PID")
	timeout 20 "$PEER" -n -t 1500 "$SERVER_PORT" 2>"$BATS_TEST_TMPDIR/err" &
	local pid=$!
	wait_for 5 fds_are $((base + 1))
	local status=0
	wait "$pid" || status=$?
	[ "$status" -eq 0 ]
	[[ $(<"$BATS_TEST_TMPDIR/err") == "peer: sent 0 bytes, received 0 bytes, still open after 1"???" ms" ]]
	# The server answers and closes; the peer notices without reading.
	local req='GET /100/unread HTTP/1.1\r\n\r\n'
	run --separate-stderr -0 timeout 20 "$PEER" -n -s "$req" "$SERVER_PORT"
	[ -z "$output" ]
	[[ ${stderr_lines[-1]} == "peer: sent $(nbytes "$req") bytes, received 0 bytes, closed by server (eof) after "* ]]
	at_least "$(after_ms)" 100 5000
	grep -q 'answered /100/unread' "$(log_of SERVER)"
}

@test "-C opens all N connections before any of them sends" {
	server_start "$DELAY" 0
	local base err=$BATS_TEST_TMPDIR/err
	base=$(fd_count "$SERVER_PID")
	timeout 20 "$PEER" -C 20 -n -t 2000 -v -s G "$SERVER_PORT" 2>"$err" &
	local pid=$!
	wait_for 5 fds_are $((base + 20))
	local status=0
	wait "$pid" || status=$?
	[ "$status" -eq 0 ]
	[[ $(tail -n1 "$err") =~ ^peer:\ 20\ connections,\ sent\ 20\ bytes,\ received\ 0\ bytes,\ 20\ still\ open\ after\ 2[0-9]{3}\ ms$ ]]
	# In the -v report: 20 "connected" first, then 20 "sent".
	local ev
	mapfile -t ev < <(grep -oE '#[0-9]+ (connected|sent)' "$err" | cut -d' ' -f2)
	[ "${#ev[@]}" -eq 40 ]
	[ "$(printf '%s\n' "${ev[@]:0:20}" | sort -u)" = connected ]
	[ "$(printf '%s\n' "${ev[@]:20}" | sort -u)" = sent ]
}

@test "-C runs the N scripts at the same time" {
	server_start "$DELAY" 0
	# Five requests of 300 ms each: 1.5 s one after another.
	local req='GET /300/x HTTP/1.1\r\n\r\n'
	run --separate-stderr -0 timeout 20 "$PEER" -q -C 5 -s "$req" "$SERVER_PORT"
	[ -z "$output" ]
	local one
	one=$(answer x | wc -c)
	[[ ${stderr_lines[-1]} == "peer: 5 connections, sent $((5 * $(nbytes "$req"))) bytes, received $((5 * one)) bytes, 5 closed by server (eof) after "* ]]
	at_least "$(after_ms)" 300 1200
	[ "$(grep -c 'answered /300/x' "$(log_of SERVER)")" -eq 5 ]
}

@test "-r reads at most SIZE bytes every MS milliseconds" {
	server_start "$DELAY" 0
	local msg
	msg=$(printf '%03000d' 0)
	run --separate-stderr -0 timeout 20 "$PEER" -v -r 500/50 -s "GET /0/$msg HTTP/1.1\r\n\r\n" "$SERVER_PORT"
	[ "$output" = "$(answer "$msg")" ]
	# 3086 bytes, 500 per 50 ms: six full intervals before the last bytes.
	at_least "$(after_ms)" 300 3000
	local line n
	for line in "${stderr_lines[@]}"; do
		[[ $line =~ ^\[.*\ received\ ([0-9]+)\ bytes, ]] || continue
		n=${BASH_REMATCH[1]}
		[ "$n" -le 500 ] || { echo "one read of $n bytes: $line"; return 1; }
	done
}

@test "-t gives up at the deadline with status 3" {
	server_start "$DELAY" 0
	local start=$EPOCHREALTIME
	local req='GET /5000/late HTTP/1.1\r\n\r\n'
	run --separate-stderr -3 timeout 20 "$PEER" -v -t 300 -s "$req" "$SERVER_PORT"
	[ -z "$output" ]
	[[ $stderr == *"#1 timeout"* ]]
	[[ ${stderr_lines[-1]} == "peer: sent $(nbytes "$req") bytes, received 0 bytes, still open after "* ]]
	at_least "$(after_ms)" 300 1000
	at_least "$(awk -v a="$start" -v b="$EPOCHREALTIME" 'BEGIN { printf "%d", (b - a) * 1000 }')" 300 2000
}

@test "a refused connection is status 1, with the reason" {
	server_start "$DELAY" 0
	local port=$SERVER_PORT
	stop SERVER
	run --separate-stderr -1 timeout 20 "$PEER" -s x "$port"
	[[ $stderr == *"peer: #1 connect: Connection refused"* ]]
	[[ ${stderr_lines[-1]} == "peer: sent 0 bytes, received 0 bytes, failed after "* ]]
}

@test "a bad command line gets a usage line and status 2" {
	local args
	for args in "" "0" "65536" "x" "1 2" "-s a -f b 1" "-d 10 1" "-c 0 1" \
		"-x 0 1" "-S 5 -s ab 1" "-S 1 -h -s ab 1" "-R 0 1" "-R 1 -e 1 1" \
		"-n -R 1 1" "-n -r 1/1 1" "-r 5 1" "-r 0/5 1" "-r 5/0 1" \
		"-s \\q 1" "-s \\x4 1" "-C 0 1" "-t 0 1" "-t -5 1" "-z 1" \
		"-o f -q 1"; do
		# shellcheck disable=SC2086 # split on purpose
		run --separate-stderr -2 timeout 10 "$PEER" $args
		[[ ${stderr_lines[-1]} == "usage: peer "* ]] || { echo "$args: $stderr"; return 1; }
		[ -z "$output" ]
	done
}

# common/floor: the measuring stick of `make bench` (not a chapter): one
# read, its request ends counted, their canned answers in one send.

FLOOR=$COMMON/floor

# floor_answer close|keep-alive: the answer floor gives to one request.
floor_answer() {
	printf 'HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n'
	printf 'Content-Length: 5\r\nConnection: %s\r\n\r\nHello' "$1"
}

@test "floor keeps a connection alive and closes on Connection: close" {
	server_start "$FLOOR" 0
	local ka='GET / HTTP/1.1\r\nHost: x\r\n\r\n'
	local cl='GET / HTTP/1.1\r\nHost: x\r\nconnection: Close\r\n\r\n'
	# Two requests in pieces 50 ms apart, the second asking to close.
	run --separate-stderr -0 timeout 20 "$PEER" -c "$(nbytes "$ka")" -d 50 \
		-s "$ka$cl" "$SERVER_PORT"
	[ "$output" = "$(floor_answer keep-alive; floor_answer close)" ]
	[[ ${stderr_lines[-1]} == *"closed by server (eof)"* ]]
	# Without it the connection stays open: the deadline ends it.
	run --separate-stderr -3 timeout 20 "$PEER" -t 500 -s "$ka" "$SERVER_PORT"
	[ "$output" = "$(floor_answer keep-alive)" ]
	[[ ${stderr_lines[-1]} == *"still open after "* ]]
	# A head cut anywhere, even inside \r\n\r\n or the header, still counts.
	run --separate-stderr -0 timeout 20 "$PEER" -c 1 -s "$cl" "$SERVER_PORT"
	[ "$output" = "$(floor_answer close)" ]
	stop SERVER 0
}

@test "strace: floor answers 64 pipelined requests in order, byte-exact, in one send" {
	need_strace
	local trace=$BATS_TEST_TMPDIR/trace out=$BATS_TEST_TMPDIR/out
	spawn_traced "$trace" -e trace=sendto,sendmsg,write,writev -- "$FLOOR" 0
	local ka='GET / HTTP/1.1\r\nHost: x\r\n\r\n'
	local cl='GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n'
	# 63 kept alive and one that closes, in one buffer: one write.
	run --separate-stderr -0 timeout 20 "$PEER" -x 1 \
		-s "$(for _ in $(seq 63); do printf '%s' "$ka"; done)$cl" \
		-o "$out" "$SERVER_PORT"
	{
		for _ in $(seq 63); do floor_answer keep-alive; done
		floor_answer close
	} | cmp - "$out"
	# stop_traced, but floor exits at once: strace may be gone before
	# stop could signal it.
	wait_for 10 tracee_idle
	kill -TERM "$TRACEE_PID"
	TRACEE_PID=
	local status=0
	timeout 10 tail --pid="$SERVER_PID" -f /dev/null
	wait "$SERVER_PID" || status=$?
	SERVER_PID=
	[ "$status" -eq 0 ]
	local sends
	# Socket sends only (writes go to stdout): one for the 64 answers.
	sends=$(grep -cE '^(sendto|sendmsg|writev)\(' "$trace")
	[ "$sends" -eq 1 ] || { cat "$trace"; return 1; }
	grep -qE '^sendto\([0-9]+, "HTTP/1\.1 200 OK.*, '"$(wc -c <"$out")"', MSG_NOSIGNAL' "$trace"
}

@test "floor: a bad command line gets a usage line and status 2" {
	local args
	for args in "x" "1 2" "65536" "-z" "-q 99999" "1x"; do
		# shellcheck disable=SC2086 # split on purpose
		run --separate-stderr -2 timeout 10 "$FLOOR" $args
		[[ ${stderr_lines[-1]} == "usage: floor "* ]] || { echo "$args: $stderr"; return 1; }
	done
}

@test "floor stops on SIGTERM and SIGINT with status 0 and says what it served" {
	local sig status
	for sig in TERM INT; do
		server_start "$FLOOR" 0
		run --separate-stderr -0 timeout 20 "$PEER" -C 3 \
			-s 'GET / HTTP/1.1\r\n\r\nGET / HTTP/1.1\r\nConnection: close\r\n\r\n' \
			"$SERVER_PORT"
		# One connection left open: freed at exit (ASan would say).
		local base
		base=$(fd_count "$SERVER_PID")
		connect_raw fd
		wait_for 5 fds_are $((base + 1))
		if [ "$sig" = TERM ]; then
			stop SERVER 0
		else
			kill -INT "$SERVER_PID"
			status=0
			timeout 10 tail --pid="$SERVER_PID" -f /dev/null
			wait "$SERVER_PID" || status=$?
			SERVER_PID=
			[ "$status" -eq 0 ]
		fi
		exec {fd}>&-
		grep -qx 'floor: 6 requests on 4 connections' "$(log_of SERVER)"
	done
}
