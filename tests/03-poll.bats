#!/usr/bin/env bats
# Chapter 03: a Poll and a Registry. The client fires N requests at the delay
# server (common/delayserver) and prints the responses as they complete.

load helper

BIN=$TOP/chapters/03-poll/client
DELAY=$COMMON/delayserver

# asleep PID: the process is sleeping (state S), which this client only
# does inside epoll_wait.
asleep() {
	[ "$(awk '{ print $3 }' "/proc/$1/stat" 2>/dev/null)" = S ]
}

@test "delayserver answers GET /ms/message with the message after the delay" {
	server_start "$DELAY" 0
	local start=$EPOCHREALTIME
	run -0 http "http://127.0.0.1:$SERVER_PORT/300/hello" -i
	seconds_between "$(elapsed_since "$start")" 0.29 5
	[[ ${lines[0]} == "HTTP/1.1 200 OK"* ]]
	[[ $output == *"Content-Length: 5"* ]]
	[[ $output == *"Connection: close"* ]]
	[ "${lines[-1]}" = hello ]
	grep -q 'answered /300/hello after 300 ms' "$(log_of SERVER)"
}

@test "delayserver answers 400 to a malformed request or a delay over 60 s" {
	server_start "$DELAY" -q 0
	local path
	for path in / /abc/x /-5/x /+5/x /60001/x /99999999999999999999/x /100; do
		run -0 http "http://127.0.0.1:$SERVER_PORT$path" -o /dev/null -w '%{http_code}'
		[ "$output" = 400 ] || { echo "$path: $output"; return 1; }
	done
	run -0 http "http://127.0.0.1:$SERVER_PORT/0/ok"
	[ "$output" = ok ]
}

@test "delayserver serves many connections at once" {
	server_start "$DELAY" -q 0
	local start=$EPOCHREALTIME i pids=()
	# Eight requests of 300 ms: one after another they would take 2.4 s.
	for i in 1 2 3 4 5 6 7 8; do
		http "http://127.0.0.1:$SERVER_PORT/300/r$i" >"$BATS_TEST_TMPDIR/r$i" &
		pids+=($!)
	done
	for i in "${pids[@]}"; do wait "$i"; done
	seconds_between "$(elapsed_since "$start")" 0.29 1.5
	for i in 1 2 3 4 5 6 7 8; do
		[ "$(<"$BATS_TEST_TMPDIR/r$i")" = "r$i" ]
	done
}

@test "the client rejects a bad command line with a usage line and status 2" {
	local args
	for args in "-n 0" "-n 1001" "-n x" "-d -1" "-d 60001" "-p 0" \
		"-p 65536" "-n 100 -d 1000" "-x" "extra"; do
		# shellcheck disable=SC2086 # split on purpose
		run -2 timeout 10 "$BIN" $args
		[[ $output == "usage: client "* || $output == *$'\nusage: client '* ]] ||
			{ echo "$args: $output"; return 1; }
	done
}

@test "responses print in completion order, not sending order" {
	server_start "$DELAY" -q 0
	run -0 timeout 20 "$BIN" -p "$SERVER_PORT" -n 5 -d 200
	[ "${#lines[@]}" -eq 6 ]
	local i
	for i in 0 1 2 3 4; do
		# Request 4 waits 200 ms, request 0 waits 1000 ms.
		[[ ${lines[i]} == "response $((4 - i)) after "*" ms: request-$((4 - i))" ]] ||
			{ echo "line $i: ${lines[i]}"; return 1; }
	done
	[[ ${lines[5]} == "done in "*" ms: 5 answered, 0 failed" ]]
}

@test "the whole run takes about the longest delay, not the sum" {
	server_start "$DELAY" -q 0
	local start=$EPOCHREALTIME
	# Delays of 1000, 800, 600, 400 and 200 ms: 1.0 s at once, 3.0 s in turn.
	run -0 timeout 20 "$BIN" -p "$SERVER_PORT" -n 5 -d 200
	seconds_between "$(elapsed_since "$start")" 0.95 2.0
	[[ ${lines[-1]} == "done in "*": 5 answered, 0 failed" ]]
}

@test "three hundred requests in flight at once are all answered" {
	server_start "$DELAY" -q 0
	# More sockets than one poll_wait returns (64): several batches.
	run -0 timeout 30 "$BIN" -p "$SERVER_PORT" -n 300 -d 0
	[ "$(grep -c '^response ' <<<"$output")" -eq 300 ]
	[ "$(grep -o 'request-[0-9]*$' <<<"$output" | sort -u | wc -l)" -eq 300 ]
	[[ ${lines[-1]} == "done in "*" ms: 300 answered, 0 failed" ]]
}

@test "a refused connection is reported and the client exits 1" {
	# A port that was just ours and is now closed: nobody listens there.
	server_start "$DELAY" -q 0
	local port=$SERVER_PORT
	# (Called in a condition: stop's own `wait` returns 143 on purpose.)
	stop SERVER || return 1
	run -1 timeout 10 "$BIN" -p "$port" -n 2 -d 10
	[[ $output == *"client: request 0: connect: Connection refused"* ]]
	[[ $output == *"client: request 1: connect: Connection refused"* ]]
	[[ $output == *"done in "*" ms: 0 answered, 2 failed"* ]]
}

@test "a registration through a cloned registry wakes a wait already in progress" {
	server_start "$DELAY" -q 0
	# If the event were lost, main would sleep forever: timeout ends it.
	run -0 timeout 20 "$BIN" -T -p "$SERVER_PORT" -n 3 -d 100
	[[ ${lines[0]} == "main: waiting in poll_wait (epoll fd "*"), nothing registered yet" ]]
	# The second thread saw main asleep in the kernel before registering.
	[[ ${lines[1]} == "thread: main is blocked in epoll_wait; registering 3 requests through a clone"* ]]
	[[ ${lines[2]} == *": request-2" ]]
	[[ ${lines[3]} == *": request-1" ]]
	[[ ${lines[4]} == *": request-0" ]]
	[[ ${lines[5]} == "done in "*": 3 answered, 0 failed" ]]
}

@test "strace: the second thread's EPOLL_CTL_ADD lands inside main's epoll_wait" {
	need_strace
	server_start "$DELAY" -q 0
	local trace=$BATS_TEST_TMPDIR/trace
	run -0 traced timeout 30 strace -f -o "$trace" \
		-e trace=fcntl,epoll_ctl,epoll_wait,epoll_pwait \
		"$BIN" -T -p "$SERVER_PORT" -n 2 -d 100
	# The clone is a dup made as mio makes it: close-on-exec, not 0-2.
	grep -qE 'fcntl\([0-9]+, F_DUPFD_CLOEXEC, 3\) += [0-9]+$' "$trace"
	# The first wait (main, nothing registered) is interrupted in the
	# trace by the other thread's ADD, on another descriptor for the same
	# instance (the clone), and only then resumes with an event.
	run -0 awk '
		!wait_line && /epoll_p?wait\(.*<unfinished \.\.\.>/ {
			wait_line = NR; main = $1
			match($0, /wait\([0-9]+/); wait_fd = substr($0, RSTART + 5, RLENGTH - 5)
		}
		wait_line && !add_line && $1 != main && /EPOLL_CTL_ADD/ {
			add_line = NR
			match($0, /epoll_ctl\([0-9]+/); add_fd = substr($0, RSTART + 10, RLENGTH - 10)
		}
		wait_line && !resumed && $1 == main && /<\.\.\. epoll_p?wait resumed>/ { resumed = NR }
		END {
			printf "wait %d (fd %s), add %d (fd %s), resumed %d\n", wait_line, wait_fd, add_line, add_fd, resumed
			exit !(wait_line && add_line > wait_line && resumed > add_line && add_fd != wait_fd)
		}' "$trace"
	echo "$output"
}

@test "strace: the client sleeps in a handful of epoll_wait calls, it does not spin" {
	need_strace
	server_start "$DELAY" -q 0
	local trace=$BATS_TEST_TMPDIR/trace
	run -0 traced timeout 30 strace -f -o "$trace" -e trace=epoll_wait,epoll_pwait \
		"$BIN" -p "$SERVER_PORT" -n 5 -d 200
	local waits
	waits=$(grep -cE 'epoll_p?wait\(' "$trace")
	# One wait for the connections, one per response, a few spares; a
	# loop polling with a zero timeout would make thousands in 1 s.
	[ "$waits" -ge 5 ] && [ "$waits" -le 20 ] || { echo "$waits waits"; cat "$trace"; return 1; }
	# And every wait is a real sleep: no timeout.
	run ! grep -E 'epoll_p?wait\(.*, [0-9]+\) ' "$trace"
}

@test "strace: registered readable|writable edge-triggered, then readable only" {
	need_strace
	server_start "$DELAY" -q 0
	local trace=$BATS_TEST_TMPDIR/trace
	run -0 traced timeout 30 strace -f -o "$trace" -e trace=epoll_ctl \
		"$BIN" -p "$SERVER_PORT" -n 2 -d 50
	# As mio maps interests: READABLE is IN|RDHUP, WRITABLE is OUT, and
	# every registration is edge-triggered. Once sent, only reading is left.
	[ "$(grep -c 'EPOLL_CTL_ADD, [0-9]*, {events=EPOLLIN|EPOLLOUT|EPOLLRDHUP|EPOLLET, data={u32=[01], u64=[01]}}) = 0' "$trace")" -eq 2 ]
	[ "$(grep -c 'EPOLL_CTL_MOD, [0-9]*, {events=EPOLLIN|EPOLLRDHUP|EPOLLET, data={u32=[01], u64=[01]}}) = 0' "$trace")" -eq 2 ]
}

@test "strace: each socket is deregistered before it is closed" {
	need_strace
	server_start "$DELAY" -q 0
	local trace=$BATS_TEST_TMPDIR/trace
	run -0 traced timeout 30 strace -f -o "$trace" -e trace=socket,epoll_ctl,close \
		"$BIN" -p "$SERVER_PORT" -n 3 -d 50
	# For every socket the client opened: one ADD, then one DEL, then close.
	run -0 awk '
		/socket\(AF_INET/ { fd = $NF; open[fd] = 1; n++ }
		/EPOLL_CTL_ADD/ { match($0, /ADD, [0-9]+/); added[substr($0, RSTART + 5, RLENGTH - 5)] = 1 }
		/EPOLL_CTL_DEL/ { match($0, /DEL, [0-9]+/); f = substr($0, RSTART + 5, RLENGTH - 5); if (added[f]) deleted[f] = 1 }
		/close\([0-9]+\)/ {
			match($0, /close\([0-9]+/); f = substr($0, RSTART + 6, RLENGTH - 6)
			if (open[f]) { if (!deleted[f]) { print "closed " f " while registered"; bad = 1 } delete open[f]; done++ }
		}
		END { printf "%d sockets, %d closed after DEL\n", n, done; exit bad || n != 3 || done != 3 }' "$trace"
	echo "$output"
}

@test "strace: EINTR from epoll_wait (a stop and a continue) does not end the client" {
	need_strace
	server_start "$DELAY" -q 0
	local trace=$BATS_TEST_TMPDIR/trace pidfile=$BATS_TEST_TMPDIR/pid
	local out=$BATS_TEST_TMPDIR/out
	# The shell writes its pid, then becomes the client: strace follows it.
	traced timeout 30 strace -o "$trace" -e trace=epoll_wait,epoll_pwait \
		sh -c 'echo $$ >"$1"; exec "$2" -p "$3" -n 1 -d 1000' sh \
		"$pidfile" "$BIN" "$SERVER_PORT" >"$out" 2>&1 3>&- &
	local spid=$! pid i
	wait_for 10 test -s "$pidfile"
	pid=$(<"$pidfile")
	wait_for 10 asleep "$pid"
	# signal(7): epoll_wait fails with EINTR after SIGSTOP and SIGCONT,
	# handler or not. A few times, spaced out, within the 1 s wait.
	for i in 1 2 3 4; do
		kill -STOP "$pid" && kill -CONT "$pid"
		sleep 0.05
	done
	local status=0
	wait "$spid" || status=$?
	[ "$status" -eq 0 ] || { echo "client exited $status"; cat "$out"; return 1; }
	grep -q 'EINTR' "$trace" || { cat "$trace"; return 1; }
	grep -q '^response 0 after [0-9]* ms: request-0$' "$out" || { cat "$out"; return 1; }
	grep -q '^done in [0-9]* ms: 1 answered, 0 failed$' "$out"
}

@test "chapter 03's ffi.h agrees with <sys/epoll.h>" {
	local bin=$BATS_TEST_TMPDIR/ffi_check
	run -0 cc -std=c11 -I "$TOP/chapters/03-poll" -I "$COMMON" \
		"$COMMON/ffi_ours.c" "$COMMON/ffi_check.c" -o "$bin"
	run -0 "$bin"
	[[ $output == *"EPOLLRDHUP"*" ok"* ]]
	[[ $output != *DIFFERENT* ]]
}
