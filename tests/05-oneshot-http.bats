#!/usr/bin/env bats
# Chapter 05: the source post's one-shot HTTP server. Read until the head and
# Content-Length bytes of body are in, switch to write, answer, close.

load helper
load http

DIR=$TOP/chapters/05-oneshot-http
BIN=$DIR/server

# The exact answer, byte for byte.
RESPONSE=$'HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 5\r\nConnection: close\r\n\r\nHello'

# send_raw FD BYTES: write BYTES to FD in one write.
send_raw() {
	printf '%s' "$2" >&"$1"
}

# read_all FD VAR: read FD to the end of the stream (10 s at most) into VAR,
# then close FD.
read_all() {
	local _fd=$1 _data= _status=0
	IFS= read -r -d '' -t 10 -u "$_fd" _data || _status=$?
	exec {_fd}<&-
	[ "$_status" -le 128 ] || { echo "read_all: timed out"; return 1; }
	printf -v "$2" '%s' "$_data"
}

# answered_is N: the server has logged N answers.
answered_is() {
	[ "$(logged '^answered from request ')" -eq "$1" ]
}

# turns_above N: the server has logged more than N loop turns.
turns_above() {
	[ "$(turns)" -gt "$1" ]
}

# upload FILE [CURL ARGS...]: POST FILE as multipart form data (curl -F);
# prints the body and then " Total: SECONDS", as in the post.
upload() {
	local file=$1
	shift
	curl -sS --max-time 10 "$@" -F "file=@$file" \
		-w ' Total: %{time_total}\n' "http://127.0.0.1:$SERVER_PORT/upload"
}

@test "a bad command line gets a usage line and status 2" {
	refuses_with_usage "usage: server [-q] [PORT]" -x abc 65536 "8000 9000"
}

@test "a GET gets exactly the response bytes: status line, headers, CRLF, Hello" {
	server_start "$BIN" 0
	local fd resp
	connect_raw fd
	send_raw "$fd" $'GET / HTTP/1.1\r\nHost: x\r\n\r\n'
	read_all "$fd" resp
	[ "$resp" = "$RESPONSE" ] || { printf '%q\n' "$resp"; return 1; }
	# The log of one request, in the post's words.
	grep -qx 'new client: 127.0.0.1:[0-9]*' "$(log_of SERVER)"
	grep -qx 'got all data: 27 bytes' "$(log_of SERVER)"
	wait_for 10 log_has 'answered from request 101'
}

@test "curl gets Hello with Content-Length and Connection: close" {
	server_start "$BIN" 0
	run -0 http "http://127.0.0.1:$SERVER_PORT/" -i
	[ "${lines[0]}" = $'HTTP/1.1 200 OK\r' ]
	[[ $output == *$'\r\nContent-Length: 5\r\n'* ]]
	[[ $output == *$'\r\nConnection: close\r\n'* ]]
	[ "${lines[-1]}" = Hello ]
}

@test "-q silences every per-request line" {
	server_start "$BIN" -q 0
	big "$BATS_TEST_TMPDIR/big" 1
	run -0 http "http://127.0.0.1:$SERVER_PORT/"
	[ "$output" = Hello ]
	run -0 upload "$BATS_TEST_TMPDIR/big" -H 'Expect:'
	[[ $output == "Hello Total: "* ]]
	run -0 cat "$(log_of SERVER)"
	[ "$output" = "listening on 127.0.0.1:$SERVER_PORT" ]
}

@test "a 5 MB upload is read whole before the answer" {
	server_start "$BIN" 0
	local file=$BATS_TEST_TMPDIR/big size got
	big "$file" 5
	size=$(stat -c %s "$file")
	run -0 upload "$file" -H 'Expect:'
	[[ $output == "Hello Total: "* ]]
	wait_for 10 answered_is 1
	# The request is the file plus multipart framing plus the head.
	got=$(sed -n 's/^got all data: \([0-9]*\) bytes$/\1/p' "$(log_of SERVER)")
	[ -n "$got" ] && [ "$got" -ge "$size" ] || { echo "got '$got', file $size"; return 1; }
	# All of it came in before the answer went out.
	run -0 grep -nE '^(got all data|answered from request)' "$(log_of SERVER)"
	[[ ${lines[0]} == *"got all data: $got bytes" ]]
	[[ ${lines[1]} == *"answered from request 101" ]]
	# One read per event: a loop turn per 4 KB at least.
	[ "$(turns)" -ge $((size / 4096)) ]
}

@test "a request split across several writes is answered only when complete" {
	server_start "$BIN" 0
	local fd resp n
	local head=$'POST /x HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\n\r\n'
	connect_raw fd
	# Each piece is sent once the server has handled the one before (a
	# new loop turn in its log), so every piece is a separate read. The
	# head is cut inside the header's name and inside the final CRLF CRLF.
	for piece in "${head:0:30}" "${head:30:16}" "${head:46}" 01234; do
		n=$(turns)
		send_raw "$fd" "$piece"
		wait_for 10 turns_above "$n"
	done
	# The head (49 bytes) is longer than Content-Length (10): comparing
	# the whole request with it, as the post does, would answer here.
	[ "$(logged '^got all data')" -eq 0 ]
	send_raw "$fd" 56789
	read_all "$fd" resp
	[ "$resp" = "$RESPONSE" ]
	grep -qx "got all data: $((${#head} + 10)) bytes" "$(log_of SERVER)"
}

@test "six 5 MB uploads in parallel all complete, with several requests in flight" {
	server_start "$BIN" 0
	local file=$BATS_TEST_TMPDIR/big size i start=$EPOCHREALTIME pids=()
	big "$file" 5
	size=$(stat -c %s "$file")
	# With curl's Expect: 100-continue each upload takes over a second;
	# one after another, six would take over six.
	for i in 1 2 3 4 5 6; do
		upload "$file" >"$BATS_TEST_TMPDIR/out$i" &
		pids+=($!)
	done
	for i in "${pids[@]}"; do wait "$i"; done
	seconds_between "$(elapsed_since "$start")" 0.9 4
	for i in 1 2 3 4 5 6; do
		[[ $(<"$BATS_TEST_TMPDIR/out$i") == "Hello Total: "* ]] || { echo "upload $i"; return 1; }
	done
	wait_for 10 answered_is 6
	run -0 sed -n 's/^got all data: \([0-9]*\) bytes$/\1/p' "$(log_of SERVER)"
	[ "${#lines[@]}" -eq 6 ]
	for i in "${lines[@]}"; do [ "$i" -ge "$size" ]; done
	run -0 sed -n 's/^requests in flight: //p' "$(log_of SERVER)"
	local most
	most=$(sort -n <<<"$output" | tail -n 1)
	echo "at most $most requests in flight"
	[ "$most" -gt 1 ]
}

@test "an upload with Expect: 100-continue waits out curl's one-second timer" {
	server_start "$BIN" 0
	big "$BATS_TEST_TMPDIR/big" 5
	# curl asks before sending a large body and waits up to a second for
	# "100 Continue"; this server never says it, so curl sends anyway.
	run -0 upload "$BATS_TEST_TMPDIR/big" --expect100-timeout 1 -v
	[[ $output == *"> Expect: 100-continue"* ]]
	[[ ${lines[-1]} == "Hello Total: "* ]]
	seconds_between "${lines[-1]#Hello Total: }" 0.9 5
}

@test "without Expect each upload finishes well under a second" {
	server_start "$BIN" -q 0
	big "$BATS_TEST_TMPDIR/big" 5
	local i
	for i in 1 2 3; do
		run -0 upload "$BATS_TEST_TMPDIR/big" -H 'Expect:'
		[[ $output == "Hello Total: "* ]]
		seconds_between "${output#Hello Total: }" 0 0.5
	done
}

@test "a client that disconnects mid-upload does not end the server" {
	server_start "$BIN" 0
	local base
	base=$(fd_count "$SERVER_PID")
	big "$BATS_TEST_TMPDIR/big" 5
	# At 1 MB/s for half a second: curl gives up with about 10% sent.
	run -28 upload "$BATS_TEST_TMPDIR/big" -H 'Expect:' --limit-rate 1M --max-time 0.5
	wait_for 10 fds_are "$base"
	grep -qE '^127\.0\.0\.1:[0-9]+: left after [0-9]+ bytes of a request$' "$(log_of SERVER)"
	[ "$(logged '^got all data')" -eq 0 ]
	run -0 http "http://127.0.0.1:$SERVER_PORT/"
	[ "$output" = Hello ]
}

@test "a request followed by a half-close is still answered" {
	server_start "$BIN" 0
	# The client sends its whole request and shuts down its sending side
	# (FIN): the server still has someone to answer.
	run -0 --separate-stderr timeout 20 "$COMMON/peer" -h \
		-s 'POST / HTTP/1.1\r\nContent-Length: 3\r\n\r\nabc' "$SERVER_PORT"
	[ "$output" = "$RESPONSE" ]
	[[ $stderr == *"closed by server (eof)"* ]]
	wait_for 10 log_has 'answered from request 101'
}

@test "a client that resets mid-request is closed, and the next one served" {
	server_start "$BIN" 0
	local base req=$'POST / HTTP/1.1\r\nContent-Length: 30\r\n\r\nab'
	base=$(fd_count "$SERVER_PID")
	# Two of the thirty body bytes, then a reset (SO_LINGER 0, close). The
	# error event (or the failed read) must close the connection: under
	# one-shot, nothing would ever look at it again.
	run -0 --separate-stderr timeout 20 "$COMMON/peer" \
		-s "${req//$'\r\n'/\\r\\n}" -S ${#req} "$SERVER_PORT"
	[[ $stderr == *"reset by us"* ]]
	wait_for 10 fds_are "$base"
	grep -qE '^127\.0\.0\.1:[0-9]+: (socket|recv): Connection reset by peer$' "$(log_of SERVER)"
	run -0 http "http://127.0.0.1:$SERVER_PORT/"
	[ "$output" = Hello ]
}

@test "a Content-Length that is not a number closes that connection only" {
	server_start "$BIN" 0
	local fd resp
	connect_raw fd
	send_raw "$fd" $'POST / HTTP/1.1\r\nContent-Length: ten\r\n\r\n'
	read_all "$fd" resp
	[ -z "$resp" ]
	grep -qE '^127\.0\.0\.1:[0-9]+: bad Content-Length; closing$' "$(log_of SERVER)"
	run -0 http "http://127.0.0.1:$SERVER_PORT/"
	[ "$output" = Hello ]
}

@test "the server's descriptors are back to the baseline after all clients are done" {
	server_start "$BIN" -q 0
	local base fd i pids=()
	base=$(fd_count "$SERVER_PID")
	big "$BATS_TEST_TMPDIR/big" 1
	for i in 1 2 3; do
		upload "$BATS_TEST_TMPDIR/big" -H 'Expect:' >/dev/null &
		pids+=($!)
	done
	for i in $(seq 20); do
		http "http://127.0.0.1:$SERVER_PORT/" >/dev/null &
		pids+=($!)
	done
	# And clients that leave silent, or in the middle of a head.
	connect_raw fd
	exec {fd}<&-
	connect_raw fd
	send_raw "$fd" $'GET / HTTP/1.1\r\nHo'
	exec {fd}<&-
	for i in "${pids[@]}"; do wait "$i"; done
	wait_for 10 fds_are "$base"
}

@test "bare LF line ends never complete a request (a shortcut chapter 06 fixes)" {
	server_start "$BIN" 0
	local fd n base
	base=$(fd_count "$SERVER_PID")
	connect_raw fd
	n=$(turns)
	send_raw "$fd" $'GET / HTTP/1.1\nHost: x\n\n'
	wait_for 10 turns_above "$n"
	# Read, kept, still waiting for a CRLF CRLF that will never come.
	[ "$(logged '^got all data')" -eq 0 ]
	fds_are $((base + 1))
	exec {fd}<&-
	wait_for 10 fds_are "$base"
}

@test "strace: one request, syscall by syscall" {
	need_strace
	local trace=$BATS_TEST_TMPDIR/trace
	spawn_traced "$trace" -e trace=epoll_wait,epoll_pwait,accept4,epoll_ctl,recvfrom,sendto,shutdown,close -- "$BIN" -q 0
	run -0 http "http://127.0.0.1:$SERVER_PORT/"
	[ "$output" = Hello ]
	stop_traced || return 1
	local ev='\{events=([A-Z|]+), data=\{u32=[0-9]+, u64=([0-9]+)\}\}'
	run -0 sed -nE \
		-e "s/^epoll_p?wait\([0-9]+, \[$ev\], .* += 1$/wait \2 \1/p" \
		-e 's/^accept4\(.*, SOCK_CLOEXEC\|SOCK_NONBLOCK\) += [0-9]+$/accept4/p' \
		-e "s/^epoll_ctl\([0-9]+, EPOLL_CTL_(ADD|MOD), [0-9]+, $ev\) += 0$/\1 \3 \2/p" \
		-e 's/^epoll_ctl\([0-9]+, EPOLL_CTL_DEL, [0-9]+, NULL\) += 0$/DEL/p' \
		-e 's/^recvfrom\([0-9]+, .*, 4096, 0, NULL, NULL\) += [0-9]+$/recvfrom/p' \
		-e 's/^sendto\([0-9]+, .*, 88, MSG_NOSIGNAL, NULL, 0\) += 88$/sendto 88 MSG_NOSIGNAL/p' \
		-e 's/^shutdown\([0-9]+, SHUT_RDWR\) += 0$/shutdown/p' \
		-e 's/^close\([0-9]+\) += 0$/close/p' \
		"$trace"
	# From the listener's registration on (earlier closes are the shell's
	# and the dynamic loader's).
	diff -u - <(printf '%s\n' "${lines[@]}" | sed -n '/^ADD 100 /,$p') <<'EOF'
ADD 100 EPOLLIN|EPOLLRDHUP|EPOLLONESHOT|EPOLLET
wait 100 EPOLLIN
accept4
ADD 101 EPOLLIN|EPOLLRDHUP|EPOLLONESHOT|EPOLLET
MOD 100 EPOLLIN|EPOLLRDHUP|EPOLLONESHOT|EPOLLET
wait 101 EPOLLIN
recvfrom
MOD 101 EPOLLOUT|EPOLLONESHOT|EPOLLET
wait 101 EPOLLOUT
sendto 88 MSG_NOSIGNAL
shutdown
DEL
close
EOF
}
